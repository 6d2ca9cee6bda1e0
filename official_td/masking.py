"""BERT's masking rule: the one implementation, for static and dynamic masking.

Static masking (the data pipeline writes `dupe_factor` masked copies of each
sequence) and dynamic masking (the training input masks unmasked records as
it reads them, afresh each epoch) both call `mask_rows`:

1. Candidates are the tokens with a word id (`words >= 0`): never [CLS],
   [SEP] or padding.
2. The budget is `min(max_predictions_per_seq, max(1, round(masked_lm_prob *
   candidates)))` (rounding half to even, as Python's `round`).
3. Candidates (with whole-word masking: whole words) are visited in a random
   order; one that does not fit in what is left of the budget is skipped and
   the next one tried, until the budget is full or none is left.
4. Each chosen position becomes [MASK] with probability 0.8, a random id
   (uniform over the ids after the reserved tokens) with 0.1, and stays as
   it is with 0.1. The label is the original id.

Randomness is keyed, not drawn from a stream: every row has a 64-bit key
(static: a hash of the seed, the sequence's key and the copy; dynamic: of the
seed, epoch, file and record), and its draws are Philox4x32-10 blocks
(Salmon et al., SC 2011: the counter-based generator of Random123, cuRAND,
JAX and `tf.random.stateless_*`) of that key and the draw's index. A row's
mask is a pure function of its key and contents: the same on every machine,
worker count and numpy build, whatever else is in the batch.

Written by hand because no library draws keyed Philox blocks for many keys
at once from numpy (numpy's `Philox` is one generator per key; TF's stateless
ops take one key per call); `tests/test_masking.py` checks the blocks against
TensorFlow's own Philox.
"""

from typing import Dict

import numpy as np

MASK_PROB = 0.8  # of the chosen positions: [MASK]
RANDOM_PROB = 0.1  # a random id (then 0.1 unchanged)

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_LOW = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def philox4x32(key, c0, c1=0, c2=0, c3=0):
  """Philox4x32-10 blocks: the four 32-bit words of each counter.

  Args:
    key: uint64 array (its low and high halves are the two key words).
    c0, c1, c2, c3: the counter's words (arrays or scalars, broadcast with
      `key`).

  Returns:
    Four uint64 arrays holding 32-bit values, in the shape of the broadcast.
  """
  key = np.asarray(key, np.uint64)
  k0, k1 = key & _LOW, key >> _32
  c = [np.asarray(x, np.uint64) & _LOW for x in (c0, c1, c2, c3)]
  c = np.broadcast_arrays(k0, *c)[1:]
  k0, k1 = np.broadcast_arrays(k0, k1)
  for round_ in range(10):
    if round_:
      k0, k1 = (k0 + _W0) & _LOW, (k1 + _W1) & _LOW
    p0, p1 = _M0 * c[0], _M1 * c[2]
    c = [(p1 >> _32) ^ c[1] ^ k0, p1 & _LOW, (p0 >> _32) ^ c[3] ^ k1,
         p0 & _LOW]
  return c


def record_keys(seed: int, epoch, file_index, record_index) -> np.ndarray:
  """The 64-bit row keys of dynamic masking: one Philox block of (seed;
  record, file, epoch) per record, so each epoch masks every record afresh
  and a record's mask does not depend on the order it is read in."""
  words = philox4x32(np.uint64(seed % 2**64), record_index, file_index, epoch,
                     0x6D61736B)  # 'mask'
  return (words[1] << _32) | words[0]


def prediction_budget(num_candidates, masked_lm_prob: float,
                      max_predictions: int):
  """Step 2 of the rule, for a count or an array of counts."""
  return np.minimum(max_predictions, np.maximum(1, np.round(
      np.asarray(num_candidates, np.int64) * masked_lm_prob))).astype(np.int64)


def _groups(words: np.ndarray, whole_words: bool):
  """Step 3's groups: each candidate's group (-1 for non-candidates), the
  groups numbered from 0 in each row in order of appearance (a word's
  pieces share one), and the number of groups per row."""
  candidates = words >= 0
  if not whole_words:
    return (np.where(candidates, np.cumsum(candidates, axis=1) - 1, -1),
            candidates.sum(axis=1))
  # A new group starts at each candidate whose word differs from the
  # previous position's (a word's pieces are consecutive).
  previous = np.concatenate(
      [np.full((len(words), 1), -1, words.dtype), words[:, :-1]], axis=1)
  starts = candidates & (words != previous)
  group = np.cumsum(starts, axis=1) - 1
  return np.where(candidates, group, -1), starts.sum(axis=1)


