"""Static masking: `dupe_factor` masked copies of each packed sequence.

The rule is `official_td.masking`'s (the training input's dynamic masking
calls the same code); each copy's row key hashes (seed, sequence key, copy).
Also the unmasked records of dynamic masking.
"""

from typing import Dict, Iterator, Sequence, Union

import numpy as np

from official_td import masking as masking_rule
from official_td import vocab as vocab_lib
from official_td.data.examples.keys import stable_hash
from official_td.data.examples.options import DataOptions
from official_td.data.examples.packing import PackedSequence
from official_td.data.examples.packing import SequenceBatch

def _as_batch(seqs, seq_length: int, pad_id: int) -> SequenceBatch:
  if isinstance(seqs, SequenceBatch):
    return seqs
  return SequenceBatch.of(list(seqs), seq_length, pad_id)


def mask_batch(seqs: Union[SequenceBatch, Sequence[PackedSequence]],
               ids: vocab_lib.SpecialTokenIds, vocab_size: int,
               options: DataOptions) -> Dict[str, np.ndarray]:
  """`dupe_factor` masked copies of each sequence (`official_td.masking`).

  Each copy's row key hashes (seed, sequence key, copy), so a record does not
  depend on what else is in the batch or on which worker masks it. Returns
  the records' features as arrays with one row per record (the copies of a
  sequence consecutive), padded to `seq_length` / `max_predictions_per_seq`.
  """
  s, p, copies = (options.seq_length, options.max_predictions_per_seq,
                   options.dupe_factor)
  batch = _as_batch(seqs, s, ids.pad_id)
  input_ids, segment_ids, words, lengths = (
      np.repeat(x, copies, axis=0) for x in (batch.tokens, batch.segment_ids,
                                             batch.words, batch.lengths))
  keys = np.array([stable_hash('mask', options.seed, key, copy)
                   for key in batch.keys for copy in range(copies)], np.uint64)
  masked = masking_rule.mask_rows(
      input_ids, words, keys, masked_lm_prob=options.masked_lm_prob,
      max_predictions=p, whole_words=options.whole_word_masking,
      mask_id=ids.mask_id, first_random_id=vocab_lib.FIRST_RANDOM_ID,
      vocab_size=vocab_size, pad_id=ids.pad_id)
  features = dict(
      input_ids=masked['input_ids'],
      input_mask=(np.arange(s) < lengths[:, None]).astype(np.int64),
      segment_ids=segment_ids,
      masked_lm_positions=masked['masked_lm_positions'],
      masked_lm_ids=masked['masked_lm_ids'],
      masked_lm_weights=masked['masked_lm_weights'])
  if options.use_next_sentence_label:
    features['next_sentence_labels'] = np.repeat(
        batch.next_sentence_labels, copies).reshape(-1, 1)
  return features


def masked_copies(seq: PackedSequence, ids: vocab_lib.SpecialTokenIds,
                  vocab_size: int, options: DataOptions
                  ) -> Iterator[Dict[str, np.ndarray]]:
  """`mask_batch` of one sequence, one features dict per copy."""
  features = mask_batch([seq], ids, vocab_size, options)
  for row in range(options.dupe_factor):
    yield {name: values[row] for name, values in features.items()}


def unmasked_batch(seqs: Union[SequenceBatch, Sequence[PackedSequence]],
                   ids: vocab_lib.SpecialTokenIds,
                   options: DataOptions) -> Dict[str, np.ndarray]:
  """The records of dynamic masking, one row per sequence: ids, mask,
  segments and word ids (-1 past the sequence)."""
  batch = _as_batch(seqs, options.seq_length, ids.pad_id)
  features = dict(
      input_ids=batch.tokens,
      input_mask=(np.arange(options.seq_length) < batch.lengths[:, None]
                  ).astype(np.int64),
      segment_ids=batch.segment_ids, word_ids=batch.words)
  if options.use_next_sentence_label:
    features['next_sentence_labels'] = batch.next_sentence_labels.reshape(
        -1, 1)
  return features
