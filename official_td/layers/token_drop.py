"""TokenDrop: picks the positions that the middle layers keep."""

from typing import Optional, Sequence

import tensorflow as tf
import tf_keras

from official_td import keep
from official_td import vocab as vocab_lib

# Priority tiers, highest kept first. Scores only order positions *within* a
# tier, so no table value can move padding ahead of a real token.
_TIER_ALLOW = 3
_TIER_NORMAL = 2
_TIER_DENY = 1
_TIER_PADDING = 0


@tf_keras.utils.register_keras_serializable(package='OfficialTD')
class TokenDrop(tf_keras.layers.Layer):
  """Selects `keep_k` positions per sequence from per-position scores.

  Positions are ranked by tier first, then by score, then at random:
    1. allow-listed ids that are real tokens (`[CLS]`, `[SEP]`, `[MASK]`,
       `[UNK]` by default) — always kept while they fit in `keep_k`;
    2. other real tokens, by descending score;
    3. deny-listed ids (`[PAD]` by default), then padding positions
       (`input_mask == 0`) — only kept when fewer than `keep_k` real tokens
       exist.
  Equal scores are ordered by a random permutation, so ties (every id starts
  with the same importance; repeated ids share one) are an unbiased choice,
  not a bias towards the start of the sequence.

  The tiers are enforced at every call, independent of the importance table.

  With `sampling_temperature` τ > 0 the real tokens of tier 2 are not the
  top-k by score but a sample without replacement, position `i` drawn with
  probability proportional to `exp(scores_i / τ)` (Gumbel top-k: the keys
  `scores / τ + Gumbel noise`, the noise from the same per-sequence seeds).
  Pass log-weights as `scores` (`TokenImportance.log_weights`): τ = 1
  samples in proportion to the importance, τ → 0 is the top-k, τ → ∞
  uniform. The tiers hold as before.

  Args:
    keep_k: static number of positions to keep per sequence.
    allow_ids: ids that are always kept (if they fit).
    deny_ids: ids that are never kept ahead of another real token.
    seed: optional op seed of the tie-breaking permutation when no per-call
      `seed` is given.
    sampling_temperature: 0 (the top-k by score) or τ > 0 (a sample, see
      above).
    **kwargs: passed to `tf_keras.layers.Layer`.

  Call arguments:
    scores: float `[batch, seq_length]` importance of each position.
    input_mask: int `[batch, seq_length]`, 1 for real tokens, 0 for padding.
    token_ids: optional int `[batch, seq_length]`; needed when `allow_ids` or
      `deny_ids` are set.
    seed: optional int `[batch]` seed per sequence for the tie-breaking
      permutation. The permutation of a sequence is then a pure function of
      its seed: reproducible across restarts and independent of how the batch
      is split over replicas. Without it, a stateful random op is used.
    keep_k: optional static override of the constructor's `keep_k`.

  Returns:
    A dict with int32 `kept_indices` `[batch, keep_k]` and `dropped_indices`
    `[batch, seq_length - keep_k]`, each in ascending position order; bool
    `scorable` `[batch, seq_length]`, the real tokens that are neither
    allow- nor deny-listed (ranked by score); and int32 `scored_slots`
    `[batch]`, the kept slots the score decided (the scorable tokens kept
    when not all of them fit; 0 when the tiers decided every slot).
  """

  def __init__(self,
               keep_k: int,
               allow_ids: Sequence[int] = (),
               deny_ids: Sequence[int] = (),
               seed: Optional[int] = None,
               sampling_temperature: float = 0.0,
               **kwargs):
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    self.check_sequence_length(None, int(keep_k))
    self.keep_k = int(keep_k)
    self.allow_ids = tuple(int(i) for i in allow_ids)
    self.deny_ids = tuple(int(i) for i in deny_ids)
    overlap = set(self.allow_ids) & set(self.deny_ids)
    if overlap:
      raise ValueError(
          f'Ids {sorted(overlap)} are both allow- and deny-listed; '
          'remove them from one of the lists.')
    self.seed = seed
    self.sampling_temperature = keep.check_sampling_temperature(
        sampling_temperature)

  @classmethod
  def from_vocab(cls, vocab_file: str, keep_k: int, **kwargs) -> 'TokenDrop':
    """Builds a TokenDrop whose special ids are resolved from `vocab_file`."""
    ids = vocab_lib.resolve_special_token_ids(vocab_file)
    return cls(keep_k, allow_ids=ids.allow_ids, deny_ids=ids.deny_ids,
               **kwargs)

  def check_sequence_length(self, seq_length: Optional[int], keep_k: int):
    """Raises if `keep_k` does not fit a static `seq_length`."""
    if keep_k <= 0:
      raise ValueError(
          f'keep_k must be a positive number of tokens, got {keep_k}.')
    if seq_length is not None and keep_k > seq_length:
      raise ValueError(
          f'keep_k={keep_k} exceeds the sequence length {seq_length}; '
          'set keep_k (or keep_ratio) so that fewer tokens are kept than the '
          'sequence holds.')

  def call(self, scores, input_mask, token_ids=None, seed=None, keep_k=None):
    keep_k = self.keep_k if keep_k is None else int(keep_k)
    self.check_sequence_length(scores.shape[1], keep_k)
    if (self.allow_ids or self.deny_ids) and token_ids is None:
      raise ValueError('token_ids are required when allow_ids or deny_ids '
                       'are set.')
    scores = tf.cast(scores, tf.float32)
    batch_size, seq_length = tf.shape(scores)[0], tf.shape(scores)[1]
    real = tf.cast(input_mask, tf.bool)

    # 1. Tier of every position.
    tier = tf.where(real, _TIER_NORMAL, _TIER_PADDING)
    if token_ids is not None:
      token_ids = tf.cast(token_ids, tf.int32)
      if self.deny_ids:
        denied = _isin(token_ids, self.deny_ids) & real
        tier = tf.where(denied, _TIER_DENY, tier)
      if self.allow_ids:
        allowed = _isin(token_ids, self.allow_ids) & real
        tier = tf.where(allowed, _TIER_ALLOW, tier)

    # 2. A random permutation breaks ties without a positional bias.
    if seed is not None:
      noise = hash_uniform(seed, seq_length)
    else:
      noise = tf.random.uniform(tf.stack([batch_size, seq_length]),
                                seed=self.seed)
    order = tf.argsort(noise, axis=1, stable=True)
    if self.sampling_temperature:
      scores = sampling_keys(scores, noise, self.sampling_temperature)

    # 3. Stable sorts by score then by tier: lexicographic (tier, score, noise).
    for key in (scores, tier):
      permuted = tf.gather(key, order, batch_dims=1)
      step = tf.argsort(permuted, axis=1, direction='DESCENDING', stable=True)
      order = tf.gather(order, step, batch_dims=1)

    # 4. The first keep_k positions are kept; both sets in position order.
    kept = tf.sort(order[:, :keep_k], axis=1)
    dropped = tf.sort(order[:, keep_k:], axis=1)
    # 5. What the score decided: the real tokens of tier 2 kept when not all
    # of them fit (the other slots are the tiers').
    scorable = tier == _TIER_NORMAL
    kept_scorable = tf.reduce_sum(tf.cast(
        tf.gather(scorable, kept, batch_dims=1), tf.int32), axis=1)
    cut = kept_scorable < tf.reduce_sum(tf.cast(scorable, tf.int32), axis=1)
    return dict(kept_indices=kept, dropped_indices=dropped,
                scorable=scorable,
                scored_slots=tf.where(cut, kept_scorable, 0))

  @staticmethod
  def gather(values, indices):
    """Gathers `values` `[batch, seq_length, ...]` at `indices` `[batch, n]`."""
    return tf.gather(values, indices, batch_dims=1)

  def get_config(self):
    config = super().get_config()
    config.update({
        'keep_k': self.keep_k,
        'allow_ids': list(self.allow_ids),
        'deny_ids': list(self.deny_ids),
        'seed': self.seed,
        'sampling_temperature': self.sampling_temperature,
    })
    return config


