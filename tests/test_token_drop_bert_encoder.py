"""Tests of TokenDropBertEncoder against BertEncoderV2."""

import numpy as np
import tensorflow as tf
import tf_keras

from official.modeling.optimization import lamb
from official.nlp import optimization
from official.nlp.modeling import models
from official.nlp.modeling import networks
from official_td.configs import pretraining
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm
from tests import testing_utils as tu


def make_pair(**drop_kwargs):
  """A token-drop encoder and a BertEncoderV2 holding the same weights."""
  kwargs = dict(keep_k=6, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
                output_drop_indices=True)
  kwargs.update(drop_kwargs)
  encoder = TokenDropBertEncoder(**tu.TINY_ENCODER, **kwargs)
  plain = networks.BertEncoderV2(**tu.TINY_ENCODER)
  features = tu.encoder_inputs(tu.batch(num_real=12))
  encoder(features)
  plain(features)
  plain.set_weights(encoder.get_weights())
  return encoder, plain


def attention_mask(query_len, key_mask):
  return np.repeat(key_mask[None, :], query_len, 0)[None].astype(np.float32)


def reference_forward(plain, features, kept_idx, start, end):
  """The schedule computed sequence by sequence, from the plain encoder.

  Uses the plain encoder's embedding and block layers but builds the gathers,
  masks and restore with numpy indexing, one sequence at a time.
  """
  outputs = plain(features, training=False)
  embeddings = plain._embedding_norm_layer(plain._get_embeddings(
      features['input_word_ids'], features['input_type_ids'], None, None,
      None)).numpy()
  layers = plain.transformer_layers
  results = []
  for b in range(embeddings.shape[0]):
    mask = features['input_mask'].numpy()[b]
    kept = kept_idx[b]
    s = len(mask)
    x = embeddings[b:b + 1]
    for layer in layers[:start]:
      x = layer([x, attention_mask(s, mask)]).numpy()
    restored = x.copy()
    h = layer_out = layers[start]([x[:, kept], x, attention_mask(len(kept),
                                                                 mask)])
    for layer in layers[start + 1:end]:
      h = layer([h, attention_mask(len(kept), mask[kept])])
    restored[0, kept] = h.numpy()[0]
    x = restored
    for layer in layers[end:]:
      x = layer([x, attention_mask(s, mask)]).numpy()
    results.append(x[0])
    del layer_out
  return np.stack(results), outputs


