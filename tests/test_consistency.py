"""The ScTD-style consistency loss: its value, its steps, its settings."""

import json
import os

import numpy as np
import tensorflow as tf
import tf_keras

from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.configs.encoders import EncoderConfig
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm
from official_td.trainers import evaluator
from tests import pretrain_utils as pu
from tests import testing_utils as tu


def numpy_cls_kl(teacher_layers, student_layers):
  """KL(softmax(t[:, 0]) || softmax(s[:, 0])), mean over layers, per example."""
  total = 0.0
  for t, s in zip(teacher_layers, student_layers):
    t = np.asarray(t, np.float64)[:, 0, :]
    s = np.asarray(s, np.float64)[:, 0, :]
    p = np.exp(t - t.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    q = np.exp(s - s.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    total = total + (p * np.log(p / q)).sum(-1)
  return total / len(teacher_layers)


class ClsKlTest(tu.TestCase):

  def test_cls_distribution_kl_matches_numpy_and_reads_position_zero(self):
    rng = np.random.default_rng(0)
    teacher = [rng.normal(size=(3, 5, 8)).astype(np.float32) for _ in range(2)]
    student = [rng.normal(size=(3, 5, 8)).astype(np.float32) for _ in range(2)]
    got = masked_lm.cls_distribution_kl(teacher, student).numpy()
    self.assertAllClose(got, numpy_cls_kl(teacher, student), rtol=1e-5)
    # Only the [CLS] position counts; identical [CLS] states give 0.
    same = [t.copy() for t in teacher]
    for s, t in zip(same, teacher):
      s[:, 1:, :] += 5.0
    self.assertAllClose(masked_lm.cls_distribution_kl(teacher, same).numpy(),
                        np.zeros(3), atol=1e-6)


class ConsistencyStepTest(tu.TestCase):
  """The step's loss is the dropped pass's MLM loss plus weight x KL."""

  def setUp(self):
    super().setUp()
    tf_keras.utils.set_random_seed(3)
    self.encoder = TokenDropBertEncoder(
        keep_k=6, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
        **tu.TINY_ENCODER)
    self.model = encoders.build_pretrainer(self.encoder)
    self.features = tu.batch(batch_size=4, seq_length=16, predictions=4)
    self.model(masked_lm.model_inputs(self.features), training=False)
    # Weights far from their small initial values: the [CLS] distributions
    # of the two passes then differ measurably (at init, by ~1e-6 nats).
    rng = np.random.default_rng(1)
    for v in self.model.variables:
      if 'kernel' in v.name or 'embeddings' in v.name:
        v.assign(rng.normal(0.0, 0.5, v.shape).astype(np.float32))

  def expected(self, layers):
    """MLM loss and mean KL, from two separate forward passes."""
    with self.encoder.force_dropping(True):
      dropped = self.model(masked_lm.model_inputs(self.features),
                           training=True)
    full = self.encoder(tu.encoder_inputs(self.features), training=False)
    slot = masked_lm.mlm_slot_losses(self.features['masked_lm_ids'],
                                     dropped['mlm_logits']).numpy()
    mlm = slot.mean()  # all weights are 1.
    kl = numpy_cls_kl([t.numpy() for t in full['encoder_outputs'][-layers:]],
                      [s.numpy() for s in dropped['encoder_outputs'][-layers:]])
    return mlm, kl.mean()

  def step(self, weight, layers):
    optimizer = tf_keras.optimizers.legacy.SGD(0.0)
    with evaluator.dropping(self.model, True, 6):
      return masked_lm.train_step(self.model, optimizer, self.features,
                                  None, 0.0, weight, layers)

  def test_loss_adds_weighted_kl_of_full_and_dropped_cls(self):
    # The default window of 4 layers is [1, 3): one layer after it.
    self.assertEqual(masked_lm.consistency_layer_count(self.encoder, 0), 1)
    for layers, resolved in ((0, 1), (3, 3)):
      mlm, kl = self.expected(resolved)
      self.assertGreater(kl, 0.05)  # the two passes differ.
      metrics = self.step(2.5, layers)
      self.assertAllClose(metrics['consistency_kl'], kl, rtol=1e-4)
      self.assertAllClose(metrics['loss'], mlm + 2.5 * kl, rtol=1e-5)
    plain = self.step(0.0, 0)
    self.assertNotIn('consistency_kl', plain)
    self.assertAllClose(plain['loss'], self.expected(1)[0], rtol=1e-5)

  def kl_gradient(self, layers, variables, stop_teacher):
    """The gradient of the mean KL of two separate passes, the full one's
    outputs stopped or not."""
    with tf.GradientTape() as tape:
      with self.encoder.force_dropping(True):
        dropped = self.model(masked_lm.model_inputs(self.features),
                             training=True)
      full = self.encoder(tu.encoder_inputs(self.features), training=False)
      teacher = full['encoder_outputs'][-layers:]
      if stop_teacher:
        teacher = [tf.stop_gradient(t) for t in teacher]
      kl = tf.reduce_mean(masked_lm.cls_distribution_kl(
          teacher, dropped['encoder_outputs'][-layers:]))
    return tape.gradient(kl, variables)

  def test_gradient_reaches_the_dropped_pass_only(self):
    """The full pass is a teacher without gradient: the KL's gradient is
    the student's alone (compared with an independent tape)."""
    layers = 3
    variables = masked_lm.trained_variables(self.model)
    expected = self.kl_gradient(layers, variables, stop_teacher=True)
    through_both = self.kl_gradient(layers, variables, stop_teacher=False)
    # The step: weight 1 minus weight 0 isolates the KL's update (SGD, lr 1).
    before = [v.numpy() for v in variables]
    updates = []
    for weight in (0.0, 1.0):
      for v, b in zip(variables, before):
        v.assign(b)
      optimizer = tf_keras.optimizers.legacy.SGD(1.0)
      with evaluator.dropping(self.model, True, 6):
        masked_lm.train_step(self.model, optimizer, self.features, None, 0.0,
                             weight, layers)
      updates.append([b - v.numpy() for v, b in zip(variables, before)])
    compared = 0
    differs = False
    for g, g_both, u0, u1 in zip(expected, through_both, *updates):
      if g is None:
        continue
      g = tf.convert_to_tensor(g).numpy()
      self.assertAllClose(u1 - u0, g, atol=2e-5)
      compared += 1
      if g_both is not None and not np.allclose(
          g, tf.convert_to_tensor(g_both).numpy(), atol=2e-5):
        differs = True
    self.assertGreater(compared, 10)
    # The check can tell: a gradient through the teacher would differ.
    self.assertTrue(differs)


class ConsistencySettingsTest(tu.TestCase):

  def check(self, message, encoder=None, **run):
    encoder = encoder or EncoderConfig(num_layers=4)
    with self.assertRaisesRegex(ValueError, message):
      pretraining.check_consistency(encoder,
                                    pretraining.RunConfig(**run))

  def test_bad_settings_raise_naming_the_fix(self):
    self.check('must be >= 0', consistency_weight=-1.0)
    self.check('needs a token-drop encoder.*token_drop = True',
               EncoderConfig(token_drop=False), consistency_weight=1.0)
    self.check('consistency_every must be >= 1', consistency_weight=1.0,
               consistency_every=0)
    self.check("between 0 .* encoder's 4 layers", consistency_weight=1.0,
               consistency_layers=5)
    # Off (weight 0) needs nothing else.
    pretraining.check_consistency(EncoderConfig(token_drop=False),
                                  pretraining.RunConfig(consistency_every=0))


class ConsistencyTrainingTest(pu.TinyDataTestCase):
  """A training run adds the loss every N-th token-drop step, no other."""

  def test_consistency_steps_every_n_dropping_steps_and_their_loops(self):
    model_dir = os.path.join(self.root, 'sctd')
    pu.run_train(model_dir, self.bindings + [
        'run.train_steps = 12', 'run.steps_per_loop = 6',
        'run.summary_interval = 6', 'run.eval_interval = 12',
        'run.checkpoint_interval = 12',
        'run.keep_schedule = ((0.0, 0.5), (0.75, 1.0))',
        'run.consistency_weight = 1.0', 'run.consistency_every = 3'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['step'], 12)
    k = results['keep_phases'][0][1]
    # One compiled loop per k, one more for the dropping k's consistency.
    self.assertEqual(sorted(results['compiled_train_loops']),
                     sorted([str(k), f'{k}+consistency', '32']))
    # Steps 0, 3 and 6 are consistency steps; 9 is one of the full steps
    # (9..11), which have none.
    self.assertEqual(results['consistency_steps'], 3)
