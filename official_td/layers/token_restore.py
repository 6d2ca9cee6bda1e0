"""TokenRestore: puts kept and dropped states back into position order."""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='OfficialTD')
class TokenRestore(tf_keras.layers.Layer):
  """The inverse of `TokenDrop`: merges two position subsets into one sequence.

  The kept states (which went through the middle layers) and the dropped
  states (which skipped them) are concatenated and permuted back, so that
  position `i` of the output holds the state of position `i` of the input
  sequence. Implemented as one gather with the inverse permutation, which is
  differentiable and has static shapes (XLA / TPU friendly).

  Call arguments:
    kept: `[batch, k, ...]` states of the kept positions.
    dropped: `[batch, seq_length - k, ...]` states of the dropped positions.
    kept_indices: int `[batch, k]` positions of `kept`.
    dropped_indices: int `[batch, seq_length - k]` positions of `dropped`.

  Returns:
    `[batch, seq_length, ...]` states in original position order.
  """

  def call(self, kept, dropped, kept_indices, dropped_indices):
    # 1. Both subsets side by side, with the position each came from.
    states = tf.concat([kept, tf.cast(dropped, kept.dtype)], axis=1)
    positions = tf.concat([kept_indices, dropped_indices], axis=1)
    # 2. The inverse permutation sends every position home.
    inverse = tf.argsort(positions, axis=1, stable=True)
    return tf.gather(states, inverse, batch_dims=1)

  def zero_fill(self, kept, kept_indices, dropped_indices, axis: int):
    """The kept positions' values at their positions along `axis`, zeros at
    the dropped ones (e.g. attention scores of the kept tokens, `[batch,
    heads, k, k]`, as `[batch, heads, S, k]` with `axis=2`).

    Args:
      kept: `[batch, ...]` values, `k` of them along `axis` (>= 1).
      kept_indices: int `[batch, k]`.
      dropped_indices: int `[batch, seq_length - k]`.
      axis: the axis of `kept` that holds the positions.

    Returns:
      `kept` with `seq_length` positions along `axis`.
    """
    rank = len(kept.shape)
    order = [0, axis] + [a for a in range(1, rank) if a != axis]
    moved = tf.transpose(kept, order)
    shape = tf.concat([tf.shape(dropped_indices), tf.shape(moved)[2:]], 0)
    zeros = tf.zeros(shape, moved.dtype)
    filled = self.call(moved, zeros, kept_indices, dropped_indices)
    return tf.transpose(filled, tf.argsort(order))
