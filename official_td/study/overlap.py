"""How much held-out text is training text again: the share of held-out
token-id 8-grams that the training records hold too.

  python -m official_td.study.overlap --data_dir=runs/scale_data_c

A corpus whose held-out sequences repeat its training text (mail footers,
resent spam, quotations) lets a model score by memory; the study's corpus
table reports this share beside the unigram cross-entropy. N-grams are of
token ids within a sequence, `[CLS]`, `[SEP]` and padding left out (masked
positions of statically masked records restored to their tokens); each is
kept as a 64-bit hash. Memory is bounded by `--max_mb`, not by the corpus:
the training 8-grams are read in as many passes, each keeping one slice of
the hash space, as that bound needs. Report-only: no run reads it.
Written by hand: no library of the stack counts n-gram overlap of records.
"""

import json
import math
import os
from typing import Dict

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from official_td import rundir
from official_td import vocab as vocab_lib

_PRIME = np.uint64(1000003)


def _sequences(pattern: str, seq_length: int):
  """Each record's token ids (masked positions restored), padding out."""
  features = {
      'input_ids': tf.io.FixedLenFeature([seq_length], tf.int64),
      'input_mask': tf.io.FixedLenFeature([seq_length], tf.int64),
      'masked_lm_positions': tf.io.VarLenFeature(tf.int64),
      'masked_lm_ids': tf.io.VarLenFeature(tf.int64),
      'masked_lm_weights': tf.io.VarLenFeature(tf.float32)}
  files = sorted(tf.io.gfile.glob(pattern))
  def parse(record):
    example = tf.io.parse_single_example(record, features)
    return {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v
            for k, v in example.items()}
  dataset = tf.data.TFRecordDataset(files).map(parse)
  for example in dataset.as_numpy_iterator():
    ids = example['input_ids'].copy()
    real = example['masked_lm_weights'] > 0  # (padded predictions: 0)
    ids[example['masked_lm_positions'][real]] = example['masked_lm_ids'][real]
    yield ids[example['input_mask'] > 0]


def _hashes(pattern: str, seq_length: int, special, n: int):
  for ids in _sequences(pattern, seq_length):
    ids = ids[~np.isin(ids, special)]
    if len(ids) < n:
      continue
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    h = np.zeros(len(windows), np.uint64)
    for j in range(n):
      h = h * _PRIME + windows[:, j].astype(np.uint64)
    yield h


def held_out_overlap(data_dir: str, n: int = 8, max_mb: float = 256) -> Dict:
  """The share of held-out n-grams found in the training records."""
  summary = rundir.read_data_summary(data_dir)
  vocab = vocab_lib.load_vocab(os.path.join(data_dir, 'vocab.txt'))
  special = [vocab.index(t) for t in ('[CLS]', '[SEP]', '[PAD]')
             if t in vocab]
  seq_length = summary['seq_length']
  train = os.path.join(data_dir, 'train-*')
  held = np.concatenate(list(_hashes(os.path.join(data_dir, 'eval-*'),
                                     seq_length, special, n)) or [[]]
                        ).astype(np.uint64)
  if not len(held):
    raise ValueError(f'{data_dir}: no held-out sequence of {n} tokens.')
  train_tokens = summary.get('train', {}).get('tokens', 0)
  passes = max(1, math.ceil(8 * train_tokens / (max_mb * (1 << 20))))
  found = np.zeros(len(held), bool)
  for part in range(passes):
    mine = held % np.uint64(passes) == np.uint64(part)
    kept = np.unique(np.concatenate([
        h[h % np.uint64(passes) == np.uint64(part)]
        for h in _hashes(train, seq_length, special, n)]))
    found[mine] = np.isin(held[mine], kept)
  return dict(n=n, held_out_ngrams=int(len(held)),
              found_in_training=float(found.mean()), passes=passes)


def main(argv):
  del argv
  print(json.dumps(held_out_overlap(flags.FLAGS.data_dir, flags.FLAGS.n,
                                    flags.FLAGS.max_mb)))


if __name__ == '__main__':
  flags.DEFINE_string('data_dir', None, 'A data directory '
                      '(official_td.data.create_pretraining_data).')
  flags.DEFINE_integer('n', 8, 'N-gram length in tokens.')
  flags.DEFINE_float('max_mb', 256, 'Memory for the training n-grams; more '
                     'passes over the training records when they need more.')
  flags.mark_flag_as_required('data_dir')
  app.run(main)
