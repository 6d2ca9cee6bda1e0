"""Masked-LM pretraining with token dropping, driven by an orbit Controller.

The pieces are tf-models-official's: `BertEncoderV2` / `TokenDropBertEncoder`
inside `BertPretrainerV2`, `BertPretrainDataLoader` for the TFRecords, the
Model Garden AdamW with warmup and linear decay, and orbit's `Controller`
(loop, checkpoints, summaries). What is written here is what none of them
does: the token-drop step (importance update from the same step's losses),
keep schedules (the kept ratio over training, one compiled loop per k, e.g.
full sequences for the final fraction of steps), evaluation with and without
dropping, and the drop-specific summaries.

Configuration objects are plain dataclasses; `official_td.configurables`
exposes them to gin.
"""

import collections
import contextlib
import dataclasses
import math
import os
import time
from typing import Dict, List, Optional, Tuple

from absl import logging
import numpy as np
import orbit
import tensorflow as tf
import tf_keras

from official.nlp import optimization
from official.nlp.data import pretrain_dataloader
from official.nlp.modeling import models
from official.nlp.modeling import networks
from official_td import io_utils
from official_td.data import dynamic_masking
from official_td.data import summary as data_summary
from official_td.data import validate
from official_td.layers import special_tokens
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm


@dataclasses.dataclass
class EncoderConfig:
  """The encoder: BERT's shape plus the token-dropping settings.

  `token_drop=False` builds a plain `BertEncoderV2` (the baseline).
  """
  vocab_size: Optional[int] = None  # None: read from the vocab file.
  hidden_size: int = 768
  num_layers: int = 12
  num_attention_heads: int = 12
  inner_dim: int = 3072
  max_sequence_length: int = 512
  type_vocab_size: int = 2
  dropout: float = 0.1
  token_drop: bool = True
  keep_k: Optional[int] = None
  keep_ratio: Optional[float] = 0.5
  drop_start_layer: Optional[int] = None
  drop_end_layer: Optional[int] = None
  importance_mode: str = 'mlm_loss'
  importance_beta: float = 0.995
  importance_initial_value: float = 10.0


@dataclasses.dataclass
class DataConfig:
  """Pretraining TFRecords (as written by create_pretraining_data)."""
  train_data: str = ''
  eval_data: str = ''
  vocab_file: str = ''
  seq_length: int = 512
  max_predictions_per_seq: int = 76
  use_next_sentence_label: bool = False
  shuffle_buffer_size: int = 10000
  # Read from the data's data_summary.json (a directory without it is
  # refused: incomplete); set these two only with require_summary = False.
  require_summary: bool = True
  masking: str = 'static'
  masked_lm_prob: float = 0.15  # dynamic masking only.
  whole_word_masking: bool = False  # dynamic masking only.


@dataclasses.dataclass
class OptimizerConfig:
  """AdamW (weight decay 0.01, not on LayerNorm or biases), warmup, decay."""
  learning_rate: float = 1e-4
  warmup_steps: int = 10000
  end_learning_rate: float = 0.0
  gradient_clip_norm: float = 1.0  # of the all-reduced gradient; 0: off.


@dataclasses.dataclass
class RunConfig:
  """Steps, batch and bookkeeping of one run."""
  model_dir: str = ''
  train_steps: int = 1000000
  global_batch_size: int = 512
  eval_batch_size: int = 64
  eval_steps: int = -1  # -1: the whole eval set.
  eval_interval: int = 10000
  steps_per_loop: int = 1000
  checkpoint_interval: int = 10000
  max_checkpoints: int = 5
  summary_interval: int = 1000
  # The kept ratio over training, piecewise constant: ((from_fraction, ratio),
  # ...) — from this fraction of the steps on, keep this fraction of the
  # tokens in the drop window; ratio 1.0 is full sequences. Each distinct k is
  # one compiled train step. None: the encoder's keep_k / keep_ratio, then the
  # last `full_sequence_fraction` of the steps on full sequences.
  keep_schedule: Optional[Tuple[Tuple[float, float], ...]] = None
  full_sequence_fraction: float = 0.0
  eval_with_dropping: bool = True
  resume_data_position: bool = True
  mixed_precision: str = 'float32'
  jit_compile: bool = False
  seed: int = 42


