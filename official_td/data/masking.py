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

from typing import Dict, Iterator

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


def mask_sequence(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions,
                  rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """The rule above on one sequence, padded to `seq_length` / predictions."""
  n, s = len(seq.tokens), options.seq_length
  p = options.max_predictions_per_seq
  budget = prediction_budget(int(np.count_nonzero(seq.words >= 0)),
                             options.masked_lm_prob, p)
  positions = choose_positions(seq.words, budget, options.whole_word_masking,
                               rng)
  k = len(positions)
  input_ids = np.full(s, ids.pad_id, np.int64)
  input_ids[:n] = seq.tokens
  labels = np.full(p, ids.pad_id, np.int64)
  labels[:k] = input_ids[positions]
  for pos in positions.tolist():
    r = rng.random()
    if r < MASK_PROB:
      input_ids[pos] = ids.mask_id
    elif r < MASK_PROB + RANDOM_PROB:
      input_ids[pos] = rng.integers(FIRST_RANDOM_ID, vocab_size)
  features = dict(
      input_ids=input_ids, input_mask=_padded(np.ones(n, np.int64), s),
      segment_ids=_padded(seq.segment_ids, s),
      masked_lm_positions=_padded(positions, p), masked_lm_ids=labels,
      masked_lm_weights=_padded(np.ones(k, np.float32), p))
  if options.nsp:
    features['next_sentence_labels'] = np.array([seq.next_sentence_label])
  return features


def _padded(values: np.ndarray, length: int) -> np.ndarray:
  out = np.zeros(length, values.dtype)
  out[:len(values)] = values
  return out


def masked_copies(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions
                  ) -> Iterator[Dict[str, np.ndarray]]:
  """`dupe_factor` maskings of `seq`, each seeded by (seed, key, copy)."""
  for dupe in range(options.dupe_factor):
    rng = np.random.default_rng(stable_hash('mask', options.seed, seq.key,
                                            dupe))
    yield mask_sequence(seq, ids, vocab_size, options, rng)


def unmasked_features(seq: PackedSequence,
                      ids: special_tokens.SpecialTokenIds,
                      options: DataOptions) -> Dict[str, np.ndarray]:
  """The record of dynamic masking: ids, mask, segments and word ids."""
  s = options.seq_length
  input_ids = np.full(s, ids.pad_id, np.int64)
  input_ids[:len(seq.tokens)] = seq.tokens
  word_ids = np.full(s, -1, np.int64)
  word_ids[:len(seq.words)] = seq.words
  features = dict(
      input_ids=input_ids,
      input_mask=_padded(np.ones(len(seq.tokens), np.int64), s),
      segment_ids=_padded(seq.segment_ids.astype(np.int64), s),
      word_ids=word_ids)
  if options.nsp:
    features['next_sentence_labels'] = np.array([seq.next_sentence_label])
  return features

