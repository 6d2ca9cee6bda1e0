"""BERT's masking rule, and its static (numpy) implementation.

The rule, implemented twice: here for static masking (numpy, in the Beam
pipeline, one masked copy per `dupe_factor`) and in
`official_td.data.dynamic_masking` for dynamic masking (TensorFlow ops, in
the training input); tests/test_masking.py holds the two together
statistically (rates, 80/10/10, per-position rates, whole words):

1. Candidates are the tokens with a word id (`words >= 0`): never [CLS],
   [SEP] or padding.
2. The budget is `min(max_predictions_per_seq, max(1, round(masked_lm_prob *
   candidates)))`.
3. Candidates (with whole-word masking: whole words) are visited in a random
   order; one that does not fit in what is left of the budget is skipped and
   the next one tried, until the budget is full or none is left.
4. Each chosen position becomes [MASK] with probability 0.8, a random id
   (uniform over the ids after the reserved tokens) with 0.1, and stays as
   it is with 0.1. The label is the original id.
"""

from typing import Dict, Iterator, Sequence, Union

import numpy as np

from official_td.data import numpy_draws
from official_td.data.keys import stable_hash
from official_td.data.options import DataOptions
from official_td.data.packing import PackedSequence
from official_td.data.packing import SequenceBatch
from official_td.data.vocab import RESERVED_TOKENS
from official_td.layers import special_tokens

MASK_PROB = 0.8  # of the chosen positions: [MASK]
RANDOM_PROB = 0.1  # a random id (then 0.1 unchanged)
FIRST_RANDOM_ID = len(RESERVED_TOKENS)


def prediction_budget(num_candidates, masked_lm_prob: float,
                      max_predictions: int):
  """Step 2 of the rule, for a count or an array of counts (rounding half to
  even, as Python's `round` and `tf.round`)."""
  return np.minimum(max_predictions, np.maximum(1, np.round(
      np.asarray(num_candidates, np.int64) * masked_lm_prob))).astype(np.int64)


def _as_batch(seqs, seq_length: int, pad_id: int) -> SequenceBatch:
  if isinstance(seqs, SequenceBatch):
    return seqs
  return SequenceBatch.of(list(seqs), seq_length, pad_id)


def _groups(words: np.ndarray, whole_words: bool):
  """Step 3's groups: each candidate's group (-1 for non-candidates), in the
  order the rule numbers them (a word's groups by word id, else candidates
  by position), and the groups per row."""
  candidates = words >= 0
  if whole_words:
    rows = np.nonzero(candidates)[0]
    _, inverse = np.unique(rows * (int(words.max()) + 1) + words[candidates],
                           return_inverse=True)
    first = np.zeros(len(words), np.int64)  # each row's first group id.
    counts = np.zeros(len(words), np.int64)
    if len(rows):
      is_new = np.concatenate([[True], inverse[1:] != inverse[:-1]])
      counts = np.bincount(rows[is_new], minlength=len(words))
      first = np.cumsum(counts) - counts
    local = inverse - first[rows]
  else:
    local = (np.cumsum(candidates, axis=1) - 1)[candidates]
    counts = candidates.sum(axis=1)
  group = np.full(words.shape, -1, np.int64)
  group[candidates] = local
  return group, counts


def choose_positions(words: np.ndarray, budgets: np.ndarray,
                     whole_words: bool,
                     draws: numpy_draws.Draws) -> np.ndarray:
  """Steps 1 and 3 for each row of `words`: whether each position is masked.

  Each row's generator (a row of `draws`, fresh) permutes the row's groups;
  visited in that order, a group joins while it fits in the budget.
  """
  group, num_groups = _groups(words, whole_words)
  order = draws.permutations(num_groups)
  rows = np.arange(len(words))
  if not order.shape[1]:
    return np.zeros(words.shape, bool)
  sizes = np.zeros(order.shape, np.int64)
  np.add.at(sizes, (np.nonzero(group >= 0)[0], group[group >= 0]), 1)
  taken = np.zeros(order.shape, bool)
  used = np.zeros(len(words), np.int64)
  for rank in range(order.shape[1]):
    if (used >= budgets).all():
      break
    g = order[:, rank]
    size = sizes[rows, g]
    take = (rank < num_groups) & (used + size <= budgets)
    taken[rows[take], g[take]] = True
    used += np.where(take, size, 0)
  return (group >= 0) & taken[rows[:, None], np.maximum(group, 0)]