def build_encoder(config: EncoderConfig, vocab_file: str):
  """The encoder for `config`; token-drop ids resolved from `vocab_file`."""
  common = plain_encoder_kwargs(config)
  if not config.token_drop:
    return networks.BertEncoderV2(**common)
  return TokenDropBertEncoder(
      keep_k=config.keep_k,
      keep_ratio=None if config.keep_k is not None else config.keep_ratio,
      drop_start_layer=config.drop_start_layer,
      drop_end_layer=config.drop_end_layer,
      importance_mode=config.importance_mode,
      importance_beta=config.importance_beta,
      importance_initial_value=config.importance_initial_value,
      vocab_file=vocab_file,
      **common)


def plain_encoder_kwargs(config: EncoderConfig) -> Dict:
  """`BertEncoderV2` arguments of `config`: what fine-tuning and export load.

  Written to `model_dir/encoder_config.json` next to `vocab.txt`, so a
  pretraining directory is self-contained, like a released BERT checkpoint.
  """
  return dict(
      vocab_size=config.vocab_size,
      hidden_size=config.hidden_size,
      num_layers=config.num_layers,
      num_attention_heads=config.num_attention_heads,
      inner_dim=config.inner_dim,
      max_sequence_length=config.max_sequence_length,
      type_vocab_size=config.type_vocab_size,
      output_dropout=config.dropout,
      attention_dropout=config.dropout)


def check_configs(encoder: EncoderConfig, data: DataConfig, run: RunConfig):
  """Fails fast, before any work, on settings that cannot work together."""
  if not run.model_dir:
    raise ValueError('Set a model directory: --model_dir=DIR.')
  if not data.train_data:
    raise ValueError('Set the training data: data.train_data = "DIR/train-*"'
                     ' (gin) — create it with create_pretraining_data.')
  if data.seq_length > encoder.max_sequence_length:
    raise ValueError(
        f'data.seq_length={data.seq_length} exceeds the encoder\'s '
        f'max_sequence_length={encoder.max_sequence_length} (its position '
        'embeddings); lower seq_length or raise max_sequence_length.')
  if not 0.0 <= run.full_sequence_fraction <= 1.0:
    raise ValueError('run.full_sequence_fraction must be in [0, 1], got '
                     f'{run.full_sequence_fraction}.')
  if run.keep_schedule is not None:
    check_keep_schedule(run, data.seq_length)
  if run.train_steps <= 0 or run.global_batch_size <= 0:
    raise ValueError('train_steps and global_batch_size must be positive.')


def check_keep_schedule(run: RunConfig, seq_length: int):
  """Raises ValueError unless `run.keep_schedule` is a usable schedule."""
  schedule = run.keep_schedule
  example = 'e.g. run.keep_schedule = ((0.0, 0.25), (0.5, 0.5), (0.9, 1.0))'
  try:
    phases = [(float(f), float(r)) for f, r in schedule]
  except (TypeError, ValueError):
    raise ValueError(
        f'run.keep_schedule={schedule!r} must be pairs (from_fraction, '
        f'keep_ratio); {example}.') from None
  if not phases or phases[0][0] != 0.0:
    raise ValueError(f'run.keep_schedule={schedule!r} must start at fraction '
                     f'0.0; {example}.')
  fractions = [f for f, _ in phases]
  if fractions != sorted(set(fractions)) or fractions[-1] >= 1.0:
    raise ValueError(
        f'run.keep_schedule={schedule!r}: the fractions must increase and stay '
        f'below 1.0; {example}.')
  for _, ratio in phases:
    k = int(round(ratio * seq_length))
    if ratio != 1.0 and not 0 < k < seq_length:
      raise ValueError(
          f'run.keep_schedule: keep ratio {ratio} keeps {k} of {seq_length} '
          f'tokens; a ratio must keep between 1 and {seq_length - 1} tokens, '
          'or be 1.0 (full sequences).')
  if run.full_sequence_fraction:
    raise ValueError(
        'Set either run.keep_schedule or run.full_sequence_fraction, not '
        'both: end the schedule with (1 - fraction, 1.0) instead.')


def keep_phases(run: RunConfig, seq_length: int,
                keep_k: Optional[int]) -> List[Tuple[int, int]]:
  """The run's keep schedule as `(first_step, kept_tokens)` phases.

  Args:
    run: the run; its `keep_schedule`, or else `full_sequence_fraction`.
    seq_length: S; a phase keeping S tokens runs full sequences.
    keep_k: the encoder's kept tokens (None: a model without dropping, one
      full-sequence phase).

  Returns:
    Phases in step order, the first at step 0; consecutive phases with the
    same k are merged and phases without steps left out.
  """
  if keep_k is None:
    return [(0, seq_length)]
  schedule = run.keep_schedule
  if schedule is None:
    schedule = ((0.0, keep_k / seq_length),
                (1.0 - run.full_sequence_fraction, 1.0))
  phases = []
  for fraction, ratio in schedule:
    start = int(round(run.train_steps * fraction))
    if start >= run.train_steps and phases:
      continue
    k = seq_length if ratio >= 1.0 else int(round(ratio * seq_length))
    if run.keep_schedule is None and ratio < 1.0:
      k = keep_k  # exactly the encoder's k (no rounding through a ratio).
    if phases and phases[-1][0] == start:
      phases[-1] = (start, k)
    elif not phases or phases[-1][1] != k:
      phases.append((start, k))
  return phases


