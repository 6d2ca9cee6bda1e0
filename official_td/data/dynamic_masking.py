"""Dynamic masking (RoBERTa): fresh BERT masks each time a sequence is read.

`create_pretraining_data --masking=dynamic` writes packed, unmasked sequences
once (`input_ids`, `input_mask`, `segment_ids`, `word_ids`). This input
pipeline reads them as `BertPretrainDataLoader` would read masked records and
masks in the pipeline with stateless random ops keyed by (seed, position of
the record in the stream): a record read again in a later epoch gets a new
mask, and a resumed run (which skips the batches it consumed) sees exactly the
masks of an uninterrupted run. The output features are the loader's:
`input_word_ids`, `input_mask`, `input_type_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (and `next_sentence_labels`).

Written here because tf-models-official's loaders read pre-masked records
only.
"""

import dataclasses

import tensorflow as tf

# Random replacements are drawn above the reserved ids, as in static masking.
from official_td.data import validate
from official_td.data.vocab import RESERVED_TOKENS


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
  """How to mask: shapes, rates, the vocab's [MASK] id and size."""
  seq_length: int
  max_predictions_per_seq: int
  vocab_size: int
  mask_id: int
  masked_lm_prob: float = 0.15
  whole_word_masking: bool = False
  use_next_sentence_label: bool = False


def mask(features, index, seed, config: MaskingConfig):
  """BERT masking of one unmasked record, deterministic in (seed, index).

  Chooses `round(masked_lm_prob * maskable)` positions (at most
  `max_predictions_per_seq`; maskable = `word_ids >= 0`, so never
  [CLS]/[SEP]/padding) in a random order; with whole-word masking, words in a
  random order while they fit. 80% of them become [MASK], 10% a random id,
  10% stay.

  Args:
    features: dict of `input_ids`, `input_mask`, `segment_ids`, `word_ids`
      (int64 `[seq_length]`).
    index: int64 scalar, the record's position in the stream.
    seed: int scalar.
    config: a `MaskingConfig`.

  Returns:
    The loader's feature dict (int32, weights float32).
  """
  s, p = config.seq_length, config.max_predictions_per_seq
  key = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
  ids = tf.cast(features['input_ids'], tf.int32)
  words = tf.cast(features['word_ids'], tf.int32)
  # 1. Candidates and the budget.
  candidates = words >= 0
  num_candidates = tf.reduce_sum(tf.cast(candidates, tf.float32))
  budget = tf.minimum(p, tf.maximum(1, tf.cast(
      tf.round(num_candidates * config.masked_lm_prob), tf.int32)))
  # 2. A random order of the candidates (of words, with whole-word masking:
  #    all pieces of a word share its score, so they are adjacent).
  if config.whole_word_masking:
    word_scores = tf.random.stateless_uniform([s], seed=key)
    scores = tf.gather(word_scores, tf.maximum(words, 0))
  else:
    scores = tf.random.stateless_uniform([s], seed=key)
  scores = tf.where(candidates, scores, -1.0)
  order = tf.argsort(scores, direction='DESCENDING', stable=True)
  sorted_candidates = tf.gather(candidates, order)
  count = tf.cumsum(tf.cast(sorted_candidates, tf.int32))
  # 3. Take the first ones that fit in the budget (whole words only).
  if config.whole_word_masking:
    sorted_words = tf.maximum(tf.gather(words, order), 0)
    word_end = tf.math.unsorted_segment_max(count, sorted_words, s)
    fits = tf.gather(word_end, sorted_words) <= budget
  else:
    fits = count <= budget
  chosen = tf.scatter_nd(order[:, None], sorted_candidates & fits, [s])
  positions = tf.cast(tf.where(chosen)[:, 0], tf.int32)  # ascending.
  num = tf.size(positions)
  # 4. 80% [MASK], 10% a random id, 10% unchanged.
  labels = tf.gather(ids, positions)
  draw = tf.random.stateless_uniform([s], seed=key + [0, 1])[:num]
  random_ids = tf.random.stateless_uniform(
      [s], seed=key + [0, 2], minval=len(RESERVED_TOKENS),
      maxval=config.vocab_size, dtype=tf.int32)[:num]
  new = tf.where(draw < 0.8, config.mask_id,
                 tf.where(draw < 0.9, random_ids, labels))
  masked_ids = tf.tensor_scatter_nd_update(ids, positions[:, None], new)
  pad = p - num
  out = dict(
      input_word_ids=tf.ensure_shape(masked_ids, [s]),
      input_mask=tf.cast(features['input_mask'], tf.int32),
      input_type_ids=tf.cast(features['segment_ids'], tf.int32),
      masked_lm_positions=tf.ensure_shape(tf.pad(positions, [[0, pad]]), [p]),
      masked_lm_ids=tf.ensure_shape(tf.pad(labels, [[0, pad]]), [p]),
      masked_lm_weights=tf.ensure_shape(
          tf.pad(tf.ones([num], tf.float32), [[0, pad]]), [p]))
  if config.use_next_sentence_label:
    out['next_sentence_labels'] = tf.cast(features['next_sentence_labels'],
                                          tf.int32)
  return out


def parse(record, config: MaskingConfig):
  """An unmasked record's features."""
  s = config.seq_length
  spec = {name: tf.io.FixedLenFeature([s], tf.int64)
          for name in ('input_ids', 'input_mask', 'segment_ids', 'word_ids')}
  if config.use_next_sentence_label:
    spec['next_sentence_labels'] = tf.io.FixedLenFeature([1], tf.int64)
  return tf.io.parse_single_example(record, spec)


def load(file_pattern: str, config: MaskingConfig, batch_size: int,
         is_training: bool, seed: int, shuffle_buffer_size: int = 10000):
  """Batches of masked features from unmasked records.

  Training: files in a seeded order, repeated, records shuffled with a
  seeded buffer, then masked by position in that stream; batches of exactly
  `batch_size`. Evaluation: one pass in file order, the last batch short.

  Args:
    file_pattern: comma-separated globs.
    config: a `MaskingConfig`.
    batch_size: sequences per batch (the global batch).
    is_training: see above.
    seed: seeds the file order, the shuffle and the masks.
    shuffle_buffer_size: records in the shuffle buffer.

  Returns:
    A `tf.data.Dataset` of feature dicts.
  """
  files = validate.match_files(file_pattern)
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if is_training:
    dataset = dataset.shuffle(len(files), seed=seed).repeat()
  dataset = dataset.interleave(
      tf.data.TFRecordDataset,
      cycle_length=(min(8, len(files)) or 1) if is_training else 1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if is_training:
    dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
  dataset = dataset.enumerate().map(
      lambda i, record: mask(parse(record, config), i, seed, config),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.batch(batch_size, drop_remainder=is_training).prefetch(
      tf.data.AUTOTUNE)
