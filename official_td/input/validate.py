"""Checks pretraining TFRecords before any training step is spent on them."""

from typing import List

import numpy as np
import tensorflow as tf


def match_files(file_pattern: str) -> List[str]:
  """The files of comma-separated globs, in order; a clear ValueError naming
  the first glob that matches nothing."""
  files = []
  for pattern in filter(None, (p.strip() for p in file_pattern.split(','))):
    matched = sorted(tf.io.gfile.glob(pattern))
    if not matched:
      raise ValueError(
          f'No TFRecord file matches {pattern!r}. Create the data with '
          '`python -m official_td.data.create_pretraining_data` or fix the '
          'path.')
    files.extend(matched)
  return files


def validate_pretraining_data(file_pattern: str,
                              seq_length: int,
                              max_predictions_per_seq: int,
                              vocab_size: int,
                              use_next_sentence_label: bool = False,
                              max_records_checked: int = 2000,
                              full_scan_max_bytes: int = 1 << 30,
                              masking: str = 'static') -> List[str]:
  """Raises one clear ValueError naming the file if the data cannot be used.

  While the files total at most `full_scan_max_bytes`, every shard is read to
  its end (TFRecord CRCs catch truncated or corrupt files). Larger datasets
  (pretraining corpora of many GB) would make that read longer than it is
  worth at each start: then every shard is opened and its first records are
  read, and later corruption surfaces when training reaches it. In both
  cases the first `max_records_checked` records are parsed and checked
  against the config: feature lengths, ids below `vocab_size`, masked
  positions inside the sequence.

  Args:
    file_pattern: comma-separated globs of TFRecord files.
    seq_length: the model's sequence length.
    max_predictions_per_seq: MLM slots per sequence.
    vocab_size: the model's vocabulary size.
    use_next_sentence_label: whether records must carry NSP labels.
    max_records_checked: records parsed and value-checked.
    full_scan_max_bytes: total size up to which every record is read.
    masking: 'static' (masked records) or 'dynamic' (unmasked records with
      `word_ids`).

  Returns:
    The matched files.
  """
  files = match_files(file_pattern)
  total_bytes = sum(tf.io.gfile.stat(path).length for path in files)
  per_file = None  # read every record.
  if total_bytes > full_scan_max_bytes:
    per_file = max(1, max_records_checked // len(files))
  checked = 0
  for path in files:
    try:
      records = 0
      dataset = tf.data.TFRecordDataset(path)
      if per_file is not None:
        dataset = dataset.take(per_file)
      # In batches: the scan (and its CRC checks) stays in TensorFlow's
      # C++ instead of a Python step per record.
      for batch in dataset.batch(1024).as_numpy_iterator():
        records += len(batch)
        for record in batch[:max(0, max_records_checked - checked)]:
          _check_record(path, record, seq_length, max_predictions_per_seq,
                        vocab_size, use_next_sentence_label, masking)
          checked += 1
    except tf.errors.OpError as e:
      raise ValueError(
          f'TFRecord file {path!r} is corrupt or unreadable '
          f'({type(e).__name__}: {e.message.splitlines()[0]}). Recreate it '
          'or leave it out of the file pattern.') from None
    if records == 0:
      raise ValueError(f'TFRecord file {path!r} holds no record; recreate '
                       'it or leave it out of the file pattern.')
  return files


def _check_record(path, record, seq_length, max_predictions, vocab_size,
                  use_nsp, masking='static'):
  example = tf.train.Example.FromString(record)
  feature = example.features.feature

  def values(name):
    if name not in feature:
      raise ValueError(
          f'{path!r}: a record lacks the feature {name!r}; the file was not '
          'written by create_pretraining_data (or with other options).')
    f = feature[name]
    return np.array(f.int64_list.value or f.float_list.value)

  lengths = [('input_ids', seq_length), ('input_mask', seq_length),
             ('segment_ids', seq_length)]
  if masking == 'dynamic':
    lengths.append(('word_ids', seq_length))
  else:
    lengths += [('masked_lm_positions', max_predictions),
                ('masked_lm_ids', max_predictions),
                ('masked_lm_weights', max_predictions)]
  for name, length in lengths:
    got = len(values(name))
    if got != length:
      what = ('seq_length' if length == seq_length else
              'max_predictions_per_seq')
      raise ValueError(
          f'{path!r}: feature {name!r} has length {got} but the config has '
          f'{what}={length}; recreate the data with the same {what}, or set '
          f'{what}={got} in the config.')
  for name in ('input_ids',) if masking == 'dynamic' else ('input_ids',
                                                           'masked_lm_ids'):
    top = int(values(name).max())
    if top >= vocab_size:
      raise ValueError(
          f'{path!r}: feature {name!r} holds id {top} but the vocab has '
          f'{vocab_size} ids; the data was made with another vocab. Use the '
          'vocab.txt written next to the data.')
  if masking != 'dynamic' and int(
      values('masked_lm_positions').max()) >= seq_length:
    raise ValueError(f'{path!r}: a masked position lies outside the '
                     f'sequence of {seq_length}.')
  if use_nsp and 'next_sentence_labels' not in feature:
    raise ValueError(f'{path!r}: records have no next_sentence_labels; '
                     'create the data with --use_next_sentence_label or disable NSP.')