def schedule_ratio(phases, step_s, plain_s) -> float:
  """Mean step time of a keep schedule over the plain step's.

  Args:
    phases: `((start_fraction, keep_k), ...)`; keep_k = S runs a plain step.
    step_s: seconds per step for each dropping keep_k.
    plain_s: seconds per plain (full-sequence) step.
  """
  ends = [f for f, _ in phases[1:]] + [1.0]
  total = sum((end - start) * step_s.get(k, plain_s)
              for (start, k), end in zip(phases, ends))
  return total / plain_s


def load_dataset(pattern: str, data: DataConfig, batch_size: int,
                 is_training: bool, seed: int, input_context=None,
                 masking: Optional[dynamic_masking.MaskingConfig] = None):
  """Batches of pretraining features from the records of `pattern`.

  Static (masked) records: tf-models-official's BertPretrainDataLoader.
  Unmasked records (`masking` given): `dynamic_masking.load`, which draws the
  masks while reading. `batch_size` is the global batch: the loader divides
  it by the replicas of `input_context` itself (pass None to read global
  batches).
  """
  if masking is not None:
    return dynamic_masking.load(pattern, masking, batch_size, is_training,
                                seed, data.shuffle_buffer_size)
  params = pretrain_dataloader.BertPretrainDataConfig(
      input_path=pattern,
      global_batch_size=batch_size,
      is_training=is_training,
      seq_length=data.seq_length,
      max_predictions_per_seq=data.max_predictions_per_seq,
      use_next_sentence_label=data.use_next_sentence_label,
      shuffle_buffer_size=data.shuffle_buffer_size,
      drop_remainder=is_training,
      seed=seed,
      deterministic=True,
      cycle_length=1 if not is_training else None)
  return pretrain_dataloader.BertPretrainDataLoader(params).load(input_context)


def resolve_data(data: DataConfig) -> Tuple[DataConfig, Dict]:
  """Checks the data directories' completion markers; reads the masking.

  Returns:
    `data` with `masking` (and for dynamic data the masking settings) from
    `data_summary.json`, and the train summary (empty without one).

  Raises:
    ValueError: if a directory has no summary (an interrupted creation), or
      the summary disagrees with the config.
  """
  if not data.require_summary:
    return data, {}
  summaries = {}
  for name in ('train_data', 'eval_data'):
    pattern = getattr(data, name)
    for part in filter(None, (p.strip() for p in pattern.split(','))):
      validate.match_files(part)  # a missing path is named before the summary.
      directory = os.path.dirname(part)
      summaries.setdefault(name, data_summary.read_summary(directory))
  summary = summaries['train_data']
  for name, value in (('seq_length', data.seq_length),
                      ('max_predictions_per_seq',
                       data.max_predictions_per_seq)):
    if summary.get(name, value) != value:
      raise ValueError(
          f'The data was made with {name}={summary[name]} but the config has '
          f'data.{name}={value}; set data.{name} = {summary[name]} or '
          'recreate the data.')
  masking = summary.get('masking', 'static')
  if masking == 'dynamic':
    data = dataclasses.replace(
        data, masked_lm_prob=summary['masked_lm_prob'],
        whole_word_masking=summary['whole_word_masking'])
  return dataclasses.replace(data, masking=masking), summary


def dummy_inputs(data: DataConfig) -> Dict[str, tf.Tensor]:
  """A one-sequence batch of the model's inputs, to build its variables."""
  s, p = data.seq_length, data.max_predictions_per_seq
  return dict(input_word_ids=tf.zeros((1, s), tf.int32),
              input_mask=tf.ones((1, s), tf.int32),
              input_type_ids=tf.zeros((1, s), tf.int32),
              masked_lm_positions=tf.zeros((1, p), tf.int32))


