"""Dynamic masking (RoBERTa): fresh BERT masks each time a sequence is read.

`create_pretraining_data --masking=dynamic` writes packed, unmasked sequences
once (`input_ids`, `input_mask`, `segment_ids`, `word_ids`). This input
pipeline reads them as `BertPretrainDataLoader` would read masked records and
masks in the pipeline with stateless random ops keyed by (seed, epoch, file,
record): a record read again in a later epoch gets a new mask, and a resumed
run (which skips the batches it consumed) sees exactly the masks of an
uninterrupted run. The rule is `official_td.data.masking`'s, the same as
static masking (tests/test_masking.py holds the two implementations
together). The output features are the loader's:
`input_word_ids`, `input_mask`, `input_type_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (and `next_sentence_labels`).

Written here because tf-models-official's loaders read pre-masked records
only.
"""

import dataclasses

import tensorflow as tf

from official_td.data import masking
from official_td.data import validate


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


def record_key(seed, epoch, file_index, record_index):
  """The stateless-random key of a record's mask at an epoch.

  A pure function of (seed, epoch, file, record): the mask a record gets in
  epoch E does not depend on the order the records are read in, so
  `official_td.data.show --epoch=E` reproduces it, a resumed run sees the
  masks of an uninterrupted one, and each epoch masks afresh.
  """
  key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
  for part in (epoch, file_index, record_index):
    key = tf.random.experimental.stateless_fold_in(key, tf.cast(part,
                                                                tf.int64))
  return key


def prediction_budget(num_candidates, config: MaskingConfig):
  """Step 2 of the rule, as `masking.prediction_budget` computes it.

  In float64, as Python's `round(n * prob)`: in float32, 190 * 0.15 is
  28.500002 and rounds to 29, where static masking rounds 28.5 to 28 (half
  to even).
  """
  expected = tf.round(tf.cast(num_candidates, tf.float64) *
                      config.masked_lm_prob)
  return tf.minimum(config.max_predictions_per_seq,
                    tf.maximum(1, tf.cast(expected, tf.int32)))


def _choose_words(words, budget, key, s):
  """Step 3 of the rule: the chosen word ids, as a `[s]` bool by word id.

  Words are visited in a random order; the longest prefix of that order
  that fits is taken at once, then words after it that still fit, one at a
  time (at most `budget - taken` more: each one takes at least a token).
  """
  segments = tf.where(words >= 0, words, s)  # non-candidates: dropped.
  lengths = tf.math.unsorted_segment_sum(tf.ones([s], tf.int32), segments,
                                         s + 1)[:s]
  scores = tf.where(lengths > 0, tf.random.stateless_uniform([s], seed=key),
                    -1.0)
  order = tf.argsort(scores, direction='DESCENDING', stable=True)
  sorted_lengths = tf.gather(lengths, order)
  prefix = tf.cumsum(sorted_lengths) <= budget
  chosen = prefix & (sorted_lengths > 0)
  left = budget - tf.reduce_sum(tf.where(chosen, sorted_lengths, 0))
  index = tf.range(s)

  def body(left, start, chosen):
    fits = (index >= start) & (sorted_lengths > 0) & (sorted_lengths <= left)
    found = tf.reduce_any(fits)
    i = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    chosen = chosen | (found & tf.equal(index, i))
    left = left - tf.where(found, tf.gather(sorted_lengths, i), 0)
    return left, tf.where(found, i + 1, s), chosen

  _, _, chosen = tf.while_loop(
      lambda left, start, _: (left > 0) & (start < s), body,
      (left, tf.reduce_sum(tf.cast(prefix, tf.int32)), chosen))
  return tf.scatter_nd(order[:, None], chosen, [s])


