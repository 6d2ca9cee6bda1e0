"""The KerasHub backbone on Keras 3 (JAX and TensorFlow) against KerasHub's
BertBackbone and the Model Garden encoder.

The Keras 3 side runs in one process per backend (tests/keras_hub_worker.py),
both started at once; the JAX one has two forced CPU devices for the
data-parallel check and runs with TensorFlow unimportable (the package's
promise on JAX). KerasHub's own test harness runs on the two classes
(tests/keras_hub_harness.py): in the TensorFlow worker, and on JAX in a
process of its own after the JAX worker. This process holds the Model
Garden side (tf_keras) and the independent computations.
"""

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import tf_keras

from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.tasks import masked_lm as mg_masked_lm
from official_td.trainers import evaluator
from official_td.interop import huggingface
from official_td.layers import token_drop
from official_td.layers import TokenDrop
from official_td.layers import TokenImportance
from official_td.networks import TokenDropBertEncoder
from tests import checkpoint_utils
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu

V, B, S, K = 60, 4, 32, 12
# One step of both trainers: a learning rate that moves every weight, no
# warmup (step 0's rate is the peak), a clip norm every step clips at, and
# the schedule's length.
STEP = dict(learning_rate=1e-2, warmup_steps=0, gradient_clip_norm=0.05,
            train_steps=10)
GRID_CASES = 200
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
BACKENDS = ('jax', 'tensorflow')
# The importance table in a TokenDropBertBackbone preset's weights file.
TABLE_ENTRY = 'importance/vars/0'


def gelu_tanh(x):
  return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
  return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


def layer_norm(x, gamma, beta, eps=1e-12):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean)**2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * gamma + beta


def grid_cases(rng, n):
  """`n` random cases of the rule: k from 1 to beyond a row's real tokens,
  rows of every padding pattern (all padding, none, [PAD] ids inside a
  row), special tokens anywhere, tables with many ties or none, in the
  `mlm_loss` and `frequency` modes, seeds of the full int32 range, and an
  update with padded slots and repeated ids. One batch shape for all (one
  compilation per k on JAX, not per case)."""
  cases = []
  for _ in range(n):
    b, s = B, S
    ids = rng.integers(0, V, (b, s)).astype(np.int32)
    lengths = rng.integers(0, s + 1, b)
    lengths[rng.random(b) < 0.3] = s
    mask = (np.arange(s)[None, :] < lengths[:, None]).astype(np.int32)
    ids[mask == 0] = PAD
    mode = 'frequency' if rng.random() < 0.3 else 'mlm_loss'
    if rng.random() < 0.5:  # ties
      table = rng.choice([1.0, 2.0, 10.0], V)
    else:
      table = rng.normal(5.0, 2.0, V)
    if mode == 'frequency':
      table = np.floor(np.abs(table) * 3)
    p = 6
    cases.append(dict(
        ids=ids, mask=mask, mode=np.array(mode),
        table=table.astype(np.float32),
        seeds=rng.integers(-2**31, 2**31, b).astype(np.int32),
        keep_k=np.array(int(rng.integers(1, s))),
        allow=np.array([CLS, SEP, MASK, UNK], np.int32),
        deny=np.array([PAD], np.int32),
        labels=rng.integers(0, 12, (b, p)).astype(np.int32),
        losses=rng.exponential(3.0, (b, p)).astype(np.float32),
        weights=(rng.random((b, p)) < 0.8).astype(np.float32),
        # A third of the cases sample (Gumbel top-k) instead of the top-k.
        temperature=np.array(float(rng.choice([0.3, 1.0, 3.0]))
                             if rng.random() < 0.35 else 0.0)))
  return cases


def model_garden_rule(case):
  """The Model Garden layers on one case: kept, dropped, noise, table."""
  importance = TokenImportance(V, mode=str(case['mode']))
  importance.build(None)
  importance.table.assign(case['table'])
  scores = importance(case['ids'])
  temperature = float(case['temperature'])
  if temperature:
    scores = importance.log_weights(scores)
  drop = TokenDrop(int(case['keep_k']), allow_ids=case['allow'],
                   deny_ids=case['deny'], sampling_temperature=temperature)
  out = drop(scores, case['mask'], case['ids'], seed=case['seeds'])
  noise = token_drop.hash_uniform(case['seeds'], case['ids'].shape[1])
  importance.update(case['labels'], case['losses'], case['weights'])
  return (out['kept_indices'].numpy(), out['dropped_indices'].numpy(),
          noise.numpy(), importance.table.numpy())