def replica_slices(dataset, global_batch_size: int, input_context=None,
                   pad: bool = False):
  """Global batches -> the per-replica batches of one input pipeline.

  Every input pipeline reads the same deterministic stream of global batches
  and keeps the slices of the replicas it feeds, in replica order (which is
  how `distribute_datasets_from_function` hands consecutive elements to a
  pipeline's replicas). Replica `r` of `R` gets rows `[r*B/R, (r+1)*B/R)` of
  global batch `B`: the examples of a step, and thus the run's math, do not
  depend on how many replicas or workers the batch is split over. (Sharding
  files per worker would read less, but then the split changes what a step
  sees.)

  Args:
    dataset: a dataset of global batches (dicts of `[B, ...]` tensors).
    global_batch_size: `B`, divisible by the replicas in sync.
    input_context: a `tf.distribute.InputContext`, or None (one replica).
    pad: pad a short final batch to `B` rows with zeros (an evaluation set
      whose size is not a multiple of `B`; padded rows have prediction
      weight 0 and count nowhere).

  Returns:
    A dataset of `[B/R, ...]` batches.
  """
  def pad_rows(batch):
    def pad_one(v):
      missing = global_batch_size - tf.shape(v)[0]
      padding = [[0, missing]] + [[0, 0]] * (len(v.shape) - 1)
      return tf.pad(v, padding)
    return tf.nest.map_structure(pad_one, batch)

  if pad:
    dataset = dataset.map(pad_rows)
  replicas = input_context.num_replicas_in_sync if input_context else 1
  if replicas == 1:
    return dataset
  per_replica = global_batch_size // replicas
  per_pipeline = replicas // input_context.num_input_pipelines
  first = input_context.input_pipeline_id * per_pipeline

  def split(batch):
    def split_one(v):
      v = tf.reshape(v, [replicas, per_replica] + v.shape[1:].as_list())
      return v[first:first + per_pipeline]
    return tf.nest.map_structure(split_one, batch)

  return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True).unbatch()


class _Sums:
  """Weighted MLM sums accumulated over a loop, readable from the host."""

  def __init__(self, prefix=''):
    self.prefix = prefix
    self.metrics = {k: tf_keras.metrics.Sum(prefix + k, dtype=tf.float32)
                    for k in ('loss_sum', 'correct_sum', 'weight_sum')}

  def update(self, sums):
    for k, m in self.metrics.items():
      m.update_state(sums[k])

  def result(self) -> Dict[str, float]:
    values = {k: float(m.result()) for k, m in self.metrics.items()}
    for m in self.metrics.values():
      m.reset_state()
    w = max(values['weight_sum'], 1e-9)
    return {self.prefix + 'mlm_loss': values['loss_sum'] / w,
            self.prefix + 'mlm_accuracy': values['correct_sum'] / w}