def mask(features, key, config: MaskingConfig):
  """The masking rule of `official_td.data.masking` on one unmasked record.

  Args:
    features: dict of `input_ids`, `input_mask`, `segment_ids`, `word_ids`
      (int64 `[seq_length]`).
    key: the record's stateless-random key (`record_key`), `[2]` int64.
    config: a `MaskingConfig`.

  Returns:
    The loader's feature dict (int32, weights float32).
  """
  s, p = config.seq_length, config.max_predictions_per_seq
  ids = tf.cast(features['input_ids'], tf.int32)
  words = tf.cast(features['word_ids'], tf.int32)
  # 1-2. Candidates and the budget.
  candidates = words >= 0
  budget = prediction_budget(tf.reduce_sum(tf.cast(candidates, tf.int32)),
                             config)
  # 3. Whole words (or, without whole-word masking, single tokens) in a
  #    random order, skipping those that do not fit.
  units = words if config.whole_word_masking else tf.where(
      candidates, tf.range(s), -1)
  chosen_units = _choose_words(units, budget, key, s)
  chosen = candidates & tf.gather(chosen_units, tf.maximum(units, 0))
  positions = tf.cast(tf.where(chosen)[:, 0], tf.int32)  # ascending.
  num = tf.size(positions)
  # 4. 80% [MASK], 10% a random id, 10% unchanged.
  labels = tf.gather(ids, positions)
  draw = tf.random.stateless_uniform([s], seed=key + [0, 1])[:num]
  random_ids = tf.random.stateless_uniform(
      [s], seed=key + [0, 2], minval=masking.FIRST_RANDOM_ID,
      maxval=config.vocab_size, dtype=tf.int32)[:num]
  new = tf.where(draw < masking.MASK_PROB, config.mask_id,
                 tf.where(draw < masking.MASK_PROB + masking.RANDOM_PROB,
                          random_ids, labels))
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


def keyed_records(files, epoch, cycle_length: int = 1):
  """`(epoch, file index, record index, record)` of `files` in this order.

  `files` is a dataset of `(file index, path)`; with `cycle_length > 1`
  their records are interleaved (deterministically).
  """
  def read(index, path):
    return tf.data.TFRecordDataset(path).enumerate().map(
        lambda i, record: (epoch, index, i, record))

  return files.interleave(lambda index, path: read(index, path),
                          cycle_length=cycle_length,
                          num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)


def load(file_pattern: str, config: MaskingConfig, batch_size: int,
         is_training: bool, seed: int, shuffle_buffer_size: int = 10000,
         epoch: int = 0):
  """Batches of masked features from unmasked records.

  Training: epoch after epoch, files in a seeded order per epoch, records
  interleaved and shuffled with a seeded buffer; every record masked with
  the key of (seed, epoch, file, record); batches of exactly `batch_size`.
  Evaluation (and inspection): one pass in file order, masked as in
  `epoch`, the last batch short.

  Args:
    file_pattern: comma-separated globs.
    config: a `MaskingConfig`.
    batch_size: sequences per batch (the global batch).
    is_training: see above.
    seed: seeds the file order, the shuffle and the masks.
    shuffle_buffer_size: records in the shuffle buffer.
    epoch: the epoch whose masks a one-pass read draws.

  Returns:
    A `tf.data.Dataset` of feature dicts.
  """
  paths = validate.match_files(file_pattern)
  files = tf.data.Dataset.from_tensor_slices(
      (tf.range(len(paths), dtype=tf.int64), paths))
  if is_training:
    cycle = min(8, len(paths)) or 1
    dataset = tf.data.Dataset.range(2**62).flat_map(
        lambda e: keyed_records(files.shuffle(len(paths), seed=seed + e), e,
                                cycle))
    dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
  else:
    dataset = keyed_records(files, tf.constant(epoch, tf.int64))
  dataset = dataset.map(
      lambda e, f, i, record: mask(parse(record, config),
                                   record_key(seed, e, f, i), config),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.batch(batch_size, drop_remainder=is_training).prefetch(
      tf.data.AUTOTUNE)