def _batch(rng):
  """Real-world ties and tiers: [CLS]/[SEP]/[MASK] to keep, a [PAD] id
  inside a real sequence, a padded row, a row shorter than k, two segments,
  a table of three values (many ties), padded prediction slots."""
  ids = rng.integers(5, V, (B, S)).astype(np.int32)
  ids[:, 0] = CLS
  ids[:, 10] = SEP
  ids[:, 5] = MASK
  ids[1, 7] = PAD
  mask = np.ones((B, S), np.int32)
  mask[2, 20:] = 0
  mask[3, 9:] = 0
  ids[mask == 0] = PAD
  segments = np.zeros((B, S), np.int32)
  segments[:, 16:] = 1
  positions = np.tile(np.array([[1, 2, 3, 5]], np.int32), (B, 1))
  labels = rng.integers(5, V, (B, 4)).astype(np.int32)
  weights = np.ones((B, 4), np.float32)
  weights[0, 3] = 0.0
  labels[0, 3] = 0  # A padded slot: its id must not move.
  labels[1, 1] = labels[1, 0]  # A duplicate id: the mean of its losses.
  return dict(ids=ids, mask=mask, segments=segments,
              table=rng.choice([1.0, 2.0, 3.0], V).astype(np.float32),
              seeds=np.array([11, 12, 13, 14], np.int32),
              positions=positions, labels=labels, weights=weights)