class Pretrainer(orbit.AbstractTrainer, orbit.AbstractEvaluator):
  """Trains and evaluates one BertPretrainerV2 under a tf.distribute strategy.

  Implements orbit's trainer and evaluator interfaces; an `orbit.Controller`
  drives it (see `run_pretraining`).
  """

  def __init__(self, strategy, encoder_config: EncoderConfig,
               data: DataConfig, optimizer_config: OptimizerConfig,
               run: RunConfig):
    self.strategy = strategy
    self.data = data
    self.run = run
    with tf.io.gfile.GFile(data.vocab_file) as f:
      self.vocab = [line.rstrip('\n') for line in f]
    if encoder_config.vocab_size is None:
      encoder_config = dataclasses.replace(encoder_config,
                                           vocab_size=len(self.vocab))
    self.encoder_config = encoder_config
    self.masking = None
    if data.masking == 'dynamic':
      self.masking = dynamic_masking.MaskingConfig(
          seq_length=data.seq_length,
          max_predictions_per_seq=data.max_predictions_per_seq,
          vocab_size=len(self.vocab), mask_id=self.vocab.index('[MASK]'),
          masked_lm_prob=data.masked_lm_prob,
          whole_word_masking=data.whole_word_masking,
          use_next_sentence_label=data.use_next_sentence_label)
    self.gradient_clip_norm = optimizer_config.gradient_clip_norm

    with strategy.scope():
      self.encoder = build_encoder(encoder_config, data.vocab_file)
      self.model = models.BertPretrainerV2(self.encoder, name='bert')
      # Create every variable now, eagerly, in the strategy's scope: the MLM
      # head is otherwise built lazily inside the first replicated step,
      # where its random initialization depends on the strategy.
      self.model(dummy_inputs(data), training=False)
      self.optimizer = optimization.create_optimizer(
          optimizer_config.learning_rate, run.train_steps,
          optimizer_config.warmup_steps, optimizer_config.end_learning_rate)
      if run.mixed_precision == 'mixed_float16':
        # float16 gradients underflow without it (bfloat16 needs none).
        self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(
            self.optimizer)
      # The optimizer's slots too: created lazily, they would make the first
      # compiled train loop trace twice (once more per k of a schedule on a
      # TPU, where each trace is a compilation).
      inner = getattr(self.optimizer, 'inner_optimizer', self.optimizer)
      inner._create_all_weights(masked_lm.trained_variables(self.model))  # pylint: disable=protected-access
      self.importance = getattr(self.encoder, 'importance', None)
      self.train_sums = _Sums()
      self.eval_sums = _Sums()
      self.eval_drop_sums = _Sums('dropped/')
    self.global_step = self.optimizer.iterations
    self.token_drop = isinstance(self.encoder, TokenDropBertEncoder)
    self.keep_k = (self.encoder.keep_k_for(data.seq_length)
                   if self.token_drop else data.seq_length)
    self.phases = keep_phases(run, data.seq_length,
                              self.keep_k if self.token_drop else None)
    # Train-loop seconds of the run so far, over restarts (checkpointed).
    self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                     name='train_seconds')
    # Compiled train loops per kept-token count (a Python count at trace
    # time: one per distinct k of the schedule).
    self.loop_traces = collections.Counter()
    if not self.token_drop:
      self.full_sequence_start = 0

    replicas = strategy.num_replicas_in_sync
    for name in ('global_batch_size', 'eval_batch_size'):
      if getattr(run, name) % replicas:
        raise ValueError(
            f'run.{name}={getattr(run, name)} is not divisible by the '
            f'{replicas} replicas; use a multiple of {replicas}.')
    self.train_iterator = None  # made at the first train(), after restore.
    self._loops = {}
    self._eval_fns = {}
    self._eval_data = None

  # ---------------------------------------------------------------- checkpoint
  def checkpoint(self) -> tf.train.Checkpoint:
    """Everything a resume needs: weights, optimizer, table, data position."""
    items = dict(model=self.model, optimizer=self.optimizer,
                 encoder=self.encoder, train_seconds=self.train_seconds)
    if self.importance is not None:
      items['importance'] = self.importance
    return tf.train.Checkpoint(**items)

  def _make_train_iterator(self):
    """The training data, positioned at the current step.

    The input pipeline is deterministic (seeded file order and shuffle), so a
    resumed run skips the batches consumed before its checkpoint and then
    sees exactly the data an uninterrupted run would. Skipping reads those
    records once; for very long runs set `run.resume_data_position=False` to
    start a fresh seeded order instead.
    """
    data, run, strategy = self.data, self.run, self.strategy
    step = int(self.global_step.numpy())
    skip = step if run.resume_data_position else 0

    def dataset_fn(ctx):
      dataset = load_dataset(
          data.train_data, data, run.global_batch_size, True,
          run.seed if skip or not step else run.seed + step,
          masking=self.masking)
      # Each step consumed one global batch (a loss-scale-skipped step too:
      # the optimizer counts it).
      dataset = dataset.skip(skip)
      return replica_slices(dataset, run.global_batch_size, ctx)

    return iter(strategy.distribute_datasets_from_function(dataset_fn))

  # --------------------------------------------------------------------- train
  def phase_at(self, step: int) -> Tuple[int, int]:
    """(kept tokens, first step of the next phase) at `step`."""
    ends = [start for start, _ in self.phases[1:]] + [self.run.train_steps]
    for (start, k), end in zip(self.phases, ends):
      if start <= step < end:
        return k, end
    return self.phases[-1][1], max(step + 1, self.run.train_steps)

  def _step_fn(self, keep_k: int):
    model, optimizer = self.model, self.optimizer
    drop = keep_k < self.data.seq_length
    importance = self.importance if drop else None
    run = self.run
    global_step = self.global_step

    def step(features):
      features = dict(features)
      if drop:
        # A seed per example from its global index: the tie-breaking draw is
        # the same after a restart and for any number of replicas.
        ctx = tf.distribute.get_replica_context()
        local = tf.shape(features['input_word_ids'])[0]
        first = (tf.cast(global_step, tf.int32) * run.global_batch_size +
                 ctx.replica_id_in_sync_group * local)
        features['drop_seed'] = first + tf.range(local) + run.seed * 1000003
      with _dropping(model, drop, keep_k):
        sums = masked_lm.train_step(model, optimizer, features, importance,
                                    self.gradient_clip_norm)
      self.train_sums.update(sums)

    if run.jit_compile:
      return tf.function(step, jit_compile=True)
    return step

  def _loop(self, keep_k: int):
    """The compiled loop of train steps keeping `keep_k` tokens."""
    if keep_k not in self._loops:
      step = self._step_fn(keep_k)
      strategy = self.strategy

      @tf.function
      def loop(iterator, num_steps):
        self.loop_traces[keep_k] += 1
        for _ in tf.range(num_steps):
          strategy.run(step, args=(next(iterator),))

      self._loops[keep_k] = loop
    return self._loops[keep_k]

  def train(self, num_steps):
    num_steps = int(num_steps)
    if self.train_iterator is None:
      self.train_iterator = self._make_train_iterator()
    start_step = int(self.global_step.numpy())
    start_time = time.time()
    remaining, kept_tokens = num_steps, 0
    while remaining:
      keep_k, phase_end = self.phase_at(int(self.global_step.numpy()))
      n = min(remaining, phase_end - int(self.global_step.numpy()))
      self._loop(keep_k)(self.train_iterator, tf.constant(n))
      remaining -= n
      kept_tokens += n * keep_k
    outputs = self.train_sums.result()
    if not math.isfinite(outputs['mlm_loss']):
      raise FloatingPointError(
          f'The training loss became {outputs["mlm_loss"]} between steps '
          f'{start_step} and {start_step + num_steps}; stopping. The last '
          'good checkpoint in the model directory is kept. Lower the '
          'learning rate, raise warmup_steps, or check the data.')
    step = int(self.global_step.numpy())
    seconds = max(time.time() - start_time, 1e-9)
    self.train_seconds.assign_add(seconds)
    outputs.update(
        learning_rate=float(self.optimizer.learning_rate(step - 1))
        if callable(self.optimizer.learning_rate) else float(
            self.optimizer.learning_rate),
        examples_per_second=num_steps * self.run.global_batch_size / seconds,
        # Of the drop window's tokens, averaged over this loop's steps.
        kept_token_fraction=kept_tokens / (num_steps * self.data.seq_length))
    self._log_progress(step, outputs, num_steps / seconds)
    if self.importance is not None:
      self._importance_summaries(step)
    return outputs

  def _log_progress(self, step, outputs, steps_per_second):
    total = self.run.train_steps
    eta = (total - step) / max(steps_per_second, 1e-9)
    phase = 'token drop' if outputs['kept_token_fraction'] < 1 else 'full'
    logging.info(
        'step %d/%d | loss %.4f | mlm acc %.4f | %.2f steps/s | ETA %s | %s',
        step, total, outputs['mlm_loss'], outputs['mlm_accuracy'],
        steps_per_second, time.strftime('%H:%M:%S', time.gmtime(eta)), phase)
    print(f'step {step}/{total}  loss {outputs["mlm_loss"]:.4f}  '
          f'acc {outputs["mlm_accuracy"]:.4f}  {steps_per_second:.2f} steps/s'
          f'  ETA {time.strftime("%H:%M:%S", time.gmtime(eta))}  [{phase}]',
          flush=True)

  def importance_table(self) -> np.ndarray:
    table = self.importance.table
    return np.asarray(self.strategy.experimental_local_results(table)[0]
                      if hasattr(table, 'values') else table.numpy())

  def top_tokens(self, n=20, bottom=False) -> List[str]:
    table = self.importance_table()
    order = np.argsort(table)
    order = order if bottom else order[::-1]
    return [f'{self.vocab[i]} ({table[i]:.3f})' for i in order[:n]]

  def _importance_summaries(self, step):
    if not tf.summary.should_record_summaries():
      return
    table = self.importance_table()
    tf.summary.histogram('importance/table', table, step=step)
    tf.summary.scalar('importance/mean', float(table.mean()), step=step)
    tf.summary.text('importance/top_tokens', ', '.join(self.top_tokens()),
                    step=step)
    tf.summary.text('importance/bottom_tokens',
                    ', '.join(self.top_tokens(bottom=True)), step=step)

  # ---------------------------------------------------------------- evaluate
  def eval_keep_k(self) -> int:
    """The k that evaluation with dropping uses: the current phase's, or
    (on full sequences) the last dropping phase's before it, or the first."""
    step = int(self.global_step.numpy())
    dropping = [(start, k) for start, k in self.phases
                if k < self.data.seq_length]
    started = [k for start, k in dropping if start <= step]
    return started[-1] if started else dropping[0][1]

  def _eval_fn(self, with_dropping: bool):
    keep_k = self.eval_keep_k() if with_dropping else None
    if (with_dropping, keep_k) not in self._eval_fns:
      model, sums = self.model, (self.eval_drop_sums if with_dropping
                                 else self.eval_sums)

      def step(features):
        with _dropping(model, with_dropping, keep_k):
          outputs = model(masked_lm.model_inputs(features), training=False)
        losses = masked_lm.mlm_slot_losses(features['masked_lm_ids'],
                                           outputs['mlm_logits'])
        sums.update(masked_lm.mlm_metrics(features, outputs['mlm_logits'],
                                          losses))

      strategy = self.strategy

      @tf.function
      def run_step(features):
        strategy.run(step, args=(features,))

      self._eval_fns[with_dropping, keep_k] = run_step
    return self._eval_fns[with_dropping, keep_k]

  # Evaluation sets up to this size (TFRecord bytes) are held in memory after
  # the first pass: later evaluations then run no input pipeline beside the
  # model.
  EVAL_CACHE_MAX_BYTES = 256 << 20

  def _eval_dataset(self):
    """The distributed eval set, built once (each pass re-iterates it)."""
    if self._eval_data is None:
      batch, steps = self.run.eval_batch_size, self.run.eval_steps
      files = validate.match_files(self.data.eval_data)
      cache = sum(tf.io.gfile.stat(f).length for f in files) <= (
          self.EVAL_CACHE_MAX_BYTES)

      def dataset_fn(ctx):
        dataset = load_dataset(self.data.eval_data, self.data, batch, False,
                               self.run.seed, masking=self.masking)
        if steps > 0:
          dataset = dataset.take(steps)
        if cache:
          dataset = dataset.cache()
        return replica_slices(dataset, batch, ctx, pad=True)

      self._eval_data = self.strategy.distribute_datasets_from_function(
          dataset_fn)
    return self._eval_data

  def evaluate(self, num_steps):
    if not self.data.eval_data:
      return {}
    variants = [False]
    if self.run.eval_with_dropping and any(
        k < self.data.seq_length for _, k in self.phases):
      variants.append(True)
    outputs = {}
    for with_dropping in variants:
      fn = self._eval_fn(with_dropping)
      for i, features in enumerate(self._eval_dataset()):
        if 0 <= num_steps <= i:
          break
        fn(features)
      sums = self.eval_drop_sums if with_dropping else self.eval_sums
      outputs.update(sums.result())
    # Beside the eval scalars (under orbit's eval writer): the train-loop
    # seconds behind this evaluation, for loss-against-time plots.
    tf.summary.scalar('train_seconds', self.train_seconds,
                      step=self.global_step)
    logging.info('eval at step %d: %s', int(self.global_step.numpy()),
                 outputs)
    print(f'eval step {int(self.global_step.numpy())}: ' + ', '.join(
        f'{k} {v:.4f}' for k, v in outputs.items()), flush=True)
    return outputs


