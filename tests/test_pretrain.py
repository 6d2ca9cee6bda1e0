"""End-to-end tests of data creation and pretraining (real subprocesses)."""

import collections
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import tensorflow as tf

from official.nlp.data import pretrain_dataloader
from official.nlp.modeling import models
from official_td import keep
from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.input import pretrain_dataloader as td_dataloader
from official_td.tasks import masked_lm
from tests import entry_points
from tests import pretrain_utils as pu


# Checkpoint keys that are not training state: the object graph, the save
# counter (a resumed run saved more often) and the wall-clock seconds.
NOT_STATE = ('_CHECKPOINTABLE_OBJECT_GRAPH', 'save_counter/', 'train_seconds/')


def checkpoint_values(path):
  """Every training-state tensor of a checkpoint: encoder, MLM head,
  optimizer slots and step, importance table."""
  reader = tf.train.load_checkpoint(path)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if not key.startswith(NOT_STATE)}


def read_checkpoint(model_dir):
  path = tf.train.latest_checkpoint(model_dir)
  return path, checkpoint_values(path)


def read_checkpoint_at(model_dir, step):
  return checkpoint_values(os.path.join(model_dir, f'ckpt-{step}'))


def variable_counts(vocab_file):
  """(trainable, trained) variables of the ci_tiny pretrainer: the pooler
  is trainable but gets no gradient without NSP, so it has no slots."""
  config = encoders.EncoderConfig(
      hidden_size=32, num_layers=3, num_attention_heads=2, inner_dim=64,
      max_sequence_length=32, dropout=0.0, keep_k=16)
  config.vocab_size = len(open(vocab_file).read().split())
  model = models.BertPretrainerV2(encoders.build_encoder(config, vocab_file))
  model(td_dataloader.dummy_inputs(pretraining.DataConfig(
      seq_length=32, max_predictions_per_seq=5)))
  return (len(model.trainable_variables),
          len(masked_lm.trained_variables(model)))


def assert_same_state(test, ref, got, counts, atol, msg=''):
  """`ref` and `got` hold the same keys and values; returns how many were
  compared, after checking that every group is there in full."""
  test.assertEqual(sorted(ref), sorted(got), msg)
  trainable, trained = counts
  groups = collections.Counter()
  for key in ref:
    top = key.split('/')[0]
    if 'OPTIMIZER_SLOT' in key:
      groups['slots'] += 1
    elif top in ('encoder', 'model'):
      groups['weights'] += 1
    else:
      groups[key] += 1
  test.assertEqual(groups['weights'], trainable, msg)
  test.assertEqual(groups['slots'], 2 * trained, msg)  # AdamW's m and v.
  test.assertEqual(groups['optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE'], 1)
  test.assertEqual(
      groups['importance/importance/.ATTRIBUTES/VARIABLE_VALUE'], 1)
  for name in ('seen', 'kept', 'slots'):  # what the selection did.
    test.assertEqual(
        groups[f'selection/{name}/.ATTRIBUTES/VARIABLE_VALUE'], 1, msg)
  for key in ref:
    test.assertAllClose(ref[key], got[key], atol=atol, rtol=0,
                        msg=f'{key} {msg}')
  return len(ref)