class TokenDropBertEncoderTest(tu.TestCase):

  def test_equals_bert_encoder_v2_without_dropping(self):
    encoder, plain = make_pair()
    features = tu.encoder_inputs(tu.batch(num_real=10, seed=3))
    expected = plain(features)
    for training in (None, False):
      got = encoder(features, training=training)
      self.assertAllClose(got['sequence_output'], expected['sequence_output'],
                          atol=1e-6)
      self.assertAllClose(got['pooled_output'], expected['pooled_output'],
                          atol=1e-6)
      for a, b in zip(got['encoder_outputs'], expected['encoder_outputs']):
        self.assertAllClose(a, b, atol=1e-6)
      self.assertNotIn('kept_indices', got)

  def test_dropping_matches_independent_schedule(self):
    for start, end in ((1, 3), (0, 3), (2, 3), (0, 1)):
      encoder, plain = make_pair(drop_start_layer=start, drop_end_layer=end)
      features = tu.encoder_inputs(tu.batch(num_real=12, seed=start))
      features['drop_seed'] = tf.range(4)
      got = encoder(features, training=True)
      kept = got['kept_indices'].numpy()
      self.assertEqual(kept.shape, (4, 6))
      expected, plain_out = reference_forward(plain, features, kept, start,
                                              end)
      self.assertAllClose(got['sequence_output'], expected, atol=1e-5)
      # And dropping changed the result.
      self.assertGreater(
          np.abs(got['sequence_output'] - plain_out['sequence_output']).max(),
          1e-3)

  def test_dropped_positions_skip_exactly_the_window(self):
    encoder, _ = make_pair(drop_start_layer=1, drop_end_layer=3)
    features = tu.encoder_inputs(tu.batch(num_real=12, seed=4))
    got = encoder(features, training=True)
    outs = [o.numpy() for o in got['encoder_outputs']]
    dropped = got['dropped_indices'].numpy()
    kept = got['kept_indices'].numpy()
    for b in range(4):
      entering = outs[0][b, dropped[b]]  # output of layer 0 = input of 1.
      for i in (1, 2):  # the window's layers leave dropped tokens alone.
        self.assertAllEqual(outs[i][b, dropped[b]], entering)
        self.assertGreater(
            np.abs(outs[i][b, kept[b]] - outs[i - 1][b, kept[b]]).max(), 1e-4)
      # Layer 3 (full) changes every position.
      self.assertGreater(
          np.abs(outs[3][b, dropped[b]] - entering).min(), 0.0)

  def test_kept_tokens_respect_specials_and_padding(self):
    encoder, _ = make_pair(keep_k=8)
    features = tu.batch(num_real=10, seed=5)
    got = encoder(tu.encoder_inputs(features), training=True)
    ids = features['input_word_ids'].numpy()
    for b, kept in enumerate(got['kept_indices'].numpy()):
      self.assertTrue(np.all(kept < 10), kept)  # no padding while real fit.
      specials = np.where(np.isin(ids[b], tu.ALLOW_IDS))[0]
      self.assertTrue(set(specials) <= set(kept), (specials, kept))

  def test_keep_ratio_and_drop_at_eval(self):
    encoder, _ = make_pair(keep_k=None, keep_ratio=0.25, drop_at_eval=True)
    got = encoder(tu.encoder_inputs(tu.batch()))
    self.assertEqual(got['kept_indices'].shape, (4, 4))

  def test_checkpoint_round_trips_with_bert_encoder_v2(self):
    encoder, plain = make_pair()
    fresh_plain = networks.BertEncoderV2(**tu.TINY_ENCODER)
    fresh_drop = TokenDropBertEncoder(keep_k=6, **tu.TINY_ENCODER)
    features = tu.encoder_inputs(tu.batch())
    fresh_plain(features)
    fresh_drop(features)
    tmp = self.get_temp_dir()
    path = tf.train.Checkpoint(encoder=encoder).write(tmp + '/drop')
    tf.train.Checkpoint(encoder=fresh_plain).read(path).assert_consumed()
    self.assertAllClose(fresh_plain(features)['sequence_output'],
                        encoder(features)['sequence_output'])
    path = tf.train.Checkpoint(encoder=fresh_plain).write(tmp + '/plain')
    tf.train.Checkpoint(encoder=fresh_drop).read(path).assert_consumed()
    self.assertAllClose(fresh_drop(features)['sequence_output'],
                        plain(features)['sequence_output'])
    self.assertNotIn('importance',
                     ' '.join(v.name for v in encoder.variables))

  def test_config_round_trip(self):
    encoder, _ = make_pair()
    tu.assert_config_round_trip(self, encoder)

  def test_plugs_into_bert_pretrainer_v2(self):
    encoder, _ = make_pair()
    model = models.BertPretrainerV2(encoder)
    features = tu.batch()
    out = model(masked_lm.model_inputs(features), training=True)
    self.assertEqual(out['mlm_logits'].shape, (4, 4, 60))
    self.assertEqual(out['kept_indices'].shape, (4, 6))

  def test_jit_compiled_train_step_equals_eager_step(self):
    results = []
    for jit in (True, False):
      tf_keras.utils.set_random_seed(0)
      encoder, _ = make_pair()
      model = models.BertPretrainerV2(encoder)
      optimizer = tf_keras.optimizers.legacy.SGD(0.1)
      step = tf.function(
          lambda f, m=model, o=optimizer, e=encoder: masked_lm.train_step(
              m, o, f, e.importance), jit_compile=jit, autograph=False)
      features = tu.batch(seed=7)
      features['drop_seed'] = tf.range(4)
      loss = step(features)['loss']
      results.append((loss.numpy(), encoder.importance.table.numpy(),
                      model.get_weights()[3]))
    self.assertAllClose(results[0][0], results[1][0], atol=1e-5)
    self.assertAllClose(results[0][1], results[1][1], atol=1e-5)
    self.assertAllClose(results[0][2], results[1][2], atol=1e-5)
    self.assertLess(results[0][1].min(), 10.0)  # the table was updated.

  def test_masked_lm_step_leaves_padded_prediction_slots_out_of_the_table(
      self):
    """The step (not the layer) passes the slots' weights to the table: a
    padded slot (weight 0; [PAD] or any id) trains no score. Model Garden's
    task passes unweighted losses, which this test refuses."""
    encoder, _ = make_pair(keep_k=10)
    model = models.BertPretrainerV2(encoder)
    features = tu.batch(seed=8, predictions=4)
    ids = features['masked_lm_ids'].numpy()
    weights = np.ones_like(ids, np.float32)
    # The last two slots of every sequence are padding: id 0 ([PAD]) in the
    # first sequences, an id seen nowhere else in the others.
    weights[:, 2:] = 0.0
    unseen = next(i for i in range(5, 60) if i not in ids[:, :2])
    ids[:2, 2:] = tu.PAD
    ids[2:, 2:] = unseen
    features['masked_lm_ids'] = tf.constant(ids)
    features['masked_lm_weights'] = tf.constant(weights)
    # The slot losses the step will see (dropout 0, seeded selection).
    logits = model(masked_lm.model_inputs(features), training=True)[
        'mlm_logits'].numpy()
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    losses = -np.take_along_axis(log_probs, ids[..., None], -1)[..., 0]
    expected = np.full(60, 10.0, np.float32)
    beta = encoder.importance.beta
    for token in np.unique(ids[weights > 0]):
      mean = losses[(ids == token) & (weights > 0)].mean()
      expected[token] = beta * 10.0 + (1 - beta) * mean
    masked_lm.train_step(model, tf_keras.optimizers.legacy.SGD(0.0), features,
                         encoder.importance)
    table = encoder.importance.table.numpy()
    self.assertEqual(table[tu.PAD], 10.0)
    self.assertEqual(table[unseen], 10.0)
    self.assertAllClose(table, expected, atol=1e-5)
    self.assertLess(table.min(), 10.0)

  def test_mixed_bfloat16_train_step(self):
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
      encoder, _ = make_pair()
      model = models.BertPretrainerV2(encoder)
      optimizer = tf_keras.optimizers.legacy.Adam(1e-3)
      step = tf.function(lambda f: masked_lm.train_step(
          model, optimizer, f, encoder.importance), autograph=False)
      features = tu.batch()
      encoder(tu.encoder_inputs(features), training=True)
      block = encoder.transformer_layers[2]
      self.assertEqual(block.compute_dtype, 'bfloat16')
      self.assertEqual(block.trainable_weights[0].dtype, tf.float32)
      losses = [float(step(features)['loss']) for _ in range(5)]
      self.assertTrue(np.isfinite(losses).all())
      self.assertLess(losses[-1], losses[0])
      self.assertEqual(encoder.importance.table.dtype, tf.float32)
    finally:
      tf_keras.mixed_precision.set_global_policy('float32')


