"""DeepSpeed's random-LTD in `TokenDropBertEncoder`: every middle layer on
its own random tokens (the study's comparison arm)."""

import tensorflow as tf


# pylint: disable=protected-access  (the encoder's own pass, kept apart)
def call(self, inputs, keep_k):
  """`TokenDropBertEncoder.call` with `drop_mode='random_ltd'` (`self`:
  the encoder).

  random-LTD: each middle layer on its own random `keep_k` positions.

  Layer `i`'s positions are a uniformly random subset, a pure function of
  the sequence's `drop_seed` and `i` when seeds are given. `kept_indices`
  and `dropped_indices` are `[batch, L - 2, k]` and `[batch, L - 2, S - k]`
  (one row per middle layer); attention scores of a middle layer are
  placed at its kept positions, zeros elsewhere.
  """
  mask = inputs['input_mask']
  seeds = inputs.get('drop_seed')
  layers = self._transformer_layers
  restore, drop = self._token_restore, self._random_drop
  scores_out, encoder_outputs, kept_all, dropped_all = [], [], [], []

  # 1. Embeddings and the first layer, on every token.
  x, full_mask = self._embeddings(inputs)
  embeddings = x
  x = self._layer(layers[0], [x, full_mask], scores_out)
  encoder_outputs.append(x)
  # 2. Each middle layer on its own random positions; the others pass.
  uniform = tf.zeros_like(mask, tf.float32)
  everywhere = tf.ones_like(mask)
  for i in range(1, self._num_layers - 1):
    seed = None if seeds is None else (
        tf.cast(seeds, tf.int32) * self._num_layers + i)
    selection = drop(uniform, everywhere, seed=seed, keep_k=keep_k)
    kept_idx = selection['kept_indices']
    dropped_idx = selection['dropped_indices']
    kept = drop.gather(x, kept_idx)
    layer_scores = []
    kept = self._layer(layers[i], [kept, self._attention_mask_layer(
        kept, drop.gather(mask, kept_idx))], layer_scores)
    x = restore(kept, drop.gather(x, dropped_idx), kept_idx, dropped_idx)
    encoder_outputs.append(x)
    scores_out += [self._scores_at_positions(a, kept_idx, dropped_idx)
                   for a in layer_scores]
    kept_all.append(kept_idx)
    dropped_all.append(dropped_idx)
  # 3. The last layer on every token.
  x = self._layer(layers[-1], [x, full_mask], scores_out, self._output_range)
  encoder_outputs.append(x)
  return self._outputs(encoder_outputs, embeddings, scores_out,
                       tf.stack(kept_all, axis=1),
                       tf.stack(dropped_all, axis=1))
