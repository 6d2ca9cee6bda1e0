"""Token dropping's rule in `keras.ops`: one implementation for JAX and TF.

The same rule as the Model Garden layers (`official_td.layers`), written in
backend-neutral ops because Keras 3 models cannot call TensorFlow ops on JAX:

- `TokenImportance`: the per-id moving average of the masked-LM loss
  (weighted, padded slots ignored, duplicates averaged), or the frequency and
  random ablations;
- `select`: tiers (special tokens kept, padding never ahead of a real token),
  then score, then a random tie-break; `hash_uniform` is that tie-break's
  noise as a pure function of a per-sequence seed;
- `gather` / `restore`: the kept and dropped subsets and their way back.

`tests/test_keras_hub.py` holds the two implementations together: with the
same table, ids and per-sequence seeds they keep the same positions.
"""

from typing import Optional, Sequence

import keras
from keras import ops

from official_td import keep

# Priority tiers, highest kept first (as official_td.layers.token_drop).
_TIER_ALLOW = 3
_TIER_NORMAL = 2
_TIER_DENY = 1
_TIER_PADDING = 0


def _u32(value):
  return ops.convert_to_tensor(value, 'uint32')


def _fmix32(h):
  """MurmurHash3's 32-bit finalizer (as `official_td.layers.token_drop`)."""
  h = ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))
  h = ops.multiply(h, _u32(0x85ebca6b))
  h = ops.bitwise_xor(h, ops.right_shift(h, _u32(13)))
  h = ops.multiply(h, _u32(0xc2b2ae35))
  return ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))


def hash_uniform(seeds, seq_length: int):
  """Uniform [0, 1) noise `[batch, seq_length]`, a pure function of `seeds`
  `[batch]`: the hash of (sequence seed, position)."""
  seeds = ops.cast(ops.reshape(ops.cast(seeds, 'int32'), (-1, 1)), 'uint32')
  positions = ops.cast(ops.arange(seq_length), 'uint32')[None, :]
  h = _fmix32(ops.add(_fmix32(ops.multiply(seeds, _u32(0x9e3779b9))),
                      positions))
  return ops.divide(ops.cast(ops.right_shift(h, _u32(8)), 'float32'),
                    float(1 << 24))


def _isin(token_ids, ids):
  hits = ops.equal(token_ids[..., None],
                   ops.convert_to_tensor(list(ids), 'int32'))
  return ops.any(hits, axis=-1)


def sampling_keys(log_weights, noise, temperature: float):
  """Gumbel top-k keys `log_weights / τ - log(-log(u))`, `u` the noise
  moved off 0 by 2^-25 (the Model Garden's `token_drop.sampling_keys`)."""
  u = ops.add(ops.cast(noise, 'float32'), 2.0**-25)
  return ops.subtract(ops.divide(ops.cast(log_weights, 'float32'),
                                 temperature),
                      ops.log(ops.negative(ops.log(u))))


def select(scores, padding_mask, keep_k: int, noise, token_ids=None,
           allow_ids: Sequence[int] = (), deny_ids: Sequence[int] = (),
           temperature: float = 0.0):
  """The `keep_k` positions to keep per sequence, and the others.

  Ranked by (tier, score, noise), highest first: allow-listed real tokens,
  other real tokens, deny-listed ids, padding. Equal scores are ordered by
  `noise` (`[batch, seq_length]` uniform), so ties carry no positional bias.
  With `temperature` τ > 0, `scores` are log-weights and the score key is
  `sampling_keys` (a sample without replacement, weights `exp(score / τ)`).

  Returns:
    int32 `kept_indices` `[batch, keep_k]` and `dropped_indices`
    `[batch, seq_length - keep_k]`, each in ascending position order.
  """
  scores = ops.cast(scores, 'float32')
  if temperature:
    scores = sampling_keys(scores, noise, temperature)
  real = ops.cast(padding_mask, 'bool')
  tier = ops.where(real, _TIER_NORMAL, _TIER_PADDING)
  if token_ids is not None:
    token_ids = ops.cast(token_ids, 'int32')
    if deny_ids:
      tier = ops.where(ops.logical_and(_isin(token_ids, deny_ids), real),
                       _TIER_DENY, tier)
    if allow_ids:
      tier = ops.where(ops.logical_and(_isin(token_ids, allow_ids), real),
                       _TIER_ALLOW, tier)
  # Stable sorts, least significant key first: noise (ascending), then score
  # and tier (descending, as stable ascending sorts of the negated keys).
  order = ops.argsort(noise, axis=1)
  for key in (scores, ops.cast(tier, 'float32')):
    permuted = ops.take_along_axis(key, order, axis=1)
    step = ops.argsort(ops.negative(permuted), axis=1)
    order = ops.take_along_axis(order, step, axis=1)
  order = ops.cast(order, 'int32')
  return ops.sort(order[:, :keep_k], axis=1), ops.sort(order[:, keep_k:],
                                                        axis=1)


