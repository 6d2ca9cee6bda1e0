"""BERT's masking rule as TensorFlow ops: dynamic masking inside the graph.

The rule of `official_td.masking` (candidates, budget, groups visited in a
random order and taken while they fit, 80/10/10), keyed the same way (a row
key from Philox4x32-10 of (seed; record, file, epoch, 'mask'), the row's
draws the Philox blocks of that key at counters 0 ... S-1), written with
TensorFlow's own ops: the draws come from its stateless Philox
(`StatelessRandomUniformFullIntV2`, the kernel behind
`tf.random.stateless_*`, which takes the key and counter as they are), the
rest is sorting and gathering. The input pipeline therefore holds no Python
(`tf.numpy_function`) and runs where Python cannot: the remote input hosts
of a single-client TPU pod slice, TPU Nodes, the tf.data service.
`tests/test_masking.py` holds it to the numpy rule, position for position,
over many keys.

`row_draws` runs per record (one key per call: TensorFlow's stateless ops
take one key), `mask_batch` on a batch of records and their draws.
"""

import tensorflow as tf

from official_td import masking

_PHILOX = 1  # `tf.random.Algorithm.PHILOX`
_MASK_WORD = 0x6D61736B  # 'mask', the fourth counter word of a row key.
_LOW32 = 0xFFFFFFFF


def _uint64(x):
  return tf.cast(x, tf.uint64)


def philox_words(key, counter_low, counter_high, num_blocks: int):
  """Philox4x32-10 blocks of a uint64 `key` from the 128-bit counter
  `(counter_low, counter_high)` on: `[num_blocks, 4]` uint32, block `j` at
  counter + j (`masking.philox4x32`'s words)."""
  words = tf.raw_ops.StatelessRandomUniformFullIntV2(
      shape=[4 * num_blocks], key=tf.reshape(key, [1]),
      counter=tf.stack([counter_low, counter_high]), alg=_PHILOX,
      dtype=tf.uint32)
  return tf.reshape(words, [num_blocks, 4])


def row_key(seed: int, epoch, file_index, record_index):
  """`masking.record_keys` of one record: a uint64 scalar."""
  def low(x):
    return tf.bitwise.bitwise_and(_uint64(x), _uint64(_LOW32))

  shift = _uint64(32)
  c_low = tf.bitwise.bitwise_or(low(record_index),
                                tf.bitwise.left_shift(low(file_index), shift))
  c_high = tf.bitwise.bitwise_or(
      low(epoch), tf.bitwise.left_shift(_uint64(_MASK_WORD), shift))
  words = _uint64(philox_words(tf.constant(seed % 2**64, tf.uint64), c_low,
                               c_high, 1)[0])
  return tf.bitwise.bitwise_or(tf.bitwise.left_shift(words[1], shift),
                               words[0])


def row_draws(key, seq_length: int):
  """A row's draws: the blocks of `key` at counters 0 ... S-1, `[S, 4]`
  uint32 (word 0 scores group `index`, words 1 and 2 are step 4's draws
  for position `index`)."""
  zero = tf.constant(0, tf.uint64)
  return philox_words(key, zero, zero, seq_length)


def _groups(words, whole_words: bool):
  """`masking._groups`: each position's group (-1 for non-candidates) and
  the number of groups per row."""
  candidates = words >= 0
  if whole_words:
    previous = tf.concat([tf.fill([tf.shape(words)[0], 1],
                                  tf.constant(-1, words.dtype)),
                          words[:, :-1]], axis=1)
    starts = candidates & tf.not_equal(words, previous)
  else:
    starts = candidates
  starts = tf.cast(starts, tf.int64)
  group = tf.cumsum(starts, axis=1) - 1
  return (tf.where(candidates, group, tf.constant(-1, tf.int64)),
          tf.reduce_sum(starts, axis=1))


def _take_greedily(order, sizes, budgets, num_groups):
  """Step 3 with whole words: groups visited in `order`, each taken if it
  fits in what is left of the budget. Returns `[rows, S]` taken, by rank."""
  width = tf.shape(order)[1]
  sizes_in_order = tf.gather(sizes, order, batch_dims=1)

  def body(rank, used, taken):
    size = sizes_in_order[:, rank]
    take = (tf.cast(rank, tf.int64) < num_groups) & (used + size <= budgets)
    return (rank + 1, used + tf.where(take, size, tf.zeros_like(size)),
            taken.write(rank, take))

  _, _, taken = tf.while_loop(
      lambda rank, used, taken: rank < width, body,
      [tf.constant(0), tf.zeros_like(budgets),
       tf.TensorArray(tf.bool, size=width, element_shape=[None])])
  return tf.transpose(taken.stack())


def _inverse(order, rows, s):
  """Each row's inverse permutation (`rank[b, order[b, j]] = j`), by a
  scatter rather than a second sort."""
  row = tf.broadcast_to(tf.range(rows)[:, None], [rows, s])
  return tf.scatter_nd(tf.stack([row, order], axis=-1),
                       tf.broadcast_to(tf.range(s)[None, :], [rows, s]),
                       tf.stack([rows, s]))