class LossScalingTest(tu.TestCase):
  """mixed_float16: dynamic loss scaling in the pretraining step."""

  def setUp(self):
    super().setUp()
    tf_keras.mixed_precision.set_global_policy('mixed_float16')
    self.addCleanup(tf_keras.mixed_precision.set_global_policy, 'float32')

  def make(self, optimizer):
    tf_keras.utils.set_random_seed(3)
    encoder = TokenDropBertEncoder(keep_k=6, **tu.TINY_ENCODER)
    model = models.BertPretrainerV2(encoder)
    features = tu.batch(seed=5)
    # Prediction weights of 1e-6: the mean loss is ~1e-5, so the gradients
    # flowing back through the float16 activations are far below float16's
    # smallest subnormal (6e-8) unless the loss is scaled.
    features['masked_lm_weights'] = features['masked_lm_weights'] * 1e-6
    model(masked_lm.model_inputs(features))
    step = tf.function(lambda f: masked_lm.train_step(
        model, optimizer, f, encoder.importance), autograph=False)
    return encoder, model, step, features

  def biases(self, model):
    # Biases get no weight decay: they move only if their gradient is != 0.
    return {v.name: v.numpy() for v in model.trainable_variables
            if 'bias' in v.name and 'pooler' not in v.name}

  def test_tiny_loss_still_trains_with_loss_scaling(self):
    moved = {}
    for scaled in (False, True):
      optimizer = optimization.create_optimizer(1e-3, 100, 0)
      if scaled:
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
      _, model, step, features = self.make(optimizer)
      before = self.biases(model)
      step(features)
      after = self.biases(model)
      moved[scaled] = sum(np.any(before[k] != after[k]) for k in before)
    total = len(before)
    # Unscaled, the float16 gradients of the encoder underflow to zero...
    self.assertLess(moved[False], total // 2)
    # ... scaled, every bias receives a gradient.
    self.assertEqual(moved[True], total)

  def test_overflowing_step_is_skipped_and_table_untouched(self):
    optimizer = tf_keras.mixed_precision.LossScaleOptimizer(
        optimization.create_optimizer(1e-3, 100, 0), initial_scale=2.0**40)
    encoder, model, step, features = self.make(optimizer)
    features['masked_lm_weights'] = tf.ones_like(
        features['masked_lm_weights'])
    weights = [w.copy() for w in model.get_weights()]
    table = encoder.importance.table.numpy().copy()
    step(features)  # 2**40 * loss overflows float16 gradients.
    for before, after in zip(weights, model.get_weights()):
      self.assertAllEqual(before, after)
    self.assertAllEqual(table, encoder.importance.table.numpy())
    self.assertLess(float(optimizer.loss_scale), 2.0**40)
    # Once the scale has come down, steps apply and the table learns.
    for _ in range(30):
      step(features)
    self.assertLess(encoder.importance.table.numpy().min(), 10.0)
    self.assertTrue(any(np.any(b != a) for b, a in
                        zip(weights, model.get_weights())))


class DistributedTest(tu.TestCase):

  def test_two_replicas_with_unequal_weights_train_the_one_device_step(self):
    features = tu.batch(batch_size=8, seed=9)
    # Replica 0's half of the batch has 16 prediction weights, replica 1's
    # 4: a per-replica mean loss (averaged over replicas) would weigh replica
    # 1's predictions 4x too much. The loss must divide by the global sum.
    weights = np.ones((8, 4), np.float32)
    weights[4:, 1:] = 0.0
    features['masked_lm_weights'] = tf.constant(weights)
    # The same id appears in both replicas' halves with different losses.
    tables, trained, initial = {}, {}, None
    for name, strategy in (
        ('single', tf.distribute.OneDeviceStrategy('/cpu:0')),
        ('mirrored', tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))):
      with strategy.scope():
        encoder = TokenDropBertEncoder(keep_k=6, **tu.TINY_ENCODER)
        model = models.BertPretrainerV2(encoder)
        optimizer = tf_keras.optimizers.legacy.SGD(0.1)
        model(masked_lm.model_inputs(features))  # builds the MLM head too.
        if initial is None:
          initial = model.get_weights()
        model.set_weights(initial)  # both runs start from the same weights.
        start = [v.numpy() for v in masked_lm.trained_variables(model)]

      @tf.function(autograph=False)  # as the trainer's loop.
      def step(dist_features, model=model, optimizer=optimizer,
               encoder=encoder, strategy=strategy):
        return strategy.run(
            lambda f: masked_lm.train_step(model, optimizer, f,
                                           encoder.importance,
                                           gradient_clip_norm=0.0),
            args=(dist_features,))

      dataset = tf.data.Dataset.from_tensors(features)
      dist = next(iter(strategy.experimental_distribute_dataset(dataset)))
      step(dist)
      step(dist)
      variable = encoder.importance.table
      tables[name] = [v.numpy() for v in getattr(variable, 'values',
                                                 [variable])]
      trained[name] = [v.numpy() for v in masked_lm.trained_variables(model)]
    self.assertLen(tables['mirrored'], 2)
    self.assertAllEqual(tables['mirrored'][0], tables['mirrored'][1])
    self.assertAllClose(tables['mirrored'][0], tables['single'][0],
                        atol=1e-5)
    self.assertLess(tables['single'][0].min(), 10.0)
    # Every trained variable (encoder and MLM head) took the same steps.
    self.assertLen(trained['single'], len(model.trainable_variables) - 2)
    moved = 0
    for before, one, two in zip(start, trained['single'],
                                trained['mirrored']):
      self.assertAllClose(one, two, atol=1e-6)
      moved += not np.allclose(before, one)
    self.assertGreater(moved, len(trained['single']) // 2)


class RandomLtdTest(tu.TestCase):
  """DeepSpeed's random-LTD as `drop_mode='random_ltd'`: every middle layer
  on its own random tokens."""

  def test_equals_an_independent_layer_by_layer_schedule(self):
    encoder, plain = make_pair(drop_mode='random_ltd')
    features = tu.encoder_inputs(tu.batch(num_real=12, seed=11))
    features['drop_seed'] = tf.range(4) + 7
    got = encoder(features, training=True)
    kept = got['kept_indices'].numpy()
    self.assertEqual(kept.shape, (4, 2, 6))  # 4 layers: 2 middle ones.
    embeddings = plain._embedding_norm_layer(plain._get_embeddings(
        features['input_word_ids'], features['input_type_ids'], None, None,
        None)).numpy()
    layers = plain.transformer_layers
    for b in range(4):
      mask = features['input_mask'].numpy()[b]
      x = layers[0]([embeddings[b:b + 1], attention_mask(16, mask)]).numpy()
      for i in (1, 2):
        rows = kept[b, i - 1]
        x[0, rows] = layers[i]([x[:, rows], attention_mask(
            len(rows), mask[rows])]).numpy()[0]
      x = layers[3]([x, attention_mask(16, mask)]).numpy()
      self.assertAllClose(got['sequence_output'][b], x[0], atol=1e-5)
    # Seeded: the same seeds choose the same tokens again.
    again = encoder(features, training=True)['kept_indices'].numpy()
    self.assertAllEqual(again, kept)

  def test_each_layer_draws_its_own_uniform_positions(self):
    encoder, _ = make_pair(drop_mode='random_ltd')
    features = tu.encoder_inputs(tu.batch(batch_size=64, num_real=12,
                                          seed=12))
    features['drop_seed'] = tf.range(64)
    kept = encoder(features, training=True)['kept_indices'].numpy()
    # The two middle layers choose differently (for most sequences) ...
    self.assertGreater(np.mean([not np.array_equal(k[0], k[1])
                                for k in kept]), 0.9)
    # ... and uniformly: no special-token, padding or position preference.
    counts = np.bincount(kept.ravel(), minlength=16)  # 128 draws of 6 of 16.
    self.assertLen(counts, 16)
    expected = 64 * 2 * 6 / 16  # 48 per position, sd about 5.5.
    self.assertTrue(np.all(np.abs(counts - expected) < 20), counts)

  def test_has_no_table_and_refuses_a_window(self):
    encoder, _ = make_pair(drop_mode='random_ltd')
    self.assertIsNone(encoder.importance)
    with self.assertRaisesRegex(ValueError, 'leave drop_start_layer'):
      make_pair(drop_mode='random_ltd', drop_start_layer=1)
    with self.assertRaisesRegex(ValueError, "drop_mode='ltd': use one of"):
      make_pair(drop_mode='ltd')

  def test_a_train_step_without_a_table(self):
    encoder, _ = make_pair(drop_mode='random_ltd')
    model = models.BertPretrainerV2(encoder)
    features = tu.batch(seed=13)
    before = model.get_weights()
    metrics = masked_lm.train_step(model, tf_keras.optimizers.legacy.SGD(0.1),
                                   features, encoder.importance)
    self.assertTrue(np.isfinite(metrics['loss'].numpy()))
    self.assertFalse(all(np.allclose(a, b) for a, b in
                         zip(before, model.get_weights())))


class LambTest(tu.TestCase):

  def test_lamb_on_two_replicas_is_model_gardens_lamb_on_one_device(self):
    """optimizer.type = 'lamb' trains two replicas as the Model Garden's
    LAMB, built here directly with BERT's weight-decay exclusions, trains
    the same variables on one device."""
    features = tu.batch(batch_size=8, seed=10)
    config = pretraining.OptimizerConfig(type='lamb', learning_rate=1e-2,
                                         warmup_steps=2)
    trained, initial = {}, None
    for name, strategy in (
        ('ours', tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])),
        ('model_garden', tf.distribute.OneDeviceStrategy('/cpu:0'))):
      with strategy.scope():
        encoder = TokenDropBertEncoder(keep_k=6, **tu.TINY_ENCODER)
        model = models.BertPretrainerV2(encoder)
        model(masked_lm.model_inputs(features))
        if initial is None:
          initial = model.get_weights()
        model.set_weights(initial)
        if name == 'ours':
          optimizer = pretraining.build_optimizer(config, train_steps=10)
          self.assertIsInstance(optimizer, lamb.LAMB)
        else:
          schedule = optimization.WarmUp(
              1e-2, tf_keras.optimizers.schedules.PolynomialDecay(
                  1e-2, 10, 0.0), 2)
          optimizer = lamb.LAMB(
              learning_rate=schedule, weight_decay_rate=0.01, beta_1=0.9,
              beta_2=0.999, epsilon=1e-6,
              exclude_from_weight_decay=['LayerNorm', 'layer_norm', 'bias'])

      @tf.function(autograph=False)  # as the trainer's loop.
      def step(dist_features, model=model, optimizer=optimizer,
               encoder=encoder, strategy=strategy):
        return strategy.run(
            lambda f: masked_lm.train_step(model, optimizer, f,
                                           encoder.importance),
            args=(dist_features,))

      dataset = tf.data.Dataset.from_tensors(features)
      dist = next(iter(strategy.experimental_distribute_dataset(dataset)))
      for _ in range(3):
        step(dist)
      trained[name] = [v.numpy() for v in masked_lm.trained_variables(model)]
    start = dict(zip([v.name for v in model.weights], initial))
    self.assertLen(trained['ours'], len(model.trainable_variables) - 2)
    moved = 0
    for variable, ours, theirs in zip(masked_lm.trained_variables(model),
                                      trained['ours'],
                                      trained['model_garden']):
      self.assertAllClose(ours, theirs, atol=2e-5, msg=variable.name)
      moved += not np.allclose(ours, start[variable.name])
    # (An attention key's bias gets no gradient: the softmax cancels it.)
    self.assertGreater(moved, len(trained['ours']) * 3 // 4)

  def test_unknown_optimizer_is_refused(self):
    with self.assertRaisesRegex(ValueError,
                                r"optimizer.type='sgd': use one of"):
      pretraining.build_optimizer(pretraining.OptimizerConfig(type='sgd'), 10)


class ConfigErrorsTest(tu.TestCase):

  def build(self, **kwargs):
    config = dict(tu.TINY_ENCODER)
    config.update(kwargs)
    config.setdefault('keep_k', 6)
    return TokenDropBertEncoder(**config)

  def test_attention_scores_with_dropping_sit_at_the_kept_positions(self):
    encoder, _ = make_pair(drop_start_layer=1, drop_end_layer=3,
                           return_attention_scores=True)
    features = tu.encoder_inputs(tu.batch(num_real=12, seed=6))
    got = encoder(features, training=True)
    scores = [a.numpy() for a in got['attention_scores']]
    self.assertLen(scores, 4)
    kept, dropped = got['kept_indices'].numpy(), got['dropped_indices'].numpy()
    full = encoder(features)['attention_scores'][0].numpy()
    self.assertAllClose(scores[0], full, atol=1e-6)  # before the window.
    for b in range(4):
      real = features['input_mask'].numpy()[b].astype(bool)
      for i in (1, 2):
        self.assertEqual(scores[i].shape[2:], (16, 16))
        # Dropped tokens neither attend (their rows are zero) ...
        self.assertAllEqual(scores[i][b][:, dropped[b]], 0 * scores[i][b][
            :, dropped[b]])
        rows = scores[i][b][:, kept[b]]
        # ... nor, inside the window, are attended to; every kept query's
        # attention over its keys is a distribution.
        keys = kept[b] if i == 2 else np.arange(16)
        self.assertAllClose(rows[..., keys].sum(-1),
                            np.ones(rows.shape[:2]), atol=1e-5)
        if i == 2:
          self.assertAllEqual(rows[..., dropped[b]], 0 * rows[..., dropped[b]])
        self.assertAllEqual(rows[..., ~real], 0 * rows[..., ~real])
    # The transition layer's kept rows equal a plain layer's attention of the
    # kept queries over the block's input.
    block = encoder.transformer_layers[1]
    x = got['encoder_outputs'][0]
    queries = tf.gather(x, kept, batch_dims=1)
    mask = encoder._attention_mask_layer(queries, features['input_mask'])
    _, expected = block([queries, x, mask])
    for b in range(4):
      self.assertAllClose(scores[1][b][:, kept[b]], expected[b], atol=1e-5)

  def test_raises_when_dropping_without_word_ids(self):
    encoder, plain = make_pair()
    features = tu.encoder_inputs(tu.batch())
    embeddings = encoder.get_embedding_layer()(features['input_word_ids'])
    inputs = dict(input_word_embeddings=embeddings,
                  input_mask=features['input_mask'],
                  input_type_ids=features['input_type_ids'])
    # The plain path takes embeddings, as BertEncoderV2 does ...
    self.assertAllClose(encoder(inputs)['sequence_output'],
                        plain(inputs)['sequence_output'], atol=1e-6)
    # ... a dropping call cannot rank them: one clear error.
    with self.assertRaisesRegex(ValueError, 'needs `input_word_ids`'):
      encoder(inputs, training=True)

  def test_raises_when_keep_k_exceeds_sequence(self):
    encoder = self.build(keep_k=12)
    with self.assertRaisesRegex(ValueError, 'keeps 12 of 8 tokens'):
      encoder(tu.encoder_inputs(tu.batch(seq_length=8)), training=True)
    with self.assertRaisesRegex(
        ValueError, r'keep_k=16 keeps 16 of 16 tokens \(max_sequence_length\); '
        'token dropping must keep between 1 and 15'):
      self.build(keep_k=16)

  def test_raises_when_keep_k_not_positive(self):
    with self.assertRaisesRegex(ValueError,
                                r'keep_k=0 keeps 0 of 16 tokens .* between 1'):
      self.build(keep_k=0)
    with self.assertRaisesRegex(ValueError, r'keep_ratio=1.0 must be in'):
      self.build(keep_k=None, keep_ratio=1.0)

  def test_raises_when_both_keep_k_and_ratio(self):
    with self.assertRaisesRegex(ValueError, 'exactly one of keep_k'):
      self.build(keep_ratio=0.5)

  def test_raises_when_window_is_empty(self):
    with self.assertRaisesRegex(ValueError, r'window is non-empty'):
      self.build(drop_start_layer=2, drop_end_layer=2)

  def test_raises_when_no_full_layer_follows_window(self):
    with self.assertRaisesRegex(ValueError, r'drop_end_layer <= 3'):
      self.build(drop_start_layer=1, drop_end_layer=4)
    with self.assertRaisesRegex(ValueError, 'at least 2 layers'):
      self.build(num_layers=1)

  def test_raises_when_vocab_lacks_special_token(self):
    path = tu.write_vocab(self.create_tempdir().full_path + '/v.txt',
                          omit=('[SEP]',))
    with self.assertRaisesRegex(ValueError, r"\['\[SEP\]'\]"):
      self.build(vocab_file=path)

  def test_raises_when_vocab_size_differs(self):
    path = tu.write_vocab(self.create_tempdir().full_path + '/v.txt', size=50)
    with self.assertRaisesRegex(ValueError, 'has 50 entries but the encoder '
                                'has vocab_size=60'):
      self.build(vocab_file=path)

  def test_vocab_file_sets_special_ids(self):
    path = tu.write_vocab(self.create_tempdir().full_path + '/v.txt')
    encoder = self.build(vocab_file=path)
    self.assertEqual(encoder.get_config()['allow_ids'], [2, 3, 4, 1])
    self.assertEqual(encoder.get_config()['deny_ids'], [0])


if __name__ == '__main__':
  tf.test.main()