def train_scalars(model_dir, tag):
  """{step: value} of a scalar in the run's train TensorBoard events."""
  values = {}
  for path in glob.glob(os.path.join(model_dir, 'train', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == tag:
          values[event.step] = float(tf.make_ndarray(v.tensor))
  return values


def progress_losses(stdout):
  return [float(m) for m in re.findall(r'^step \d+/\d+\s+loss ([\d.]+)',
                                       stdout, re.M)]


def start_workers(command, env_of, attempts=3):
  """Two multi-worker processes on fresh ports, retried if a port was taken
  between choosing it and the worker binding it (no port is held here: TF's
  server binds it itself). Returns the finished processes' outputs."""
  for _ in range(attempts):
    ports = []
    for _ in range(2):
      with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        ports.append(s.getsockname()[1])
    cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
    procs = [entry_points.Popen(
        command, cwd=pu.REPO, env=env_of(json.dumps(
            {'cluster': cluster, 'task': {'type': 'worker', 'index': i}})),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    if any(p.returncode for p in procs) and any(
        'address already in use' in err.lower() or 'failed to bind' in
        err.lower() for _, err in outputs):
      continue
    return procs, outputs
  raise AssertionError(f'no free ports after {attempts} attempts')


class PretrainEndToEndTest(pu.TinyDataTestCase):

  def model_dir(self, name):
    return os.path.join(self.root, name + str(time.time_ns()))

  def test_data_is_read_by_bert_pretrain_data_loader(self):
    self.assertEqual(self.summary['train']['shards'], 2)
    self.assertGreater(self.summary['train']['sequences'], 10)
    params = pretrain_dataloader.BertPretrainDataConfig(
        input_path=os.path.join(self.data_dir, 'train-*'),
        global_batch_size=4, is_training=False, seq_length=32,
        max_predictions_per_seq=5, use_next_sentence_label=False)
    batch = next(iter(
        pretrain_dataloader.BertPretrainDataLoader(params).load()))
    self.assertEqual(batch['input_word_ids'].shape, (4, 32))
    vocab = open(os.path.join(self.data_dir, 'vocab.txt')).read().split('\n')
    ids = batch['input_word_ids'].numpy()
    self.assertEqual(vocab[ids[0, 0]], '[CLS]')
    # Labels are the original tokens; weights mark real predictions.
    pos = batch['masked_lm_positions'].numpy()
    weights = batch['masked_lm_weights'].numpy()
    labels = batch['masked_lm_ids'].numpy()
    self.assertTrue((weights > 0).any())
    masked = ids[np.arange(4)[:, None], pos][weights > 0]
    self.assertGreater(np.mean(masked == vocab.index('[MASK]')), 0.4)
    self.assertTrue(all(vocab[t] not in ('[CLS]', '[SEP]', '[PAD]')
                        for t in labels[weights > 0]))
    # Packed: only the corpus's last sequence can hold padding.
    self.assertLessEqual(
        np.sum((batch['input_mask'].numpy() == 0).any(axis=1)), 1)
    self.assertLess(self.summary['train']['padding_fraction'], 0.05)

  def test_trains_evaluates_and_checkpoints(self):
    model_dir = self.model_dir('e2e')
    proc = pu.run_train(model_dir, self.bindings +
                        ['run.train_steps = 60', 'run.eval_interval = 60',
                         'run.full_sequence_fraction = 0.5',
                         'run.eval_with_dropping = True'])
    losses = progress_losses(proc.stdout)
    self.assertLen(losses, 6)
    self.assertLess(losses[-1], losses[0] - 0.5)
    # A quiet console: each loss once (orbit's output dicts and TF's C++
    # messages go to the log file), and nothing but warnings on stderr.
    console = proc.stdout + proc.stderr
    for loss in losses:
      self.assertEqual(console.count(f'{loss:.4f}'), 1, console)
      self.assertNotIn(repr(loss)[:8], console.replace(f'{loss:.4f}', ''))
    self.assertNotIn('output:', console)
    self.assertNotIn('rendezvous', console)
    self.assertEqual(proc.stderr.strip(), '')
    log = open(os.path.join(model_dir, 'logs', 'train.INFO')).read()
    self.assertIn('output:', log)  # orbit's dicts are in the log.
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['step'], 60)
    self.assertEqual(results['keep_k'], 16)
    self.assertTrue(results['checkpoint'].endswith('ckpt-60'))
    self.assertTrue(np.isfinite(results['eval_mlm_loss']))
    self.assertIn('eval_dropped_mlm_loss', results)
    # What the selection did (tests/test_selection.py checks the counts):
    # every kept slot of the 30 dropping steps decided by a tier or the score.
    selection = results['selection']
    self.assertAlmostEqual(selection['scored_slots'] +
                           selection['forced_slots'], 16, places=3)
    self.assertGreater(selection['scored_slots'], 0)
    self.assertGreater(selection['types_seen'], 50)
    self.assertIn('table_frequency_spearman', selection)
    self.assertIn('Final eval (full sequences): MLM accuracy', proc.stdout)
    config = open(os.path.join(model_dir, 'operative_config.gin')).read()
    self.assertIn('encoder.keep_k = 16', config)
    # TensorBoard got the drop-specific summaries.
    tags, kept_fraction = set(), {}
    for path in glob.glob(os.path.join(model_dir, 'train', 'events.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        tags.update(v.tag for v in event.summary.value)
        for v in event.summary.value:
          if v.tag == 'kept_token_fraction':
            kept_fraction[event.step] = float(tf.make_ndarray(v.tensor))
    # Dropping (16 of 32 kept) for the first half, full sequences after.
    self.assertEqual(kept_fraction, {10: 0.5, 20: 0.5, 30: 0.5, 40: 1.0,
                                     50: 1.0, 60: 1.0})
    self.assertTrue({'selection/scored_slots', 'selection/forced_slots',
                     'selection/types_never_kept_fraction'} <= tags, tags)
    self.assertEqual(progress_losses(proc.stdout) and
                     proc.stdout.count('[token drop]'), 3)
    for tag in ('mlm_loss', 'mlm_accuracy', 'learning_rate', 'steps_per_second',
                'examples_per_second', 'kept_token_fraction',
                'importance/table', 'importance/top_tokens', 'operative_config'):
      self.assertIn(tag, tags)
    # The importance table was saved with the checkpoint and learned.
    _, values = read_checkpoint(model_dir)
    table = [v for k, v in values.items() if k.startswith('importance/')][0]
    self.assertLess(table.min(), 10.0)

  def kill_after_checkpoint(self, model_dir, bindings, min_step):
    """Starts a run in `model_dir`, SIGKILLs it once it has checkpointed at
    or after `min_step`; returns the latest checkpoint's step."""
    proc = entry_points.Popen(pu.train_command(model_dir, bindings), cwd=pu.REPO,
                            env=pu.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Kill only once TF's checkpoint state names a checkpoint: the state file
    # is written (atomically) after the checkpoint's own files, so what
    # `latest_checkpoint` returns is complete and restorable.
    deadline = time.time() + 300
    seen = 0
    while seen < min_step and proc.poll() is None and time.time() < deadline:
      path = tf.train.latest_checkpoint(model_dir)
      seen = int(path.rsplit('-', 1)[1]) if path else 0
      if seen < min_step:
        time.sleep(0.01)  # polling interval, not synchronization.
    proc.send_signal(signal.SIGKILL)
    self.assertEqual(proc.wait(), -signal.SIGKILL)
    self.assertGreaterEqual(seen, min_step,
                            f'no checkpoint at or after step {min_step}')
    killed_at = int(tf.train.latest_checkpoint(model_dir).rsplit('-', 1)[1])
    self.assertGreaterEqual(killed_at, seen)
    self.assertFalse(os.path.exists(os.path.join(model_dir, 'results.json')))
    return killed_at

  def test_resume_after_sigkill_in_every_phase_equals_uninterrupted_run(self):
    # Phases: k = 8 from step 0, k = 16 from 60, full sequences from 105.
    bindings = self.bindings + [
        'run.train_steps = 150', 'run.eval_interval = 0',
        'run.keep_schedule = ((0.0, 0.25), (0.4, 0.5), (0.7, 1.0))']
    reference_dir = self.model_dir('reference')
    pu.run_train(reference_dir, bindings)

    killed_dir = self.model_dir('killed')
    for phase_start, phase_end in ((10, 60), (70, 105), (110, 150)):
      killed_at = self.kill_after_checkpoint(killed_dir, bindings, phase_start)
      self.assertLess(killed_at, phase_end)
    pu.run_train(killed_dir, bindings)
    results = json.load(open(os.path.join(killed_dir, 'results.json')))
    self.assertEqual(results['step'], 150)
    self.assertGreaterEqual(results['resumed_from_step'], 110)
    self.assertEqual(results['keep_phases'], [[0, 8], [60, 16], [105, 32]])
    ref_path, ref = read_checkpoint(reference_dir)
    got_path, got = read_checkpoint(killed_dir)
    self.assertTrue(ref_path.endswith('ckpt-150'))
    self.assertTrue(got_path.endswith('ckpt-150'))
    compared = assert_same_state(self, ref, got, self.counts(), atol=1e-5)
    # Weights, slots, the rest (the selection's three counts among them).
    self.assertEqual(compared, 60 + 2 * 58 + 5 + 3)

  # Dropout 0 (ci_tiny), warmup (5) shorter than the run, and a clip norm
  # small enough that every step is clipped.
  SPLIT_BINDINGS = ('run.train_steps = 30', 'run.eval_interval = 0',
                    'optimizer.gradient_clip_norm = 0.05')

  def counts(self):
    return variable_counts(os.path.join(self.data_dir, 'vocab.txt'))

  def assert_same_run(self, reference_dir, model_dir, steps=(10, 20, 30)):
    for step in steps:
      ref = read_checkpoint_at(reference_dir, step)
      got = read_checkpoint_at(model_dir, step)
      assert_same_state(self, ref, got, self.counts(), atol=1e-4,
                        msg=f'at step {step}')
    table = [v for k, v in got.items() if k.startswith('importance/')][0]
    self.assertLess(table.min(), 9.9)  # the table really moved.
    # Clipping was active at every step of both runs (every loop of 10
    # steps clipped all 10), so the comparison covers the clip path.
    for run_dir in (reference_dir, model_dir):
      clipped = train_scalars(run_dir, 'clipped_step_fraction')
      self.assertEqual(clipped, {10: 1.0, 20: 1.0, 30: 1.0}, run_dir)

  def one_device_reference(self):
    if not hasattr(type(self), '_reference'):
      reference_dir = self.model_dir('one_device')
      pu.run_train(reference_dir, self.bindings + list(self.SPLIT_BINDINGS))
      type(self)._reference = reference_dir
    return type(self)._reference

  def test_two_cpu_replicas_train_what_one_device_trains(self):
    model_dir = self.model_dir('mirrored')
    proc = pu.run_train(model_dir, self.bindings + list(self.SPLIT_BINDINGS),
                        extra_flags=['--strategy=mirrored',
                                     '--cpu_replicas=2'])
    self.assertIn('MirroredStrategy with 2 replica(s), global batch 8 '
                  '(4 per replica)', proc.stdout)
    self.assert_same_run(self.one_device_reference(), model_dir)

  def test_multi_worker_mirrored_two_processes(self):
    model_dir = self.model_dir('multiworker')
    procs, outputs = start_workers(
        pu.train_command(model_dir, self.bindings + list(self.SPLIT_BINDINGS),
                         extra_flags=['--strategy=multi_worker_mirrored']),
        lambda tf_config: pu.env(TF_CONFIG=tf_config))
    for p, (out, err) in zip(procs, outputs):
      self.assertEqual(p.returncode, 0, err[-5000:])
    chief = np.load(os.path.join(model_dir, 'importance.npy'))
    worker = np.load(os.path.join(model_dir, '.workers', 'worker_1',
                                  'importance.npy'))
    self.assertAllEqual(chief, worker)
    self.assertTrue(tf.train.latest_checkpoint(model_dir).endswith('ckpt-30'))
    self.assert_same_run(self.one_device_reference(), model_dir)

  def test_jit_compiled_train_step(self):
    model_dir = self.model_dir('jit')
    pu.run_train(model_dir, self.bindings + ['run.train_steps = 10',
                                             'run.jit_compile = True'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['step'], 10)

  def test_mixed_float16_pretraining_scales_the_loss(self):
    # The trainer's own LossScaleOptimizer: a start of 2**24 overflows the
    # float16 gradients, those steps are skipped (the table and weights
    # untouched) and the scale halves until steps apply.
    model_dir = self.model_dir('fp16')
    proc = pu.run_train(model_dir, self.bindings + [
        'run.train_steps = 40', 'run.eval_interval = 40',
        "run.mixed_precision = 'mixed_float16'",
        'run.initial_loss_scale = 16777216.0'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['step'], 40)
    self.assertTrue(np.isfinite(results['eval_mlm_loss']))
    scales = train_scalars(model_dir, 'loss_scale')
    self.assertEqual(sorted(scales), [10, 20, 30, 40])
    self.assertLess(scales[10], 2.0**24)  # it changed: overflows were seen.
    self.assertGreater(scales[40], 1.0)
    _, values = read_checkpoint(model_dir)
    scale = [v for k, v in values.items() if 'loss_scale' in k and
             'current' in k]
    self.assertLen(scale, 1)
    self.assertEqual(float(scale[0]), scales[40])
    # It trained: the loss fell over the run.
    losses = progress_losses(proc.stdout)
    self.assertLen(losses, 4)
    self.assertLess(losses[-1], losses[0] - 0.3)

  def test_baseline_runs_the_same_code_without_dropping(self):
    model_dir = self.model_dir('baseline')
    pu.run_train(model_dir, self.bindings + ['run.train_steps = 10',
                                             'encoder.token_drop = False'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertFalse(results['token_drop'])
    self.assertEqual(results['keep_k'], 32)
    self.assertNotIn('eval_dropped_mlm_loss', results)

  def test_nan_loss_stops_and_keeps_last_good_checkpoint(self):
    model_dir = self.model_dir('nan')
    pu.run_train(model_dir, self.bindings + ['run.train_steps = 10',
                                             'run.eval_interval = 0'])
    good_path, good = read_checkpoint(model_dir)
    proc = pu.run_train(model_dir, self.bindings + [
        'run.train_steps = 30', 'run.eval_interval = 0',
        'optimizer.learning_rate = 1e30'], check=False)
    pu.assert_clean_error(self, proc, 'The training loss became nan')
    self.assertIn('last good checkpoint', proc.stderr)
    path, values = read_checkpoint(model_dir)
    self.assertEqual(path, good_path)
    assert_same_state(self, good, values, self.counts(), atol=0)
    for value in values.values():
      self.assertTrue(np.isfinite(value).all())


class KeepScheduleTest(pu.TinyDataTestCase):

  def test_phases_follow_the_schedule(self):
    def steps(run, keep_k):
      return keep.phase_steps(
          keep.keep_phases(run, 32, keep_k), run.train_steps)

    run = pretraining.RunConfig(
        train_steps=40, keep_schedule=((0.0, 0.25), (0.55, 0.5), (0.75, 1.0)))
    keep.check_keep_schedule(run, 32)
    # One representation: fractions and kept tokens (what benchmarks time)...
    self.assertEqual(keep.keep_phases(run, 32, 16),
                     [(0.0, 8), (0.55, 16), (0.75, 32)])
    # ... placed on the run: 0.55 * 40 = 22, 0.75 * 40 = 30.
    self.assertEqual(steps(run, 16), [(0, 8), (22, 16), (30, 32)])
    # full_sequence_fraction is the two-phase special case.
    run = pretraining.RunConfig(train_steps=40, full_sequence_fraction=0.1)
    self.assertEqual(steps(run, 12), [(0, 12), (36, 32)])
    run = pretraining.RunConfig(train_steps=40, full_sequence_fraction=1.0)
    self.assertEqual(steps(run, 12), [(0, 32)])
    run = pretraining.RunConfig(train_steps=40)
    self.assertEqual(steps(run, 12), [(0, 12)])
    # Equal neighbours merge; a model without dropping has one full phase.
    run = pretraining.RunConfig(
        train_steps=40, keep_schedule=((0.0, 0.5), (0.5, 0.5), (0.8, 1.0)))
    self.assertEqual(steps(run, 16), [(0, 16), (32, 32)])
    self.assertEqual(steps(run, None), [(0, 32)])
    # A phase left without steps on a short run disappears.
    run = pretraining.RunConfig(
        train_steps=3, keep_schedule=((0.0, 0.25), (0.1, 0.5), (0.9, 1.0)))
    self.assertEqual(steps(run, 16), [(0, 16)])

  def test_bad_schedules_raise(self):
    for schedule, message in (
        (((0.1, 0.5),), 'start at fraction 0.0'),
        (((0.0, 0.5), (0.5, 0.25), (0.4, 1.0)), 'must increase'),
        (((0.0, 0.5), (1.0, 1.0)), 'below 1.0'),
        (((0.0, 0.01),), 'keeps 0 of 32'),
        (((0.0, 0.99),), 'keeps 32 of 32'),
        ((0.0, 0.5), 'pairs')):
      with self.assertRaisesRegex(ValueError, message):
        keep.check_keep_schedule(
            pretraining.RunConfig(keep_schedule=schedule), 32)
    with self.assertRaisesRegex(ValueError, 'not both'):
      keep.check_keep_schedule(pretraining.RunConfig(
          keep_schedule=((0.0, 0.5),), full_sequence_fraction=0.1), 32)

  def test_switches_k_at_the_stated_steps_one_compiled_loop_per_k(self):
    model_dir = os.path.join(self.root, 'schedule')
    pu.run_train(model_dir, self.bindings + [
        'run.train_steps = 40', 'run.eval_interval = 40',
        'run.keep_schedule = ((0.0, 0.25), (0.55, 0.5), (0.75, 1.0))',
        'run.eval_with_dropping = True'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['keep_phases'], [[0, 8], [22, 16], [30, 32]])
    self.assertEqual(results['compiled_train_loops'],
                     {'8': 1, '16': 1, '32': 1})
    # Evaluation with dropping measures the last dropping phase's k.
    self.assertIn('eval_dropped_mlm_loss', results)
    kept_fraction = {}
    for path in glob.glob(os.path.join(model_dir, 'train', 'events.*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        for v in event.summary.value:
          if v.tag == 'kept_token_fraction':
            kept_fraction[event.step] = float(tf.make_ndarray(v.tensor))
    # Steps 0-19 keep 8 of 32; the loop of steps 20-29 keeps 8 for two steps
    # and 16 for eight: (2 * 8 + 8 * 16) / (10 * 32) = 0.45; then full.
    self.assertEqual(kept_fraction, {10: 0.25, 20: 0.25, 30: 0.45, 40: 1.0})


  def test_random_ltd_trains_its_growing_schedule_without_a_table(self):
    model_dir = os.path.join(self.root, 'random_ltd')
    pu.run_train(model_dir, self.bindings + [
        'run.train_steps = 20', 'run.eval_interval = 20',
        "encoder.drop_mode = 'random_ltd'",
        'run.keep_schedule = ((0.0, 0.25), (0.5, 0.5), (0.75, 1.0))'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['keep_phases'], [[0, 8], [10, 16], [15, 32]])
    self.assertEqual(results['compiled_train_loops'],
                     {'8': 1, '16': 1, '32': 1})
    # No importance table: none trained, saved or checkpointed.
    self.assertNotIn('top_tokens', results)
    self.assertFalse(os.path.exists(os.path.join(model_dir,
                                                 'importance.npy')))
    keys = tf.train.load_checkpoint(results['checkpoint']
                                    ).get_variable_to_shape_map()
    self.assertFalse([k for k in keys if k.startswith('importance')])


class ReplicaInputTest(pu.TinyDataTestCase):
  """The input pipeline gives every replica its slice of the global batch."""

  def batches(self, strategy, global_batch, steps, is_training=True):
    data = pretraining.DataConfig(
        train_data=os.path.join(self.data_dir, 'train-*'),
        vocab_file=os.path.join(self.data_dir, 'vocab.txt'), seq_length=32,
        max_predictions_per_seq=5, shuffle_buffer_size=100)
    pattern = data.train_data if is_training else os.path.join(
        self.data_dir, 'eval-*')

    def dataset_fn(ctx):
      return td_dataloader.replica_slices(
          td_dataloader.load_dataset(pattern, data, global_batch, is_training,
                                     7),
          global_batch, ctx, pad=not is_training)

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    out = []
    for i, batch in enumerate(dataset):
      if i == steps:
        break
      parts = strategy.experimental_local_results(batch)
      self.assertLen(parts, strategy.num_replicas_in_sync)
      for part in parts:  # each replica: global / replicas sequences.
        self.assertEqual(part['input_word_ids'].shape[0],
                         global_batch // strategy.num_replicas_in_sync)
      out.append({k: np.concatenate([p[k].numpy() for p in parts])
                  for k in parts[0]})
    return out

  def test_two_replicas_see_the_one_device_batches(self):
    one = self.batches(tf.distribute.OneDeviceStrategy('/cpu:0'), 8, 6)
    two = self.batches(
        tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']), 8, 6)
    self.assertLen(two, 6)
    for a, b in zip(one, two):
      self.assertEqual(sorted(a), sorted(b))
      for key in a:
        self.assertAllEqual(a[key], b[key])

  def test_a_resumed_run_reads_on_or_reads_a_fresh_order_of_step_seed(self):
    """Both trainers' rule (`training_dataset`): resumed at step 3, the
    batches an unbroken run reads from its step 3 on; with
    resume_data_position False, those of a run seeded seed + 3 from its
    start."""
    data = pretraining.DataConfig(
        train_data=os.path.join(self.data_dir, 'train-*'),
        vocab_file=os.path.join(self.data_dir, 'vocab.txt'), seq_length=32,
        max_predictions_per_seq=5, shuffle_buffer_size=100)

    def ids(step, seed=7, resume_data_position=True, count=3):
      dataset = td_dataloader.training_dataset(data, 8, seed, step,
                                               resume_data_position)
      return [b['input_word_ids'].numpy() for b in dataset.take(count)]

    unbroken = ids(0, count=6)
    self.assertAllEqual(ids(3), unbroken[3:])
    fresh = ids(3, resume_data_position=False)
    self.assertAllEqual(fresh, ids(0, seed=10))
    self.assertNotAllEqual(fresh, unbroken[3:])

  def test_eval_pads_the_last_batch_with_weightless_rows(self):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    batches = self.batches(strategy, 8, 100, is_training=False)
    weights = np.concatenate([b['masked_lm_weights'] for b in batches])
    sequences = self.summary['eval']['sequences']
    self.assertEqual(len(weights), -(-sequences // 8) * 8)
    self.assertTrue((weights[:sequences].sum(axis=1) > 0).all())
    self.assertEqual(weights[sequences:].sum(), 0)


class BadInputTest(pu.TinyDataTestCase):
  """Each bad input: one clear error, before any work, nothing half-written."""

  def assert_fails_cleanly(self, bindings, message, data_dir=None):
    model_dir = os.path.join(self.root, 'model' + str(time.time_ns()))
    proc = pu.run_train(model_dir, pu.data_bindings(data_dir or self.data_dir)
                        + bindings, check=False)
    pu.assert_clean_error(self, proc, message)
    # Not even logs/: a refused run leaves no model dir that looks started;
    # the log the error names (once it was opened) is in the temp dir.
    self.assertFalse(os.path.exists(model_dir))
    named = re.search(r'\(the log: (\S+);', proc.stderr)
    if named:
      self.assertTrue(os.path.exists(named.group(1)), named.group(1))
      self.assertFalse(named.group(1).startswith(model_dir))
    return proc

  def copy_data(self):
    copy = os.path.join(self.root, 'copy' + str(time.time_ns()))
    shutil.copytree(self.data_dir, copy)
    return copy

  def test_missing_shard(self):
    proc = self.assert_fails_cleanly(
        [f"data.train_data = '{self.root}/nope/train-*'"],
        'No TFRecord file matches')
    self.assertIn('(the log: ', proc.stderr)

  def test_corrupt_shard(self):
    copy = self.copy_data()
    shard = sorted(glob.glob(os.path.join(copy, 'train-*')))[1]
    with open(shard, 'r+b') as f:
      f.seek(200)
      f.write(b'\x00garbage\xff' * 4)
    proc = self.assert_fails_cleanly([], 'is corrupt or unreadable', copy)
    self.assertIn(os.path.basename(shard), proc.stderr)

  def test_vocab_id_mismatch(self):
    copy = self.copy_data()
    vocab = open(os.path.join(copy, 'vocab.txt')).read().split('\n')
    with open(os.path.join(copy, 'small_vocab.txt'), 'w') as f:
      f.write('\n'.join(vocab[:40]) + '\n')
    self.assert_fails_cleanly(
        [f"data.vocab_file = '{copy}/small_vocab.txt'"],
        'but the vocab has 40 ids', copy)

  def test_seq_length_exceeds_max_positions(self):
    self.assert_fails_cleanly(['data.seq_length = 64'],
                              "exceeds the encoder's max_sequence_length=32")

  def test_record_length_differs_from_config(self):
    self.assert_fails_cleanly(['data.seq_length = 16', 'encoder.keep_k = 8'],
                              'The data was made with seq_length=32 but the '
                              'config has data.seq_length=16')
    # Records without a summary (written by other tools) are checked too.
    self.assert_fails_cleanly(['data.seq_length = 16', 'encoder.keep_k = 8',
                               'data.require_summary = False'],
                              'has length 32 but the config has seq_length=16')

  def test_misspelled_gin_binding(self):
    self.assert_fails_cleanly(['run.trian_steps = 3'], 'trian_steps')

  def test_empty_corpus(self):
    empty = os.path.join(self.root, 'empty.txt')
    open(empty, 'w').write('\n\n  \n')
    out = os.path.join(self.root, 'empty_data')
    proc = entry_points.run(
        [pu.sys.executable, '-m', 'official_td.data.create_pretraining_data',
         f'--input_files={empty}', f'--output_dir={out}',
         '--build_vocab_size=100'],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True, timeout=300)
    pu.assert_clean_error(self, proc, 'The corpus is empty')
    self.assertFalse(os.path.exists(out))
    self.assertEqual(glob.glob(os.path.join(self.root, '.tmp-empty_data*')), [])

  def test_existing_output_is_never_overwritten(self):
    before = sorted(os.listdir(self.data_dir))
    with self.assertRaisesRegex(ValueError, 'complete pretraining data'):
      pu.make_data(self.data_dir)
    self.assertEqual(sorted(os.listdir(self.data_dir)), before)


if __name__ == '__main__':
  tf.test.main()