def choose_positions(words, budgets, whole_words: bool, scores):
  """`masking.choose_positions`: whether each position is masked.

  Args:
    words: `[rows, S]` int64 word ids, -1 for non-candidates.
    budgets: `[rows]` int64 budgets.
    whole_words: group a word's pieces.
    scores: `[rows, S]` uint32 scores; group `g` is visited in the order of
      `scores[row, g]`, ties by `g`.
  """
  group, num_groups = _groups(words, whole_words)
  s = tf.shape(words, out_type=tf.int64)[1]
  index = tf.range(s)[None, :]
  present = index < num_groups[:, None]
  # Distinct sort keys (score, then group): any sort gives the rule's order.
  keyed = tf.where(present, tf.cast(scores, tf.int64),
                   tf.constant(2**32, tf.int64)) * s + index
  order = tf.cast(tf.argsort(keyed, axis=1), tf.int64)
  rows = tf.shape(words, out_type=tf.int64)[0]
  rank = _inverse(order, rows, s)  # each group's place in the order.
  if whole_words:
    member = group >= 0
    flat = tf.where(member, group + s * tf.range(rows)[:, None], 0)
    sizes = tf.reshape(tf.math.unsorted_segment_sum(
        tf.cast(member, tf.int64), flat, rows * s), [rows, s])
    taken_by_rank = _take_greedily(order, sizes, budgets, num_groups)
    taken = tf.gather(taken_by_rank, rank, batch_dims=1)
  else:  # every group is one token: the first `budget` in the order fit.
    taken = tf.cast(rank, tf.int64) < tf.minimum(budgets, num_groups)[:, None]
  return (group >= 0) & tf.gather(taken, tf.maximum(group, 0), batch_dims=1)


def prediction_budget(num_candidates, masked_lm_prob: float,
                      max_predictions: int):
  """`masking.prediction_budget`: rounding half to even (`tf.round`, as
  numpy's and Python's)."""
  budget = tf.round(tf.cast(num_candidates, tf.float64) * masked_lm_prob)
  return tf.minimum(tf.constant(max_predictions, tf.int64),
                    tf.maximum(tf.constant(1, tf.int64),
                               tf.cast(budget, tf.int64)))


def mask_rows(input_ids, words, draws, *, masked_lm_prob: float,
              max_predictions: int, whole_words: bool, mask_id: int,
              first_random_id: int, vocab_size: int, pad_id: int = 0):
  """`masking.mask_rows` on a batch, with each row's draws (`row_draws`).

  Args:
    input_ids, words: `[rows, S]` int64.
    draws: `[rows, S, 4]` uint32.
    (the rest as `masking.mask_rows`).

  Returns:
    `input_ids`, `masked_lm_positions`, `masked_lm_ids` (int32) and
    `masked_lm_weights` (float32), `[rows, max_predictions]` but the first.
  """
  p = max_predictions
  s = input_ids.shape[1]
  budgets = prediction_budget(
      tf.reduce_sum(tf.cast(words >= 0, tf.int64), axis=1), masked_lm_prob, p)
  chosen = choose_positions(words, budgets, whole_words, draws[..., 0])
  counts = tf.reduce_sum(tf.cast(chosen, tf.int64), axis=1)
  # Each row's positions ascending (the chosen ones, compacted by their
  # running count), then the unused slots at 0.
  where = tf.where(chosen)  # [n, 2] (row, position), row-major.
  slot = tf.gather_nd(tf.cumsum(tf.cast(chosen, tf.int64), axis=1), where) - 1
  positions = tf.scatter_nd(
      tf.stack([where[:, 0], slot], axis=1), where[:, 1],
      tf.stack([tf.shape(input_ids, out_type=tf.int64)[0],
                tf.constant(p, tf.int64)]))
  used = tf.range(p, dtype=tf.int64)[None, :] < counts[:, None]
  labels = tf.where(used, tf.gather(input_ids, positions, batch_dims=1),
                    tf.constant(pad_id, input_ids.dtype))
  # Step 4: a uniform in [0, 1) and a random id for each chosen position.
  uniform = tf.cast(draws[..., 1], tf.float64) / 2.0**32
  span = vocab_size - first_random_id
  random_ids = first_random_id + tf.bitwise.right_shift(
      tf.cast(draws[..., 2], tf.int64) * span, tf.constant(32, tf.int64))
  new = tf.where(uniform < masking.MASK_PROB,
                 tf.constant(mask_id, tf.int64),
                 tf.where(uniform < masking.MASK_PROB + masking.RANDOM_PROB,
                          random_ids, input_ids))
  return dict(input_ids=tf.cast(tf.where(chosen, new, input_ids), tf.int32),
              masked_lm_positions=tf.cast(positions, tf.int32),
              masked_lm_ids=tf.cast(labels, tf.int32),
              masked_lm_weights=tf.cast(used, tf.float32))