def choose_positions(words: np.ndarray, budgets: np.ndarray, whole_words: bool,
                     scores: np.ndarray) -> np.ndarray:
  """Steps 1 and 3 for each row: whether each position is masked.

  Args:
    words: `[rows, S]` word ids, -1 for non-candidates.
    budgets: `[rows]` step 2's budgets.
    whole_words: group a word's pieces.
    scores: `[rows, S]` random uint32 scores; group `g` of a row is visited
      in the order of `scores[row, g]` (ties by `g`).
  """
  group, num_groups = _groups(words, whole_words)
  rows = np.arange(len(words))
  width = int(num_groups.max()) if len(words) else 0
  if not width:
    return np.zeros(words.shape, bool)
  present = np.arange(width) < num_groups[:, None]
  order = np.argsort(np.where(present, scores[:, :width], 2**32), axis=1,
                     kind='stable')
  sizes = np.zeros((len(words), width), np.int64)
  np.add.at(sizes, (np.nonzero(group >= 0)[0], group[group >= 0]), 1)
  taken = np.zeros((len(words), width), bool)
  if not whole_words:  # every group is one token: the first `budget` fit.
    taken[rows[:, None], order] = np.arange(width) < np.minimum(
        budgets, num_groups)[:, None]
  else:
    used = np.zeros(len(words), np.int64)
    for rank in range(width):
      if (used >= budgets).all():
        break
      g = order[:, rank]
      size = sizes[rows, g]
      take = (rank < num_groups) & (used + size <= budgets)
      taken[rows[take], g[take]] = True
      used += np.where(take, size, 0)
  return (group >= 0) & taken[rows[:, None], np.maximum(group, 0)]


def mask_rows(input_ids: np.ndarray, words: np.ndarray, keys: np.ndarray, *,
              masked_lm_prob: float, max_predictions: int, whole_words: bool,
              mask_id: int, first_random_id: int, vocab_size: int,
              pad_id: int = 0) -> Dict[str, np.ndarray]:
  """The rule above on each row of a batch.

  Args:
    input_ids: `[rows, S]` token ids.
    words: `[rows, S]` word ids (-1: [CLS], [SEP], padding).
    keys: `[rows]` uint64 row keys.
    masked_lm_prob, max_predictions, whole_words: steps 2 and 3.
    mask_id: the vocab's [MASK] id.
    first_random_id, vocab_size: step 4's random ids are uniform over
      `[first_random_id, vocab_size)`.
    pad_id: the label of unused prediction slots.

  Returns:
    `input_ids` (masked, a new array), `masked_lm_positions`,
    `masked_lm_ids`, `masked_lm_weights` (float32), `[rows, max_predictions]`
    each, the positions ascending and the unused slots padded.
  """
  input_ids = np.array(input_ids, np.int64)
  words = np.asarray(words)
  n, s = input_ids.shape
  p = max_predictions
  # One block per (row, index): word 0 scores group `index`, words 1 and 2
  # are step 4's draws for position `index`.
  draws = philox4x32(np.asarray(keys, np.uint64)[:, None], np.arange(s))
  budgets = prediction_budget((words >= 0).sum(axis=1), masked_lm_prob, p)
  chosen = choose_positions(words, budgets, whole_words, draws[0])
  counts = chosen.sum(axis=1)
  rows, cols = np.nonzero(chosen)  # each row's positions ascending.
  slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
  positions = np.zeros((n, p), np.int64)
  labels = np.full((n, p), pad_id, np.int64)
  positions[rows, slot] = cols
  labels[rows, slot] = input_ids[rows, cols]
  # Step 4: a uniform in [0, 1) and a random id for each chosen position.
  uniform = draws[1][rows, cols].astype(np.float64) / 2.0**32
  span = np.uint64(vocab_size - first_random_id)
  random_ids = first_random_id + ((draws[2][rows, cols] * span) >> _32
                                  ).astype(np.int64)
  new = np.where(uniform < MASK_PROB, mask_id,
                 np.where(uniform < MASK_PROB + RANDOM_PROB, random_ids,
                          input_ids[rows, cols]))
  input_ids[rows, cols] = new
  return dict(input_ids=input_ids, masked_lm_positions=positions,
              masked_lm_ids=labels,
              masked_lm_weights=(np.arange(p) < counts[:, None]).astype(
                  np.float32))