def _dropping(model, enabled: bool, keep_k: Optional[int] = None):
  """Forces dropping on or off (keeping `keep_k` tokens) while a token-drop
  model's call is traced."""
  encoder = model.encoder_network
  if isinstance(encoder, TokenDropBertEncoder):
    return encoder.force_dropping(enabled, keep_k)
  return contextlib.nullcontext()


def _is_chief(strategy) -> bool:
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == 'chief' or (
      resolver.task_type == 'worker' and resolver.task_id == 0 and
      'chief' not in resolver.cluster_spec().as_dict())


def make_controller(trainer: Pretrainer, ckpt_dir: Optional[str],
                    chief: bool = True):
  """The orbit Controller (and its CheckpointManager) that drives `trainer`.

  `ckpt_dir=None` makes a controller that writes no checkpoint (benchmarks).
  """
  run = trainer.run
  manager = None
  if ckpt_dir is not None:
    manager = tf.train.CheckpointManager(
        trainer.checkpoint(), ckpt_dir, max_to_keep=run.max_checkpoints,
        step_counter=trainer.global_step,
        checkpoint_interval=run.checkpoint_interval)
  controller = orbit.Controller(
      strategy=trainer.strategy,
      trainer=trainer,
      evaluator=trainer if trainer.data.eval_data else None,
      global_step=trainer.global_step,
      steps_per_loop=run.steps_per_loop,
      checkpoint_manager=manager,
      summary_interval=run.summary_interval,
      summary_dir=os.path.join(run.model_dir, 'train') if chief else None,
      eval_summary_dir=os.path.join(run.model_dir, 'eval') if chief else None)
  return controller, manager


