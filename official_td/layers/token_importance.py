"""TokenImportance: a per-vocabulary importance score for token dropping."""

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from official_td import keep

MODES = keep.IMPORTANCE_MODES


@tf_keras.utils.register_keras_serializable(package='OfficialTD')
class TokenImportance(tf_keras.layers.Layer):
  """A non-trainable score per vocabulary id, used to pick the tokens to keep.

  In `mlm_loss` mode (the paper's choice) the score of an id is an exponential
  moving average of the masked-LM loss observed when that id was a prediction
  target: `score <- beta * score + (1 - beta) * mean_loss(id)`, applied only to
  ids seen in the step. Ids that are hard to predict score high and are kept.

  The update is exact under data parallelism: per-id sums of `loss * weight`
  and of `weight` are all-reduced across replicas before the single moving
  average step, so duplicates are averaged over the *global* batch, slots with
  weight 0 (padded predictions) are ignored, and every replica holds the same
  table.

  Ablation modes:
    * `frequency`: the table holds token counts, from `initial_counts` and/or
      accumulated by `update` (weights are the counts added); the score is
      `-log(1 + count)`, so rarer ids score higher.
    * `random`: a fresh uniform score per call; `update` does nothing.

  Args:
    vocab_size: number of vocabulary ids.
    mode: one of `mlm_loss`, `frequency`, `random`.
    beta: moving-average decay of `mlm_loss` mode.
    initial_value: initial score of every id in `mlm_loss` mode.
    initial_counts: optional `[vocab_size]` counts for `frequency` mode.
    seed: optional op seed for `random` mode.
    **kwargs: passed to `tf_keras.layers.Layer`.

  Call arguments:
    token_ids: int `[batch, seq_length]` ids.

  Returns:
    float32 `[batch, seq_length]` scores.
  """

  def __init__(self,
               vocab_size: int,
               mode: str = 'mlm_loss',
               beta: float = 0.995,
               initial_value: float = 10.0,
               initial_counts: Optional[Sequence[float]] = None,
               seed: Optional[int] = None,
               **kwargs):
    kwargs.setdefault('dtype', 'float32')
    kwargs.setdefault('trainable', False)
    super().__init__(**kwargs)
    if mode not in MODES:
      raise ValueError(
          f'Unknown importance mode {mode!r}; choose one of {MODES}.')
    if vocab_size <= 0:
      raise ValueError(f'vocab_size must be positive, got {vocab_size}.')
    if not 0.0 <= beta < 1.0:
      raise ValueError(f'beta must be in [0, 1), got {beta}.')
    if initial_counts is not None:
      initial_counts = [float(c) for c in np.asarray(initial_counts).ravel()]
      if len(initial_counts) != vocab_size:
        raise ValueError(
            f'initial_counts has {len(initial_counts)} entries but vocab_size '
            f'is {vocab_size}; pass one count per vocabulary id.')
    self.vocab_size = int(vocab_size)
    self.mode = mode
    self.beta = float(beta)
    self.initial_value = float(initial_value)
    self.initial_counts = initial_counts
    self.seed = seed

  def build(self, input_shape=None):
    if self.mode == 'frequency':
      init = (tf_keras.initializers.Constant(self.initial_counts)
              if self.initial_counts is not None else 'zeros')
    else:
      init = tf_keras.initializers.Constant(self.initial_value)
    # ONLY_FIRST_REPLICA: every replica computes the same all-reduced value,
    # and the mirrored copies are written from one of them.
    self.table = self.add_weight(
        name='importance',
        shape=[self.vocab_size],
        dtype=tf.float32,
        initializer=init,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_WRITE,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    super().build(input_shape)

  def call(self, token_ids):
    token_ids = tf.cast(token_ids, tf.int32)
    if self.mode == 'random':
      return tf.random.uniform(tf.shape(token_ids), seed=self.seed)
    values = tf.gather(self.table, token_ids)
    if self.mode == 'frequency':
      return -tf.math.log1p(tf.maximum(values, 0.0))
    return values

  def log_weights(self, scores):
    """The log of each position's sampling weight (`TokenDrop`'s
    `sampling_temperature`): `log(score)` of the `mlm_loss` table (a loss,
    positive; floored at 1e-30), the score itself in `frequency` mode
    (`-log(1 + count)`: weights `(1 + count)^-1`)."""
    if self.mode == 'random':
      raise ValueError(keep.SAMPLING_RANDOM_ERROR)
    if self.mode == 'frequency':
      return scores
    return tf.math.log(tf.maximum(tf.cast(scores, tf.float32), 1e-30))

  def update(self, token_ids, losses=None, weights=None):
    """Updates the table from one step's observations.

    Must be called in replica context (inside `strategy.run`) or without a
    strategy; the sums are all-reduced over the replicas in sync.

    Args:
      token_ids: int `[...]` ids, e.g. `masked_lm_ids` `[batch, predictions]`.
      losses: float `[...]` per-slot MLM loss (ignored in `frequency` and
        `random` modes).
      weights: float `[...]` per-slot weights; 0 marks a padded slot. Defaults
        to ones.

    Returns:
      The update op (or a no-op in `random` mode).
    """
    if not self.built:
      self.build(None)
    if self.mode == 'random':
      return tf.no_op()
    # 1. Flatten and drop padded slots (their loss may be anything, even NaN).
    ids = tf.reshape(tf.cast(token_ids, tf.int32), [-1])
    if weights is None:
      weights = tf.ones_like(ids, tf.float32)
    weights = tf.reshape(tf.cast(weights, tf.float32), [-1])
    present = weights > 0.0
    weights = tf.where(present, weights, 0.0)
    # 2. Per-id sums over the local batch (duplicates add up, not overwrite).
    weight_sum = tf.math.unsorted_segment_sum(weights, ids, self.vocab_size)
    if self.mode == 'frequency':
      (weight_sum,) = _all_reduce_sum([weight_sum])
      return self.table.assign_add(weight_sum)
    losses = tf.reshape(tf.cast(losses, tf.float32), [-1])
    weighted = tf.where(present, losses * weights, 0.0)
    loss_sum = tf.math.unsorted_segment_sum(weighted, ids, self.vocab_size)
    # 3. Sum over replicas: the global batch's per-id sums.
    loss_sum, weight_sum = _all_reduce_sum([loss_sum, weight_sum])
    # 4. One moving-average step for the ids that were seen.
    seen = weight_sum > 0.0
    mean = loss_sum / tf.where(seen, weight_sum, 1.0)
    new = self.beta * self.table + (1.0 - self.beta) * mean
    return self.table.assign(tf.where(seen, new, self.table))

  def get_config(self):
    config = super().get_config()
    config.update({
        'vocab_size': self.vocab_size,
        'mode': self.mode,
        'beta': self.beta,
        'initial_value': self.initial_value,
        'initial_counts': self.initial_counts,
        'seed': self.seed,
    })
    return config


def _all_reduce_sum(values):
  """Sums `values` over the replicas in sync (identity without a strategy)."""
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return list(values)
  return ctx.all_reduce(tf.distribute.ReduceOp.SUM, list(values))
