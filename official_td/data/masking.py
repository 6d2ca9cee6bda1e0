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

from typing import Dict, Iterator, Sequence

import numpy as np

from official_td.data.keys import stable_hash
from official_td.data.options import DataOptions
from official_td.data.packing import PackedSequence
from official_td.data.vocab import RESERVED_TOKENS
from official_td.layers import special_tokens

MASK_PROB = 0.8  # of the chosen positions: [MASK]
RANDOM_PROB = 0.1  # a random id (then 0.1 unchanged)
FIRST_RANDOM_ID = len(RESERVED_TOKENS)


def prediction_budget(num_candidates: int, masked_lm_prob: float,
                      max_predictions: int) -> int:
  """Step 2 of the rule (Python's `round`: half to even, as `tf.round`)."""
  return min(max_predictions, max(1, int(round(num_candidates *
                                               masked_lm_prob))))


def choose_positions(words: np.ndarray, budget: int, whole_words: bool,
                     rng: np.random.Generator) -> np.ndarray:
  """Steps 1 and 3: the masked positions, ascending."""
  candidates = np.flatnonzero(words >= 0)
  if not whole_words:
    # Groups of one position: every one fits until the budget is full, so
    # the rule takes the first `budget` of the random order.
    order = rng.permutation(len(candidates))
    return np.sort(candidates[order[:budget]])
  # Whole words, in order of word id, each its positions ascending.
  _, inverse, counts = np.unique(words[candidates], return_inverse=True,
                                 return_counts=True)
  members = candidates[np.argsort(inverse, kind='stable')]
  firsts = (np.cumsum(counts) - counts).tolist()
  counts = counts.tolist()
  chosen = []
  for g in rng.permutation(len(counts)).tolist():
    if len(chosen) + counts[g] > budget:
      continue
    chosen.extend(members[firsts[g]:firsts[g] + counts[g]].tolist())
    if len(chosen) >= budget:
      break
  return np.sort(np.array(chosen, np.int64))


def mask_batch(seqs: Sequence[PackedSequence],
               ids: special_tokens.SpecialTokenIds, vocab_size: int,
               options: DataOptions) -> Dict[str, np.ndarray]:
  """The rule above: `dupe_factor` masked copies of each sequence.

  Each copy draws from its own generator, seeded by (seed, key, copy), so a
  record does not depend on what else is in the batch. Returns the records'
  features as arrays with one row per record (the copies of a sequence
  consecutive), padded to `seq_length` / `max_predictions_per_seq`.
  """
  s, p = options.seq_length, options.max_predictions_per_seq
  rows = len(seqs) * options.dupe_factor
  input_ids = np.full((rows, s), ids.pad_id, np.int64)
  segment_ids = np.zeros((rows, s), np.int64)
  positions = np.zeros((rows, p), np.int64)
  labels = np.full((rows, p), ids.pad_id, np.int64)
  lengths = np.zeros(rows, np.int64)
  chosen_counts = np.zeros(rows, np.int64)
  row = 0
  for seq in seqs:
    n = len(seq.tokens)
    budget = prediction_budget(int(np.count_nonzero(seq.words >= 0)),
                               options.masked_lm_prob, p)
    for dupe in range(options.dupe_factor):
      rng = np.random.default_rng(stable_hash('mask', options.seed, seq.key,
                                              dupe))
      chosen = choose_positions(seq.words, budget,
                                options.whole_word_masking, rng)
      k = len(chosen)
      tokens = input_ids[row]
      tokens[:n] = seq.tokens
      segment_ids[row, :n] = seq.segment_ids
      positions[row, :k] = chosen
      labels[row, :k] = seq.tokens[chosen]
      for pos in chosen.tolist():
        r = rng.random()
        if r < MASK_PROB:
          tokens[pos] = ids.mask_id
        elif r < MASK_PROB + RANDOM_PROB:
          tokens[pos] = rng.integers(FIRST_RANDOM_ID, vocab_size)
      lengths[row], chosen_counts[row] = n, k
      row += 1
  features = dict(
      input_ids=input_ids,
      input_mask=(np.arange(s) < lengths[:, None]).astype(np.int64),
      segment_ids=segment_ids, masked_lm_positions=positions,
      masked_lm_ids=labels,
      masked_lm_weights=(np.arange(p) < chosen_counts[:, None]).astype(
          np.float32))
  if options.nsp:
    features['next_sentence_labels'] = np.repeat(
        [[seq.next_sentence_label] for seq in seqs], options.dupe_factor,
        axis=0).reshape(rows, 1)
  return features


def masked_copies(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions
                  ) -> Iterator[Dict[str, np.ndarray]]:
  """`mask_batch` of one sequence, one features dict per copy."""
  features = mask_batch([seq], ids, vocab_size, options)
  for row in range(options.dupe_factor):
    yield {name: values[row] for name, values in features.items()}


def unmasked_batch(seqs: Sequence[PackedSequence],
                   ids: special_tokens.SpecialTokenIds,
                   options: DataOptions) -> Dict[str, np.ndarray]:
  """The records of dynamic masking, one row per sequence: ids, mask,
  segments and word ids (-1 past the sequence)."""
  s = options.seq_length
  features = dict(
      input_ids=np.full((len(seqs), s), ids.pad_id, np.int64),
      input_mask=np.zeros((len(seqs), s), np.int64),
      segment_ids=np.zeros((len(seqs), s), np.int64),
      word_ids=np.full((len(seqs), s), -1, np.int64))
  for row, seq in enumerate(seqs):
    n = len(seq.tokens)
    features['input_ids'][row, :n] = seq.tokens
    features['input_mask'][row, :n] = 1
    features['segment_ids'][row, :n] = seq.segment_ids
    features['word_ids'][row, :n] = seq.words
  if options.nsp:
    features['next_sentence_labels'] = np.array(
        [[seq.next_sentence_label] for seq in seqs], np.int64).reshape(-1, 1)
  return features
