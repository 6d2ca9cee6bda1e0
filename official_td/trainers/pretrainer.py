"""The pretraining trainer: orbit's trainer and evaluator for masked-LM BERT.

As the Model Garden's `base_trainer.Trainer`: it owns the model, optimizer,
metrics, checkpoint and the compiled loops; the single-replica step is
`official_td.tasks.masked_lm.train_step`; `official_td.train_lib` drives it
with an `orbit.Controller`. What is specific to token dropping: one compiled
train loop per kept-token count of the keep schedule (a switch lands at its
exact step), the importance table's summaries, and evaluation both on full
sequences (what fine-tuning sees) and with dropping.
"""

import collections
import dataclasses
import math
import sys
import time
from typing import Dict, List, Tuple

from absl import logging
import numpy as np
import orbit
import tensorflow as tf
import tf_keras

from official_td import keep
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.configs.encoders import EncoderConfig
from official_td.configs.pretraining import DataConfig
from official_td.configs.pretraining import OptimizerConfig
from official_td.configs.pretraining import RunConfig
from official_td.input import pretrain_dataloader
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm
from official_td.trainers import evaluator
from official_td.trainers import selection as selection_lib


class Pretrainer(orbit.AbstractTrainer, evaluator.PretrainEvaluator):
  """Trains and evaluates one BertPretrainerV2 under a tf.distribute strategy.

  Implements orbit's trainer and evaluator interfaces; an `orbit.Controller`
  drives it (see `run_pretraining`).
  """

  def __init__(self, strategy, encoder_config: EncoderConfig,
               data: DataConfig, optimizer_config: OptimizerConfig,
               run: RunConfig):
    self.strategy = strategy
    self.console = sys.stdout  # where progress lines go (see train_lib).
    self.data = data
    self.run = run
    self.vocab = vocab_lib.load_vocab(data.vocab_file)
    if encoder_config.vocab_size is None:
      encoder_config = dataclasses.replace(encoder_config,
                                           vocab_size=len(self.vocab))
    self.encoder_config = encoder_config
    self.masking = pretrain_dataloader.masking_config(data, self.vocab)
    self.gradient_clip_norm = optimizer_config.gradient_clip_norm

    with strategy.scope():
      self.encoder = encoders.build_encoder(encoder_config, data.vocab_file)
      self.model = encoders.build_pretrainer(
          self.encoder, self.encoder_config.inner_activation)
      # Create every variable now, eagerly, in the strategy's scope: the MLM
      # head is otherwise built lazily inside the first replicated step,
      # where its random initialization depends on the strategy.
      self.model(pretrain_dataloader.dummy_inputs(data), training=False)
      self.optimizer = pretraining.build_optimizer(optimizer_config,
                                                   run.train_steps)
      if run.mixed_precision == 'mixed_float16':
        # float16 gradients underflow without it (bfloat16 needs none).
        self.optimizer = tf_keras.mixed_precision.LossScaleOptimizer(
            self.optimizer, initial_scale=run.initial_loss_scale)
      # The optimizer's slots too: created lazily, they would make the first
      # compiled train loop trace twice (once more per k of a schedule on a
      # TPU, where each trace is a compilation).
      inner = getattr(self.optimizer, 'inner_optimizer', self.optimizer)
      inner._create_all_weights(masked_lm.trained_variables(self.model))  # pylint: disable=protected-access
      self.importance = getattr(self.encoder, 'importance', None)
      self.train_sums = evaluator.MlmSums()
      # Per step, averaged over a loop: the all-reduced gradient's norm
      # before clipping and the fraction of steps that clipping changed.
      self.step_means = {
          name: tf_keras.metrics.Mean(name, dtype=tf.float32)
          for name in ('gradient_norm', 'clipped_step_fraction')}
      # The consistency steps' mean KL (run.consistency_weight > 0).
      self.consistency_kl = tf_keras.metrics.Mean('consistency_kl',
                                                  dtype=tf.float32)
      self.eval_sums = evaluator.MlmSums()
      self.eval_drop_sums = evaluator.MlmSums('dropped/')
      self.token_drop = isinstance(self.encoder, TokenDropBertEncoder)
      # What the selection did, over the run (`selection.py`).
      self.selection = (selection_lib.SelectionStats(len(self.vocab))
                        if self.importance is not None else None)
    self.global_step = self.optimizer.iterations
    keep_k = keep.encoder_keep_k(encoder_config, data.seq_length)
    self.keep_k = data.seq_length if keep_k is None else keep_k
    # The keep schedule: fractions (what benchmarks time), then steps.
    self.phase_fractions = keep.keep_phases(run, data.seq_length,
                                            keep_k)
    self.phases = keep.phase_steps(self.phase_fractions,
                                   run.train_steps)
    # Train-loop seconds of the run so far, over restarts (checkpointed).
    self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                     name='train_seconds')
    # Consistency steps of the run so far (checkpointed with the loss on).
    self.consistency_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                         name='consistency_steps')
    # Compiled train loops by `loop_name` (a Python count at trace time: one
    # per distinct k of the schedule, and one more per dropping k with the
    # consistency loss).
    self.loop_traces = collections.Counter()

    replicas = strategy.num_replicas_in_sync
    for name in ('global_batch_size', 'eval_batch_size'):
      if getattr(run, name) % replicas:
        raise ValueError(
            f'run.{name}={getattr(run, name)} is not divisible by the '
            f'{replicas} replicas; use a multiple of {replicas}.')
    self.train_iterator = None  # made at the first train(), after restore.
    self._loops = {}
    self._compiled = set()
    self.compile_seconds = 0.0  # this process's, over all k.
    self._eval_fns = {}
    self._eval_data = None

  # ---------------------------------------------------------------- checkpoint
  def checkpoint(self) -> tf.train.Checkpoint:
    """Everything a resume needs: weights, optimizer, table, data position."""
    items = dict(model=self.model, optimizer=self.optimizer,
                 encoder=self.encoder, train_seconds=self.train_seconds)
    if self.importance is not None:
      items['importance'] = self.importance
    if self.consistency:
      items['consistency_steps'] = self.consistency_steps
    if self.selection is not None:
      items['selection'] = self.selection
    return tf.train.Checkpoint(**items)

  def _make_train_iterator(self):
    """The training data, positioned at the current step
    (`pretrain_dataloader.training_dataset`: a resumed run reads on where it
    stopped, or a fresh seeded order with `run.resume_data_position=False`)."""
    data, run, strategy = self.data, self.run, self.strategy
    step = int(self.global_step.numpy())

    def dataset_fn(ctx):
      dataset = pretrain_dataloader.training_dataset(
          data, run.global_batch_size, run.seed, step,
          run.resume_data_position, self.masking)
      return pretrain_dataloader.replica_slices(dataset,
                                                run.global_batch_size, ctx)

    return iter(strategy.distribute_datasets_from_function(dataset_fn))

  # --------------------------------------------------------------------- train
  def phase_at(self, step: int) -> Tuple[int, int]:
    """(kept tokens, first step of the next phase) at `step`."""
    ends = [start for start, _ in self.phases[1:]] + [self.run.train_steps]
    for (start, k), end in zip(self.phases, ends):
      if start <= step < end:
        return k, end
    return self.phases[-1][1], max(step + 1, self.run.train_steps)

  @property
  def consistency(self) -> bool:
    """Whether token-drop steps add the consistency loss every
    `run.consistency_every` steps."""
    return self.token_drop and self.run.consistency_weight > 0

  def is_consistency_step(self, step: int, keep_k: int) -> bool:
    """Whether the step numbered `step` (0-based) adds the consistency loss:
    every `run.consistency_every`-th step that drops tokens."""
    return (self.consistency and keep_k < self.data.seq_length and
            step % self.run.consistency_every == 0)

  @staticmethod
  def loop_name(keep_k: int, consistency: bool = False) -> str:
    """The name of k's compiled loop in `loop_traces` (and the run's results)."""
    return f'{keep_k}+consistency' if consistency else str(keep_k)

  def train_step_fn(self, keep_k: int, consistency: bool = False):
    """The replica step keeping `keep_k` tokens (S: the plain step); with
    `consistency`, the step that also adds the consistency loss."""
    model, optimizer = self.model, self.optimizer
    drop = keep_k < self.data.seq_length
    importance = self.importance if drop else None
    run = self.run
    global_step = self.global_step
    consistency_weight = run.consistency_weight if consistency else 0.0

    def step(features):
      features = dict(features)
      if drop:
        # A seed per example from its global index: the tie-breaking draw is
        # the same after a restart and for any number of replicas.
        ctx = tf.distribute.get_replica_context()
        local = tf.shape(features['input_word_ids'])[0]
        first = (tf.cast(global_step, tf.int32) * run.global_batch_size +
                 ctx.replica_id_in_sync_group * local)
        features['drop_seed'] = keep.drop_seeds(first, tf.range(local),
                                                run.seed)
        if self.selection is not None:  # (the table before this update)
          self.selection.update(features['input_word_ids'],
                                self.encoder.select(
                                    features['input_word_ids'],
                                    features['input_mask'],
                                    features['drop_seed'], keep_k))
      with evaluator.dropping(model, drop, keep_k):
        sums = masked_lm.train_step(model, optimizer, features, importance,
                                    self.gradient_clip_norm,
                                    consistency_weight,
                                    run.consistency_layers)
      self.train_sums.update(sums)
      if consistency_weight:
        self.consistency_kl.update_state(sums['consistency_kl'])
      self.step_means['gradient_norm'].update_state(sums['gradient_norm'])
      self.step_means['clipped_step_fraction'].update_state(sums['clipped'])

    if run.jit_compile:
      return tf.function(step, jit_compile=True)
    return step

  def train_loop(self, keep_k: int, consistency: bool = False):
    """The compiled loop of train steps keeping `keep_k` tokens (with
    `consistency`: of consistency steps)."""
    name = self.loop_name(keep_k, consistency)
    if name not in self._loops:
      step = self.train_step_fn(keep_k, consistency)
      strategy = self.strategy

      # Without AutoGraph: the step's code (ours, the Model Garden's, Keras')
      # has no Python control flow on tensors, and converting it costs
      # seconds of start-up per loop; the loop is a plain tf.while_loop.
      @tf.function(autograph=False)
      def loop(iterator, num_steps):
        self.loop_traces[name] += 1

        def body(i):
          strategy.run(step, args=(next(iterator),))
          return i + 1

        tf.while_loop(lambda i: i < num_steps, body, [tf.constant(0)])

      self._loops[name] = loop
    return self._loops[name]

  def compile_train_loop(self, keep_k: int, consistency: bool = False) -> float:
    """Traces and instantiates k's loop (running no step); its seconds.

    Returns 0.0 when that loop is already compiled. The first call of a
    `tf.function` traces the Python and optimizes the graph (on a TPU, an XLA
    compilation): a one-off cost per k, kept out of the timed steps.
    """
    name = self.loop_name(keep_k, consistency)
    if name in self._compiled:
      return 0.0
    if self.train_iterator is None:
      self.train_iterator = self._make_train_iterator()
    start = time.time()
    self.train_loop(keep_k, consistency)(self.train_iterator, tf.constant(0))
    self._compiled.add(name)
    seconds = time.time() - start
    self.compile_seconds += seconds
    return seconds

  def train(self, num_steps):
    num_steps = int(num_steps)
    if self.train_iterator is None:
      self.train_iterator = self._make_train_iterator()
    start_step = int(self.global_step.numpy())
    start_time = time.time()
    remaining, kept_tokens = num_steps, 0
    compile_seconds = 0.0
    while remaining:
      step = int(self.global_step.numpy())
      keep_k, phase_end = self.phase_at(step)
      n = min(remaining, phase_end - step)
      consistency = self.is_consistency_step(step, keep_k)
      if consistency:
        n = 1
      elif self.consistency and keep_k < self.data.seq_length:
        # Up to the next consistency step.
        every = self.run.consistency_every
        n = min(n, every - step % every)
      compile_seconds += self.compile_train_loop(keep_k, consistency)
      self.train_loop(keep_k, consistency)(self.train_iterator,
                                           tf.constant(n))
      if consistency:
        self.consistency_steps.assign_add(1)
      remaining -= n
      kept_tokens += n * keep_k
    outputs = self.train_sums.result()
    for name, mean in self.step_means.items():
      outputs[name] = float(mean.result())
      mean.reset_state()
    if self.consistency and float(self.consistency_kl.count) > 0:
      # (Loops of the full-sequence phases have no consistency step.)
      outputs['consistency_kl'] = float(self.consistency_kl.result())
      self.consistency_kl.reset_state()
    if hasattr(self.optimizer, 'loss_scale'):
      outputs['loss_scale'] = float(self.optimizer.loss_scale)
    if not math.isfinite(outputs['mlm_loss']):
      raise FloatingPointError(
          f'The training loss became {outputs["mlm_loss"]} between steps '
          f'{start_step} and {start_step + num_steps}; stopping. The last '
          'good checkpoint in the model directory is kept. Lower the '
          'learning rate, raise warmup_steps, or check the data.')
    step = int(self.global_step.numpy())
    # Train-loop seconds: the steps, without the one-off compilation of a
    # k's loop (counted in `compile_seconds`): what a step-time benchmark
    # predicts, and what grows with the number of steps.
    seconds = max(time.time() - start_time - compile_seconds, 1e-9)
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
          file=self.console, flush=True)

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
    for name, value in self.selection_summary().items():
      if isinstance(value, (int, float)):
        tf.summary.scalar(f'selection/{name}', value, step=step)

  def selection_summary(self) -> Dict:
    """What the selection did so far (`selection.summarize`)."""
    if self.selection is None:
      return {}
    return self.selection.summary(self.strategy, self.importance_table())