class KerasHubTest(tu.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.batch = _batch(np.random.default_rng(0))
    batch_path = os.path.join(cls.root, 'batch.npz')
    np.savez(batch_path, **cls.batch)
    cls.vocab_file = tu.write_vocab(os.path.join(cls.root, 'vocab.txt'), V)
    cls.encoder, cls.hf_dir = cls._model_garden_encoder()
    # bert-base-uncased's published layout (tests/checkpoint_utils.py),
    # shrunk: continued pretraining reads it (check_continued).
    cls.published_hf = os.path.join(cls.root, 'published_hf')
    checkpoint_utils.write_hf_bert_directory(
        cls.published_hf, dict(vocab_size=V, hidden_size=16, num_layers=4,
                               num_attention_heads=2, inner_dim=32,
                               max_sequence_length=S, type_vocab_size=2),
        cls.vocab_file)
    cls.step = cls._model_garden_step()
    cls.grid = grid_cases(np.random.default_rng(9), GRID_CASES)
    grid_path = os.path.join(cls.root, 'grid.npz')
    np.savez(grid_path, cases=len(cls.grid), **{
        f'{i}/{k}': v for i, case in enumerate(cls.grid)
        for k, v in case.items()})
    procs = {}
    for backend in BACKENDS:
      request = dict(root=cls.root, batch=batch_path, hf_dir=cls.hf_dir,
                     keep_k=K, allow_ids=[CLS, SEP, MASK, UNK],
                     deny_ids=[PAD],
                     outputs=os.path.join(cls.root, f'{backend}.npz'),
                     fit_outputs=os.path.join(cls.root, f'{backend}_fit.npz'),
                     trainer_outputs=os.path.join(cls.root,
                                                  f'{backend}_trainer.npz'),
                     grid=grid_path, step=cls.step, step_settings=STEP,
                     published_hf=cls.published_hf,
                     grid_outputs=os.path.join(cls.root,
                                               f'{backend}_grid.npz'))
      request_path = os.path.join(cls.root, f'{backend}.json')
      with open(request_path, 'w') as f:
        json.dump(request, f)
      env = pu.env(KERAS_BACKEND=backend, XLA_FLAGS=' '.join([
          os.environ.get('XLA_FLAGS', ''),
          '--xla_force_host_platform_device_count=2']).strip())
      checks = 'presets,agreement,trainer,grid,one_step' + (
          ',fit' if backend == 'jax' else ',devices,continued,harness')
      if backend == 'jax':
        checks = 'benchmark_imports,' + checks
      procs[backend] = subprocess.Popen(
          [sys.executable, '-m', 'tests.keras_hub_worker', checks,
           request_path, os.path.join(cls.root, f'{backend}_result.json')],
          cwd=pu.REPO, env=env, stdout=subprocess.PIPE,
          stderr=subprocess.STDOUT, text=True)
    cls.results = {}

    def wait(name):
      log, _ = procs[name].communicate(timeout=600)
      if procs[name].returncode:
        raise AssertionError(f'{name} worker failed:\n{log[-6000:]}')
      with open(os.path.join(cls.root, f'{name}_result.json')) as f:
        cls.results[name] = json.load(f)

    wait('jax')
    # KerasHub's own test harness (tests/keras_hub_harness.py) needs
    # TensorFlow: on TensorFlow the worker runs it last; on JAX a process of
    # its own, once the JAX worker is done (two processes at a time).
    procs['harness_jax'] = subprocess.Popen(
        [sys.executable, '-m', 'tests.keras_hub_harness',
         os.path.join(cls.root, 'harness_jax_result.json')],
        cwd=pu.REPO, env=pu.env(KERAS_BACKEND='jax'),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait('tensorflow')
    wait('harness_jax')
    cls.results['harness_tensorflow'] = cls.results['tensorflow']['harness']

  @classmethod
  def _model_garden_encoder(cls):
    config = encoders.EncoderConfig(
        vocab_size=V, hidden_size=16, num_layers=4, num_attention_heads=2,
        inner_dim=32, max_sequence_length=S, dropout=0.0)
    kwargs = encoders.plain_encoder_kwargs(config)
    tf_keras.utils.set_random_seed(5)
    encoder = TokenDropBertEncoder(keep_k=K, vocab_file=cls.vocab_file,
                                   output_drop_indices=True, **kwargs)
    encoder(cls._mg_inputs(cls.batch))
    encoder.importance.table.assign(cls.batch['table'])
    hf_dir = os.path.join(cls.root, 'hf')
    huggingface.write_directory(
        hf_dir, huggingface.tensors_of(encoder),
        huggingface.hf_config(kwargs, vocab_lib.resolve_special_token_ids(
            cls.vocab_file), 'BertModel'),
        cls.vocab_file, casing=False)
    return encoder, hf_dir

  @classmethod
  def _model_garden_step(cls):
    """One step of the Model Garden trainer's replica step
    (`tasks.masked_lm.train_step`, dropping to K, the trainer's AdamW,
    clipping and schedule) on the batch, from a seeded BERT with its MLM
    head. Writes the weights before and after it as Hugging Face directories
    (the KerasHub side loads both) and the table before and after."""
    config = encoders.EncoderConfig(
        vocab_size=V, hidden_size=16, num_layers=4, num_attention_heads=2,
        inner_dim=32, max_sequence_length=S, dropout=0.0, keep_k=K)
    tf_keras.utils.set_random_seed(6)
    encoder = encoders.build_encoder(config, cls.vocab_file)
    model = encoders.build_pretrainer(encoder, config.inner_activation)
    batch = cls.batch
    features = dict(cls._mg_inputs(batch, seeds=True),
                    masked_lm_positions=batch['positions'],
                    masked_lm_ids=batch['labels'],
                    masked_lm_weights=batch['weights'])
    model(mg_masked_lm.model_inputs(features), training=False)
    encoder.importance.table.assign(batch['table'])
    hf_config = huggingface.hf_config(
        encoders.plain_encoder_kwargs(config),
        vocab_lib.resolve_special_token_ids(cls.vocab_file),
        'BertForMaskedLM')
    step = dict(table_before=batch['table'])

    def export(name):
      step[f'hf_{name}'] = os.path.join(cls.root, f'step_{name}')
      huggingface.write_directory(
          step[f'hf_{name}'], huggingface.tensors_of(
              encoder, masked_lm=model.masked_lm), hf_config,
          cls.vocab_file, casing=False)

    export('before')
    optimizer = pretraining.build_optimizer(pretraining.OptimizerConfig(
        learning_rate=STEP['learning_rate'],
        warmup_steps=STEP['warmup_steps'],
        gradient_clip_norm=STEP['gradient_clip_norm']), STEP['train_steps'])
    with evaluator.dropping(model, True, K):
      sums = mg_masked_lm.train_step(model, optimizer, features,
                                     encoder.importance,
                                     STEP['gradient_clip_norm'])
    # The step clipped (so the comparison covers clipping).
    assert float(sums['clipped']) == 1.0, sums
    export('after')
    step['table_after'] = encoder.importance.table.numpy()
    # AdamW's moments after the step, in the same layout: each exported in
    # place of its weight (0 for the pooler, which the step leaves out).
    trained = {v.ref() for v in mg_masked_lm.trained_variables(model)}
    variables = [v for v in model.trainable_variables if v.ref() not in
                 trained] + mg_masked_lm.trained_variables(model)
    weights = [v.numpy() for v in variables]
    for slot in ('m', 'v'):
      for v in variables:
        v.assign(optimizer.get_slot(v, slot) if v.ref() in trained
                 else tf_keras.backend.zeros_like(v))
      export(slot)
    for v, value in zip(variables, weights):
      v.assign(value)
    path = os.path.join(cls.root, 'step.npz')
    np.savez(path, **{k: v for k, v in step.items()
                      if k.startswith('table')})
    return dict(tables=path, **{k: v for k, v in step.items()
                                if k.startswith('hf_')})

  @staticmethod
  def _mg_inputs(batch, seeds=False):
    inputs = dict(input_word_ids=batch['ids'], input_mask=batch['mask'],
                  input_type_ids=batch['segments'])
    if seeds:
      inputs['drop_seed'] = batch['seeds']
    return inputs

  # ------------------------------------------------------------ presets
  def test_presets_and_keras_files_keep_every_weight_the_table_and_settings(
      self):
    for backend in BACKENDS:
      with self.subTest(backend):
        r = self.results[backend]['presets']
        self.assertEqual(r['backend'], backend)
        # On JAX every check ran with TensorFlow unimportable.
        self.assertEqual(r['tensorflow_loaded'], backend == 'tensorflow')
        # BERT's weights: 5 embedding/norm, 16 per block, 2 pooler.
        self.assertEqual(r['weights'], 5 + 16 * 4 + 2)
        self.assertEqual(r['weights_in'], r['weights'])
        self.assertEqual(r['weights_in_equal'], r['weights'])
        self.assertEqual(r['weights_out'], r['weights'])
        self.assertEqual(r['weights_out_equal'], r['weights'])
        self.assertEqual(r['saved_class'], 'TokenDropBertBackbone')
        self.assertLess(r['legacy'][0], 1e-6)
        self.assertEqual(r['legacy'][1:], [7, [1, 2]])
        self.assertEqual(r['plain_output_diff'], 0.0)
        self.assertLess(r['attend_diff'], 1e-6)
        self.assertLess(r['table_diff'], 1e-6)
        self.assertEqual(r['keep_k_again'], K)
        self.assertEqual(r['allow_ids_again'], [1, 2, 3, 4])
        self.assertEqual(r['keep_ratio_override'], [None, 0.5])
        if backend == 'tensorflow':  # (the JAX worker has no TensorFlow)
          self.assertLess(r['remote_table_diff'], 1e-6)
        self.assertIn('pass allow_ids and deny_ids', r['no_vocab_error'])
        # `.keras` files and the task's own preset keep every weight (the
        # task's: the head's 5 more and the table, which it tracks), the
        # table and the settings.
        trips = r['round_trips']
        for name, cls, weights in (
            ('backbone_keras', 'TokenDropBertBackbone', r['weights']),
            ('backbone_keras_hub_preset', 'TokenDropBertBackbone',
             r['weights']),
            ('task_keras', 'TokenDropBertMaskedLM', r['weights'] + 6),
            ('task_preset', 'TokenDropBertMaskedLM', r['weights'] + 6),
            ('task_keras_hub_preset', 'TokenDropBertMaskedLM',
             r['weights'] + 6)):
          trip = trips[name]
          self.assertEqual((trip['cls'], trip['weights'], trip['equal']),
                           (cls, weights, weights), name)
          self.assertLess(trip['table_diff'], 1e-6, name)
          self.assertEqual(trip['keep_k'], K, name)
          if name.startswith('task'):
            self.assertIs(trip['drop_seed_input'], True, name)
        self.assertEqual(trips['task_preset_keep_ratio'], 0.5)

  def test_keras_hubs_own_harness_passes_on_both_classes(self):
    cases = sorted(
        f'{cls}.{case}' for cls in ('TokenDropBertBackboneHarnessTest',
                                    'TokenDropBertMaskedLMHarnessTest')
        for case in ('test_backbone_basics' if 'Backbone' in cls else
                     'test_masked_lm_basics', 'test_preset',
                     'test_saved_model', 'test_session'))
    for backend in BACKENDS:
      with self.subTest(backend):
        r = self.results[f'harness_{backend}']
        self.assertEqual(r['backend'], backend)
        self.assertEqual(r['failed'], [], '\n'.join(r['failed']))
        self.assertEqual(r['run'], len(cases))
        # Skipped: only tf.test.TestCase's `test_session`, which is none.
        self.assertEqual(r['skipped'], [
            f'{case}: Not a test.' for case in cases
            if case.endswith('test_session')])

  def test_step_benchmark_imports_without_tensorflow_or_gin(self):
    r = self.results['jax']['benchmark_imports']
    self.assertEqual((r['error'], r['gin_loaded'], r['tensorflow_loaded']),
                     ('', False, False))

  # ------------------------------------------------------------ one rule
  def test_continued_pretraining_loads_every_weight_of_each_source(self):
    """`continued.initialize` (the KerasHub trainer's run.init_checkpoint),
    on TensorFlow (it reads files through tf.io.gfile)."""
    result = self.results['tensorflow']['continued']
    backbone_weights = 5 + 16 * 4 + 2  # embeddings, 4 layers, pooler.
    # bert-base-uncased's layout: the backbone as KerasHub's converter reads
    # it, the MLM head as the file holds it (5 tensors); the NSP head unused.
    self.assertEqual(result['hf_loaded'], dict(encoder=True, mlm_head=True,
                                               importance=False))
    self.assertEqual(result['hf_activation'], 'gelu_tanh')
    self.assertEqual(result['hf_backbone'], [backbone_weights, 0.0])
    self.assertEqual(result['hf_head'], [5, 0.0])
    self.assertGreater(result['hf_head_moved'], 0.1)
    # KerasHub's own BertMaskedLM preset: backbone and head (its 6 weights,
    # the tied embedding among them).
    self.assertEqual(result['keras_hub_loaded'],
                     dict(encoder=True, mlm_head=True, importance=False))
    self.assertEqual(result['keras_hub_backbone'], [backbone_weights, 0.0])
    self.assertEqual(result['keras_hub_head'], [6, 0.0])
    # Round trip of the trainer's own preset: the table too.
    self.assertEqual(result['run_loaded'], dict(encoder=True, mlm_head=True,
                                                importance=True))
    self.assertEqual(result['run_backbone'], [backbone_weights, 0.0])
    self.assertEqual(result['run_head'], [6, 0.0])
    self.assertEqual(result['run_table_diff'], 0.0)

  def test_model_garden_encoder_and_backbone_agree_when_dropping(self):
    with self.encoder.force_dropping(True):
      ours = self.encoder(self._mg_inputs(self.batch, seeds=True))
    plain = self.encoder(self._mg_inputs(self.batch))
    kept = ours['kept_indices'].numpy()
    # The rule is exercised: the short row keeps padding, the [PAD] id in a
    # real row is dropped while real tokens remain, specials are kept.
    self.assertTrue(all(p in kept[0] for p in (0, 5, 10)))
    self.assertNotIn(7, kept[1])
    self.assertEqual(sorted(kept[3][:9]), list(range(9)))
    real = self.batch['mask'].astype(bool)
    for backend in BACKENDS:
      with self.subTest(backend):
        r = self.results[backend]['agreement']
        self.assertEqual(r['kept'], kept.tolist())
        self.assertEqual(r['resolved_allow_ids'], [UNK, CLS, SEP, MASK])
        self.assertEqual(r['resolved_deny_ids'], [PAD])
        self.assertEqual(r['dropped'], ours['dropped_indices'].numpy().tolist())
        outputs = np.load(os.path.join(self.root, f'{backend}.npz'))
        self.assertAllClose(outputs['dropping'][real],
                            ours['sequence_output'].numpy()[real],
                            atol=1e-4, rtol=0)
        self.assertAllClose(outputs['plain'][real],
                            plain['sequence_output'].numpy()[real],
                            atol=1e-4, rtol=0)
        # Dropping changes the outputs: the comparison above is not moot.
        self.assertGreater(
            np.abs(outputs['dropping'] - outputs['plain'])[real].max(), 1e-3)

  # ------------------------------------------------------------ fit
  def test_task_trains_as_the_model_garden_trainer(self):
    """AdamW decays what the Model Garden's decays (no layer norm, no bias,
    the head's output bias included, not the pooler, which the loss does not
    reach and which stays as it is); the head is the Model Garden's (tanh
    GELU, layer-norm epsilon 1e-12); the final evaluation after a schedule
    that ends dropping is on full sequences."""
    for backend in BACKENDS:
      r = self.results[backend]['trainer']
      expected = [p for p in r['trainable']
                  if p.endswith(('/kernel', '/embeddings'))
                  and not p.startswith('pooled_dense/')]
      self.assertEqual(r['decayed'], expected, backend)
      self.assertLen(expected, 3 + 6 * 4 + 1)  # embeddings, blocks, head.
      self.assertNotIn('mlm_head/output_bias', r['decayed'])
      self.assertEqual(r['pooler_moved'], 0.0, backend)
      out = np.load(os.path.join(self.root, f'{backend}_trainer.npz'))
      hidden = np.take_along_axis(out['sequence'].astype(np.float64),
                                  self.batch['positions'][..., None], 1)
      hidden = hidden @ out['kernel'] + out['bias']
      for gelu, close in ((gelu_tanh, True), (gelu_erf, False)):
        logits = layer_norm(gelu(hidden), out['gamma'], out['beta']) @ (
            out['embeddings'].T) + out['output_bias']
        diff = np.abs(logits - out['logits']).max()
        if close:
          self.assertLess(diff, 1e-4, backend)
        else:  # the check tells the two forms apart.
          self.assertGreater(diff, 1e-3, backend)
      final, full = r['final'], r['full']
      self.assertAlmostEqual(final['eval_mlm_loss'], full['mlm_loss'],
                             places=5)
      self.assertAlmostEqual(final['eval_mlm_accuracy'],
                             full['mlm_accuracy'], places=6)
      self.assertGreater(abs(final['eval_dropped_mlm_loss'] -
                             full['mlm_loss']), 1e-4)

  def test_one_step_of_both_trainers_from_the_same_weights_agrees(self):
    """One step of `official_td.train`'s replica step and of the KerasHub
    task's `fit` (its trainer's optimizer), from the same weights, table,
    batch and seeds, dropping to K: every weight after it (the head and the
    pooler among them), AdamW's two moments of each (the clipped gradient
    and its square: Adam's first step alone moves each weight by about the
    learning rate whatever its gradient) and the table are equal. The step
    moved them."""
    tables = np.load(self.step['tables'])
    for backend in BACKENDS:
      r = self.results[backend]['one_step']
      # Embeddings and norms 5, 16 per block, the pooler 2, the head 5.
      self.assertEqual(r['weights'], 5 + 16 * 4 + 2 + 5, backend)
      # (float rounding is ~1e-7 here; the erf GELU in the head instead of
      # the tanh form gives ~1e-6, a clip norm twice the trainer's 2e-3.)
      self.assertLess(r['max_weight_diff'], 5e-7, (backend, r['worst']))
      self.assertGreater(r['max_weight_step'], 1e-3, backend)
      self.assertEqual(r['pooler_step'], 0.0, backend)
      # Relative to the largest moment (the erf GELU: 4e-6 for m).
      for slot, rtol in (('m', 1.5e-6), ('v', 1e-4)):
        self.assertLess(r[f'max_{slot}_diff'], rtol * r[f'max_{slot}'],
                        (backend, slot))
        self.assertGreater(r[f'max_{slot}'], 0.0, (backend, slot))
      table = np.load(os.path.join(self.root, f'{backend}_step.npy'))
      self.assertAllClose(table, tables['table_after'], atol=1e-6, rtol=0)
      self.assertGreater(np.abs(tables['table_after'] -
                                tables['table_before']).max(), 1e-3)

  def test_the_two_rules_agree_over_a_grid_of_cases(self):
    """The Model Garden layers and the Keras 3 rule, on every case of the
    grid and both backends: the same tie-break noise, kept and dropped
    positions (the top-k, or a sample at a temperature), and table after an
    update."""
    expected = [model_garden_rule(case) for case in self.grid]
    for backend in BACKENDS:
      self.assertEqual(self.results[backend]['grid']['cases'], GRID_CASES)
      got = np.load(os.path.join(self.root, f'{backend}_grid.npz'))
      for i, (kept, dropped, noise, table) in enumerate(expected):
        self.assertAllEqual(got[f'{i}/noise'], noise, msg=f'{backend} {i}')
        self.assertAllEqual(got[f'{i}/kept'], kept, msg=f'{backend} {i}')
        self.assertAllEqual(got[f'{i}/dropped'], dropped,
                            msg=f'{backend} {i}')
        self.assertAllClose(got[f'{i}/table'], table, atol=1e-5, rtol=0,
                            msg=f'{backend} {i}')
    # The grid reaches what it is for: ties, short rows, both modes.
    self.assertGreater(sum(len(set(c['table'].tolist())) <= 3
                           for c in self.grid), 50)
    self.assertGreater(sum((c['mask'].sum(1) < c['keep_k']).any()
                           for c in self.grid), 50)
    self.assertGreater(sum(str(c['mode']) == 'frequency' for c in self.grid),
                       40)
    self.assertGreater(sum(float(c['temperature']) > 0 for c in self.grid),
                       50)

  def test_two_devices_on_tensorflow_are_refused_with_the_reason(self):
    r = self.results['tensorflow']['devices']
    self.assertEqual(r['devices'], 2)
    self.assertIn('Token dropping on 2 devices needs the JAX backend',
                  r['error'])
    self.assertIn('no cross-replica reduction', r['error'])

  def test_fit_updates_the_table_once_per_step_and_same_on_two_devices(self):
    r = self.results['jax']['fit']
    self.assertEqual(r['devices'], 2)
    self.assertEqual(r['weights'], 5 + 16 * 4 + 2 + 5)  # + the MLM head's 5.
    self.assertLess(r['table_devices_diff'], 1e-6)
    self.assertLess(r['weights_devices_diff'], 1e-5)
    # The table an independent EMA of the step's per-slot losses gives.
    out = np.load(os.path.join(self.root, 'jax_fit.npz'))
    logits = out['logits'].astype(np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(
        -1, keepdims=True)) - logits.max(-1, keepdims=True)
    labels, weights = self.batch['labels'], self.batch['weights']
    losses = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    expected = out['before'].astype(np.float64)
    for token in np.unique(labels[weights > 0]):
      seen = (labels == token) & (weights > 0)
      expected[token] = 0.995 * expected[token] + 0.005 * losses[seen].mean()
    self.assertAllClose(out['table'], expected, atol=1e-5, rtol=0)
    self.assertEqual(out['table'][0], out['before'][0])  # The padded slot.
    # The keep schedule switched the compiled step: 2 dropping steps moved
    # the table, the 2 full-sequence steps after them did not.
    self.assertGreater(r['schedule_table_moved'], 1e-3)
    self.assertLess(r['schedule_table_diff'], 1e-6)


class KerasHubTrainResumeTest(pu.TinyDataTestCase):
  """`official_td.keras_hub.train` continued from a Hugging Face BERT
  (bert-base-uncased's published layout, the data's vocab), killed after a
  checkpoint and run again, ends where an unbroken run ends: the data read
  on from the step, the optimizer, the table, the dropout seeds and the keep
  phase restored, and the checkpoint never loaded again."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    shape = dict(vocab_size=cls.summary['vocab_size'], hidden_size=32,
                 num_layers=3, num_attention_heads=2, inner_dim=64,
                 max_sequence_length=32, type_vocab_size=2)
    vocab = os.path.join(cls.data_dir, 'vocab.txt')
    cls.hf_dir = os.path.join(cls.root, 'bert-base-uncased')
    checkpoint_utils.write_hf_bert_directory(cls.hf_dir, shape, vocab)
    cls.google_dir = os.path.join(cls.root, 'uncased_L-3_H-32_A-2')
    checkpoint_utils.write_google_bert_directory(cls.google_dir, shape, vocab)

  def train(self, name, extra=(), error=None, **popen):
    """Runs the trainer (`popen`: started, not waited for); `error`: the
    run must end with that one clean error."""
    # Dropout on (its seeds are state) and a keep schedule whose last phase,
    # full sequences from step 15, begins after the kill.
    command = [sys.executable, '-m', 'official_td.keras_hub.train',
               '--gin_file=gin/experiments/ci_tiny.gin',
               f'--model_dir={os.path.join(self.root, name)}'] + [
                   f'--gin_bindings={b}' for b in self.bindings + [
                       'encoder.dropout = 0.1', 'run.train_steps = 20',
                       'run.steps_per_loop = 5', 'run.checkpoint_interval = 5',
                       'run.full_sequence_fraction = 0.25',
                       f"run.init_checkpoint = '{self.hf_dir}'"] + list(extra)]
    env = pu.env(KERAS_BACKEND='jax')
    if popen:
      return subprocess.Popen(command, cwd=pu.REPO, env=env, **popen)
    proc = subprocess.run(command, cwd=pu.REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    if error:
      pu.assert_clean_error(self, proc, error)
    else:
      self.assertEqual(proc.returncode, 0, proc.stdout[-2000:] +
                       proc.stderr[-4000:])
    return proc

  def test_a_killed_run_resumes_to_the_unbroken_runs_weights_and_table(self):
    import h5py  # pylint: disable=g-import-not-at-top
    # A TensorFlow checkpoint is official_td.train's: refused, naming it.
    self.train('refused', [f"run.init_checkpoint = '{self.google_dir}'"],
               error='is a TensorFlow checkpoint (google_bert); '
               'official_td.keras_hub.train starts from a KerasHub preset or '
               'a Hugging Face BERT directory')
    self.assertFalse(os.path.exists(os.path.join(self.root, 'refused')))
    first = self.train('unbroken')
    self.assertIn(f'Initialized from {self.hf_dir}: encoder, mlm_head',
                  first.stdout)
    killed = os.path.join(self.root, 'killed')
    proc = self.train('killed', stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    # The checkpoint state file, written whole after the checkpoint it names
    # (read here as JSON: this process holds the Model Garden's Keras).
    state = os.path.join(killed, 'checkpoints', 'checkpoint.json')
    deadline = time.time() + 300
    step = 0
    while step < 10 and proc.poll() is None and time.time() < deadline:
      step = json.load(open(state))['step'] if os.path.exists(state) else 0
      time.sleep(0.01)  # polling interval, not synchronization.
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    self.assertGreaterEqual(step, 10)
    self.assertFalse(os.path.exists(os.path.join(killed, 'results.json')),
                     'the run finished before it could be killed')
    # Other settings are refused before any work, naming them.
    before = sorted(os.listdir(os.path.join(killed, 'checkpoints')))
    self.train('killed', ['run.train_steps = 30', 'encoder.dropout = 0.0'],
               error="holds a run with other settings (encoder.dropout, "
               "run.train_steps)")
    self.assertEqual(sorted(os.listdir(os.path.join(killed, 'checkpoints'))),
                     before)
    resumed = self.train('killed')
    self.assertIn(f'Resuming from step {step}', resumed.stdout)
    # Finished: never written over.
    self.train('killed', error='holds a finished run')

    def weights(name):
      out = {}
      with h5py.File(os.path.join(self.root, name, 'model.weights.h5')) as f:
        f.visititems(lambda path, item: out.__setitem__(path, item[()])
                     if isinstance(item, h5py.Dataset) else None)
      return out

    unbroken, got = weights('unbroken'), weights('killed')
    # Every backbone weight and the importance table.
    self.assertLen(unbroken, 5 + 16 * 3 + 2 + 1)
    self.assertEqual(sorted(got), sorted(unbroken))
    for path, value in unbroken.items():
      self.assertAllEqual(got[path], value, msg=path)
    self.assertGreater(np.abs(unbroken[TABLE_ENTRY] - 10.0).max(), 1e-3)
    results = [json.load(open(os.path.join(self.root, name, 'results.json')))
               for name in ('unbroken', 'killed')]
    self.assertEqual(results[1]['resumed_from_step'], step)
    self.assertEqual(results[0]['init_checkpoint_loaded'],
                     dict(encoder=True, mlm_head=True, importance=False))
    self.assertNotIn('init_checkpoint_loaded', results[1])  # resumed.
    self.assertNotIn('Initialized from', resumed.stdout)
    # The run is a KerasHub preset with its MLM head; official_td.train
    # refuses to start from it, naming the trainer that reads it.
    self.assertTrue(os.path.exists(os.path.join(self.root, 'unbroken',
                                                'task.weights.h5')))
    garden = entry_points.run(
        [sys.executable, '-m', 'official_td.train',
         '--gin_file=gin/experiments/ci_tiny.gin',
         f'--model_dir={os.path.join(self.root, "garden")}'] +
        [f'--gin_bindings={b}' for b in self.bindings + [
            f"run.init_checkpoint = '{os.path.join(self.root, 'unbroken')}'"]],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=300)
    pu.assert_clean_error(self, garden, 'is a KerasHub preset: continue it '
                          'with `python -m official_td.keras_hub.train`')
    self.assertEqual(results[1]['history'], results[0]['history'])
    self.assertEqual(results[1]['eval_mlm_loss'], results[0]['eval_mlm_loss'])