def run_pretraining(strategy, encoder_config: EncoderConfig, data: DataConfig,
                    optimizer_config: OptimizerConfig, run: RunConfig,
                    operative_config: Optional[str] = None) -> Dict:
  """Pretrains (resuming from `run.model_dir` if it holds a checkpoint).

  Args:
    strategy: a tf.distribute strategy.
    encoder_config, data, optimizer_config, run: the configuration.
    operative_config: text written to `model_dir/operative_config.gin` and to
      TensorBoard (the gin config in effect).

  Returns:
    The final results (also written to `model_dir/results.json`).
  """
  check_configs(encoder_config, data, run)
  ids = special_tokens.resolve_special_token_ids(data.vocab_file)
  if encoder_config.vocab_size and encoder_config.vocab_size != ids.vocab_size:
    raise ValueError(
        f'encoder.vocab_size={encoder_config.vocab_size} differs from the '
        f'{ids.vocab_size} entries of {data.vocab_file!r}; leave vocab_size '
        'unset to take it from the vocab.')
  encoder_config = dataclasses.replace(encoder_config,
                                       vocab_size=ids.vocab_size)
  data, _ = resolve_data(data)
  for pattern in filter(None, (data.train_data, data.eval_data)):
    validate.validate_pretraining_data(
        pattern, data.seq_length, data.max_predictions_per_seq,
        ids.vocab_size, data.use_next_sentence_label, masking=data.masking)
  tf_keras.mixed_precision.set_global_policy(run.mixed_precision)
  tf_keras.utils.set_random_seed(run.seed)
  chief = _is_chief(strategy)
  tf.io.gfile.makedirs(run.model_dir)
  ckpt_dir = run.model_dir
  if not chief:
    resolver = strategy.cluster_resolver
    ckpt_dir = os.path.join(run.model_dir, '.workers',
                            f'{resolver.task_type}_{resolver.task_id}')

  trainer = Pretrainer(strategy, encoder_config, data, optimizer_config, run)
  controller, manager = make_controller(trainer, ckpt_dir, chief)
  if operative_config is not None and chief:
    with tf.io.gfile.GFile(os.path.join(run.model_dir,
                                        'operative_config.gin'), 'w') as f:
      f.write(operative_config)
    with tf.summary.create_file_writer(
        os.path.join(run.model_dir, 'train')).as_default():
      tf.summary.text('operative_config',
                      '\n'.join('    ' + l for l in
                                operative_config.splitlines()), step=0)

  start = time.time()
  start_step = int(trainer.global_step.numpy())
  eval_results = {}
  if trainer.global_step.numpy() < run.train_steps:
    if data.eval_data and run.eval_interval > 0:
      eval_results = controller.train_and_evaluate(
          run.train_steps, run.eval_steps, run.eval_interval) or {}
    else:
      controller.train(run.train_steps)
  if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(
      f'-{run.train_steps}'):
    manager.save(checkpoint_number=trainer.global_step, check_interval=False)
  if data.eval_data and not eval_results:
    eval_results = trainer.evaluate(run.eval_steps)
  results = dict(
      step=int(trainer.global_step.numpy()),
      resumed_from_step=start_step,
      seconds=round(time.time() - start, 1),
      train_seconds=round(float(trainer.train_seconds.numpy()), 2),
      token_drop=trainer.token_drop,
      keep_k=trainer.keep_k,
      keep_phases=[list(p) for p in trainer.phases],
      compiled_train_loops={str(k): n for k, n in
                            sorted(trainer.loop_traces.items())},
      seq_length=data.seq_length,
      checkpoint=manager.latest_checkpoint,
      tensorboard=run.model_dir,
      **{f'eval_{k.replace("/", "_")}': v for k, v in eval_results.items()})
  if trainer.importance is not None:
    with tf.io.gfile.GFile(os.path.join(ckpt_dir, 'importance.npy'),
                           'wb') as f:
      np.save(f, trainer.importance_table())
    results['top_tokens'] = trainer.top_tokens(10)
    results['bottom_tokens'] = trainer.top_tokens(10, bottom=True)
  if chief:
    # What fine-tuning loads first; `results.json`, the mark of a finished
    # run, last and whole.
    io_utils.write_json(os.path.join(run.model_dir, 'encoder_config.json'),
                        plain_encoder_kwargs(trainer.encoder_config))
    vocab_copy = os.path.join(run.model_dir, 'vocab.txt')
    if os.path.abspath(vocab_copy) != os.path.abspath(data.vocab_file):
      tf.io.gfile.copy(data.vocab_file, vocab_copy, overwrite=True)
    io_utils.write_json(os.path.join(run.model_dir, 'results.json'), results)
  return results
