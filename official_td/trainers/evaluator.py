"""Evaluation of a pretraining run: held-out MLM loss, with and without drop.

A mixin of `Pretrainer` (orbit's evaluator interface). Evaluation runs full
sequences (what fine-tuning and serving see) and, for a token-drop run, also
with dropping at the latest dropping phase's k (the model as it trains).
"""

import contextlib
from typing import Dict, Optional

from absl import logging
import orbit
import tensorflow as tf
import tf_keras

from official_td.input import pretrain_dataloader
from official_td.input import validate
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm


class MlmSums:
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


def dropping(model, enabled: bool, keep_k: Optional[int] = None):
  """Forces dropping on or off (keeping `keep_k` tokens) while a token-drop
  model's call is traced."""
  encoder = model.encoder_network
  if isinstance(encoder, TokenDropBertEncoder):
    return encoder.force_dropping(enabled, keep_k)
  return contextlib.nullcontext()


class PretrainEvaluator(orbit.AbstractEvaluator):
  """Evaluates `self.model` (set up by `Pretrainer`) on `data.eval_data`."""

  def eval_keep_k(self) -> int:
    """The k that evaluation with dropping uses: the current phase's, or
    (on full sequences) the last dropping phase's before it, or the first."""
    step = int(self.global_step.numpy())
    dropping_phases = [(start, k) for start, k in self.phases
                       if k < self.data.seq_length]
    started = [k for start, k in dropping_phases if start <= step]
    return started[-1] if started else dropping_phases[0][1]

  def _eval_fn(self, with_dropping: bool):
    keep_k = self.eval_keep_k() if with_dropping else None
    if (with_dropping, keep_k) not in self._eval_fns:
      model, sums = self.model, (self.eval_drop_sums if with_dropping
                                 else self.eval_sums)

      def step(features):
        with dropping(model, with_dropping, keep_k):
          outputs = model(masked_lm.model_inputs(features), training=False)
        losses = masked_lm.mlm_slot_losses(features['masked_lm_ids'],
                                           outputs['mlm_logits'])
        sums.update(masked_lm.mlm_metrics(features, outputs['mlm_logits'],
                                          losses))

      strategy = self.strategy

      @tf.function(autograph=False)  # as the train loop (no control flow).
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
        dataset = pretrain_dataloader.load_dataset(self.data.eval_data, self.data, batch, False,
                               self.run.seed, masking=self.masking)
        if steps > 0:
          dataset = dataset.take(steps)
        if cache:
          dataset = dataset.cache()
        return pretrain_dataloader.replica_slices(dataset, batch, ctx,
                                                  pad=True)

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
        f'{k} {v:.4f}' for k, v in outputs.items()), file=self.console,
          flush=True)
    return outputs
