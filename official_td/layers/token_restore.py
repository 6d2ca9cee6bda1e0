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