def gather(values, indices):
  """`values` `[batch, seq_length, ...]` at `indices` `[batch, n]`."""
  expand = indices
  for _ in range(len(values.shape) - 2):
    expand = expand[..., None]
  return ops.take_along_axis(values, expand, axis=1)


def restore(kept, dropped, kept_indices, dropped_indices):
  """The kept and dropped states back in position order (one gather with
  the inverse permutation)."""
  states = ops.concatenate([kept, ops.cast(dropped, kept.dtype)], axis=1)
  positions = ops.concatenate([kept_indices, dropped_indices], axis=1)
  return gather(states, ops.cast(ops.argsort(positions, axis=1), 'int32'))


class TokenImportance(keras.layers.Layer):
  """A score per vocabulary id (the Keras 3 twin of
  `official_td.layers.TokenImportance`).

  `mlm_loss` (the paper's): the moving average of the masked-LM loss of an
  id when it was a target, `score <- beta * score + (1 - beta) * mean`, for
  the ids seen in a step. The per-id sums are over the whole batch the step
  computes: under `keras.distribution.DataParallel` on JAX that is the global
  batch (the table is replicated and every device computes the same update).
  `frequency`: counts, scored `-log(1 + count)`; `random`: a fresh uniform
  score per call (drawn from this layer's seed generator).

  The layer also owns the seed generator of the random tie-break used when a
  batch carries no `drop_seed`: the drop rule's training state lives here,
  outside the backbone's weights.
  """

  def __init__(self, vocab_size: int, mode: str = 'mlm_loss',
               beta: float = 0.995, initial_value: float = 10.0,
               seed: Optional[int] = None, **kwargs):
    kwargs.setdefault('dtype', 'float32')
    super().__init__(trainable=False, **kwargs)
    if mode not in keep.IMPORTANCE_MODES:
      raise ValueError(
          f'Unknown importance mode {mode!r}; choose one of {keep.IMPORTANCE_MODES}.')
    if not 0.0 <= beta < 1.0:
      raise ValueError(f'beta must be in [0, 1), got {beta}.')
    self.vocab_size = int(vocab_size)
    self.mode = mode
    self.beta = float(beta)
    self.initial_value = float(initial_value)
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.table = self.add_weight(
        shape=(self.vocab_size,), name='importance', trainable=False,
        initializer=keras.initializers.Constant(
            0.0 if mode == 'frequency' else self.initial_value))
    self.built = True  # its state is made here, whatever it is called on.

  def call(self, token_ids):
    if self.mode == 'random':
      return keras.random.uniform(ops.shape(token_ids),
                                  seed=self.seed_generator)
    values = ops.take(self.table.value, ops.cast(token_ids, 'int32'), axis=0)
    if self.mode == 'frequency':
      return ops.negative(ops.log1p(ops.maximum(values, 0.0)))
    return values

  def log_weights(self, scores):
    """Log sampling weights: `log(score)` (`mlm_loss`, floored at 1e-30),
    the score itself (`frequency`), as the Model Garden's."""
    if self.mode == 'random':
      raise ValueError(keep.SAMPLING_RANDOM_ERROR)
    if self.mode == 'frequency':
      return scores
    return ops.log(ops.maximum(ops.cast(scores, 'float32'), 1e-30))

  def noise(self, shape):
    """Tie-break noise for a batch without per-sequence seeds."""
    return keras.random.uniform(shape, seed=self.seed_generator)

  def update(self, token_ids, losses=None, weights=None):
    """One step's update from per-slot `losses` of `token_ids` (e.g. the
    masked-LM targets); slots with weight 0 are ignored."""
    if self.mode == 'random':
      return
    ids = ops.reshape(ops.cast(token_ids, 'int32'), (-1,))
    weights = (ops.ones_like(ids, 'float32') if weights is None else
               ops.reshape(ops.cast(weights, 'float32'), (-1,)))
    present = ops.greater(weights, 0.0)
    weights = ops.where(present, weights, 0.0)
    weight_sum = ops.segment_sum(weights, ids, num_segments=self.vocab_size)
    if self.mode == 'frequency':
      self.table.assign(ops.add(self.table.value, weight_sum))
      return
    losses = ops.reshape(ops.cast(losses, 'float32'), (-1,))
    loss_sum = ops.segment_sum(
        ops.where(present, ops.multiply(losses, weights), 0.0), ids,
        num_segments=self.vocab_size)
    seen = ops.greater(weight_sum, 0.0)
    mean = ops.divide(loss_sum, ops.where(seen, weight_sum, 1.0))
    table = self.table.value
    new = self.beta * table + (1.0 - self.beta) * mean
    self.table.assign(ops.where(seen, new, table))

  def get_config(self):
    config = super().get_config()
    config.update(vocab_size=self.vocab_size, mode=self.mode, beta=self.beta,
                  initial_value=self.initial_value)
    return config