def sampling_keys(log_weights, noise, temperature: float):
  """Gumbel top-k keys: `log_weights / τ + G`, `G = -log(-log(u))` from
  the uniform `noise` (moved off 0 by half its step, 2^-25, so every key is
  finite). The top-k of the keys is a sample without replacement with
  probabilities proportional to `exp(log_weights / τ)`."""
  u = tf.cast(noise, tf.float32) + 2.0**-25
  return (tf.cast(log_weights, tf.float32) / temperature
          - tf.math.log(-tf.math.log(u)))


def _fmix32(h):
  """MurmurHash3's 32-bit finalizer: a bijective mix of uint32 values."""
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
  h *= tf.constant(0x85ebca6b, tf.uint32)
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13))
  h *= tf.constant(0xc2b2ae35, tf.uint32)
  return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def hash_uniform(seeds, seq_length):
  """Uniform [0, 1) noise `[batch, seq_length]`, a pure function of `seeds`.

  A counter-based generator (hash of (sequence seed, position)) written with
  plain integer ops, because `tf.random.stateless_uniform` takes one seed for
  the whole tensor, not one per row. Compiles with XLA.
  """
  seeds = tf.cast(tf.reshape(seeds, [-1, 1]), tf.uint32)
  positions = tf.cast(tf.range(seq_length), tf.uint32)[tf.newaxis, :]
  h = _fmix32(_fmix32(seeds * tf.constant(0x9e3779b9, tf.uint32)) + positions)
  return tf.cast(tf.bitwise.right_shift(h, 8), tf.float32) / float(1 << 24)


def _isin(token_ids, ids):
  return tf.reduce_any(
      tf.equal(token_ids[..., tf.newaxis], tf.constant(ids, tf.int32)),
      axis=-1)
