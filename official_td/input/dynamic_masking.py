"""Dynamic masking (RoBERTa): fresh BERT masks each time a sequence is read.

`create_pretraining_data --masking=dynamic` writes packed, unmasked sequences
once (`input_ids`, `input_mask`, `segment_ids`, `word_ids`). This input
pipeline reads them as `BertPretrainDataLoader` would read masked records and
masks each batch as it is read, with the rule of `official_td.masking` (the
code static masking runs) as TensorFlow ops (`masking_ops`), keyed by (seed,
epoch, file, record): a record read again in a later epoch gets a new mask,
a resumed run (which skips the batches it consumed) sees exactly the masks
of an uninterrupted run, and the mask is the one static masking would write
for that key. The output features are the loader's:
`input_word_ids`, `input_mask`, `input_type_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (and `next_sentence_labels`).

Written here because tf-models-official's loaders read pre-masked records
only. The pipeline is TensorFlow ops only (no `tf.numpy_function`): it runs
on the input host of a TPU VM or GPU machine, and equally where no Python of
ours runs (a pod slice's remote input hosts, TPU Nodes, the tf.data
service).
"""

import dataclasses

import tensorflow as tf

from official_td import vocab as vocab_lib
from official_td.input import masking_ops
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


def keyed(features, seed: int, epoch, file_index, record_index,
          config: MaskingConfig):
  """A record's features with its draws (`masking_ops.row_draws` of its
  key, `masking.record_keys` of (seed, epoch, file, record)): `[S, 4]`
  uint32 under `draws`."""
  features = dict(features)
  features['draws'] = masking_ops.row_draws(
      masking_ops.row_key(seed, epoch, file_index, record_index),
      config.seq_length)
  return features


def mask_batch(features, config: MaskingConfig):
  """The masking rule (`masking_ops.mask_rows`) on a batch of unmasked
  records with their draws (`keyed`).

  Args:
    features: dict of `input_ids`, `input_mask`, `segment_ids`, `word_ids`
      (int64 `[batch, seq_length]`), `draws` (`[batch, seq_length, 4]`),
      and `next_sentence_labels` with NSP.
    config: a `MaskingConfig`.

  Returns:
    The loader's feature dict (int32, weights float32).
  """
  s, p = config.seq_length, config.max_predictions_per_seq
  masked = masking_ops.mask_rows(
      features['input_ids'], features['word_ids'], features['draws'],
      masked_lm_prob=config.masked_lm_prob, max_predictions=p,
      whole_words=config.whole_word_masking, mask_id=config.mask_id,
      first_random_id=vocab_lib.FIRST_RANDOM_ID,
      vocab_size=config.vocab_size)
  out = dict(
      input_word_ids=tf.ensure_shape(masked['input_ids'], [None, s]),
      input_mask=tf.cast(features['input_mask'], tf.int32),
      input_type_ids=tf.cast(features['segment_ids'], tf.int32),
      masked_lm_positions=tf.ensure_shape(masked['masked_lm_positions'],
                                          [None, p]),
      masked_lm_ids=tf.ensure_shape(masked['masked_lm_ids'], [None, p]),
      masked_lm_weights=tf.ensure_shape(masked['masked_lm_weights'],
                                        [None, p]))
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
      lambda e, f, i, record: keyed(parse(record, config), seed, e, f, i,
                                    config),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = dataset.batch(batch_size, drop_remainder=is_training)
  dataset = dataset.map(lambda features: mask_batch(features, config),
                        num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
  return dataset.prefetch(tf.data.AUTOTUNE)