def mask_batch(seqs: Union[SequenceBatch, Sequence[PackedSequence]],
               ids: special_tokens.SpecialTokenIds, vocab_size: int,
               options: DataOptions) -> Dict[str, np.ndarray]:
  """The rule above: `dupe_factor` masked copies of each sequence.

  Each copy draws from its own generator, `np.random.default_rng` seeded by
  (seed, key, copy), so a record does not depend on what else is in the
  batch; the draws of all copies are made at once (`numpy_draws`). Returns
  the records' features as arrays with one row per record (the copies of a
  sequence consecutive), padded to `seq_length` / `max_predictions_per_seq`.
  """
  s, p, copies = (options.seq_length, options.max_predictions_per_seq,
                  options.dupe_factor)
  batch = _as_batch(seqs, s, ids.pad_id)
  input_ids, segment_ids, words, lengths = (
      np.repeat(x, copies, axis=0) for x in (batch.tokens, batch.segment_ids,
                                             batch.words, batch.lengths))
  budgets = prediction_budget((words >= 0).sum(axis=1), options.masked_lm_prob,
                              p)
  seeds = [stable_hash('mask', options.seed, key, copy)
           for key in batch.keys for copy in range(copies)]
  # Step 4 takes an output per masked position and half of one per random
  # id; a row that needs more than drawn ahead draws more.
  draws = numpy_draws.Draws(seeds, ahead=p + p // 4 + 2)
  chosen = choose_positions(words, budgets, options.whole_word_masking, draws)
  counts = chosen.sum(axis=1)
  rows, cols = np.nonzero(chosen)  # each row's positions ascending.
  slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
  positions = np.zeros((len(input_ids), p), np.int64)
  labels = np.full((len(input_ids), p), ids.pad_id, np.int64)
  positions[rows, slot] = cols
  labels[rows, slot] = input_ids[rows, cols]
  # Step 4, position by position in each row's order.
  for j in range(int(counts.max()) if len(counts) else 0):
    active = np.flatnonzero(counts > j)
    r = draws.random(active)
    where = positions[active, j]
    masked = r < MASK_PROB
    input_ids[active[masked], where[masked]] = ids.mask_id
    swapped = ~masked & (r < MASK_PROB + RANDOM_PROB)
    input_ids[active[swapped], where[swapped]] = draws.integers(
        active[swapped], FIRST_RANDOM_ID, vocab_size)
  features = dict(
      input_ids=input_ids,
      input_mask=(np.arange(s) < lengths[:, None]).astype(np.int64),
      segment_ids=segment_ids, masked_lm_positions=positions,
      masked_lm_ids=labels,
      masked_lm_weights=(np.arange(p) < counts[:, None]).astype(np.float32))
  if options.nsp:
    features['next_sentence_labels'] = np.repeat(
        batch.next_sentence_labels, copies).reshape(-1, 1)
  return features


def masked_copies(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions
                  ) -> Iterator[Dict[str, np.ndarray]]:
  """`mask_batch` of one sequence, one features dict per copy."""
  features = mask_batch([seq], ids, vocab_size, options)
  for row in range(options.dupe_factor):
    yield {name: values[row] for name, values in features.items()}


def unmasked_batch(seqs: Union[SequenceBatch, Sequence[PackedSequence]],
                   ids: special_tokens.SpecialTokenIds,
                   options: DataOptions) -> Dict[str, np.ndarray]:
  """The records of dynamic masking, one row per sequence: ids, mask,
  segments and word ids (-1 past the sequence)."""
  batch = _as_batch(seqs, options.seq_length, ids.pad_id)
  features = dict(
      input_ids=batch.tokens,
      input_mask=(np.arange(options.seq_length) < batch.lengths[:, None]
                  ).astype(np.int64),
      segment_ids=batch.segment_ids, word_ids=batch.words)
  if options.nsp:
    features['next_sentence_labels'] = batch.next_sentence_labels.reshape(
        -1, 1)
  return features
