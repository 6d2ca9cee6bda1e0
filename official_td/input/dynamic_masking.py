"""Dynamic masking (RoBERTa): fresh BERT masks each time a sequence is read.

`create_pretraining_data --masking=dynamic` writes packed, unmasked sequences
once (`input_ids`, `input_mask`, `segment_ids`, `word_ids`). This input
pipeline reads them as `BertPretrainDataLoader` would read masked records and
masks each batch as it is read, with `official_td.masking` (the code static
masking runs) keyed by (seed, epoch, file, record): a record read again in a
later epoch gets a new mask, a resumed run (which skips the batches it
consumed) sees exactly the masks of an uninterrupted run, and the mask is
the one static masking would write for that key. The output features are the loader's:
`input_word_ids`, `input_mask`, `input_type_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (and `next_sentence_labels`).

Written here because tf-models-official's loaders read pre-masked records
only. The rule runs as a `tf.numpy_function` on the input host (a TPU VM's
CPU, or the GPU machine's), in parallel over batches; TPU Nodes, whose input
pipeline runs on a remote host without Python, need static masking.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from official_td import masking
from official_td import vocab as vocab_lib
from official_td.input import validate


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


def mask_batch(features, keys, config: MaskingConfig):
  """`official_td.masking.mask_rows` on a batch of unmasked records.

  Args:
    features: dict of `input_ids`, `input_mask`, `segment_ids`, `word_ids`
      (int64 `[batch, seq_length]`), and `next_sentence_labels` with NSP.
    keys: `[batch]` int64 row keys (`masking.record_keys`, as bits).
    config: a `MaskingConfig`.

  Returns:
    The loader's feature dict (int32, weights float32).
  """
  s, p = config.seq_length, config.max_predictions_per_seq

  def rule(ids, words, row_keys):
    out = masking.mask_rows(
        ids, words, row_keys.view(np.uint64),
        masked_lm_prob=config.masked_lm_prob, max_predictions=p,
        whole_words=config.whole_word_masking, mask_id=config.mask_id,
        first_random_id=vocab_lib.FIRST_RANDOM_ID,
        vocab_size=config.vocab_size)
    return (out['input_ids'].astype(np.int32),
            out['masked_lm_positions'].astype(np.int32),
            out['masked_lm_ids'].astype(np.int32), out['masked_lm_weights'])

  ids, positions, labels, weights = tf.numpy_function(
      rule, [features['input_ids'], features['word_ids'], keys],
      [tf.int32, tf.int32, tf.int32, tf.float32], stateful=False)
  out = dict(
      input_word_ids=tf.ensure_shape(ids, [None, s]),
      input_mask=tf.cast(features['input_mask'], tf.int32),
      input_type_ids=tf.cast(features['segment_ids'], tf.int32),
      masked_lm_positions=tf.ensure_shape(positions, [None, p]),
      masked_lm_ids=tf.ensure_shape(labels, [None, p]),
      masked_lm_weights=tf.ensure_shape(weights, [None, p]))
  if config.use_next_sentence_label:
    out['next_sentence_labels'] = tf.cast(features['next_sentence_labels'],
                                          tf.int32)
  return out


def record_keys(seed: int, epoch, file_index, record_index):
  """`masking.record_keys` of a batch of records, as int64 bits."""
  return tf.numpy_function(
      lambda e, f, i: masking.record_keys(seed, e, f, i).view(np.int64),
      [epoch, file_index, record_index], tf.int64, stateful=False)


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
      lambda e, f, i, record: (e, f, i, parse(record, config)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = dataset.batch(batch_size, drop_remainder=is_training)
  dataset = dataset.map(
      lambda e, f, i, features: mask_batch(
          features, record_keys(seed, e, f, i), config),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return dataset.prefetch(tf.data.AUTOTUNE)
