"""Synthetic pretraining data for benchmarks: shapes without a corpus.

Packed sequences of random ids (no padding, `[CLS] ... [SEP]`) with random
masked positions, in the static records `BertPretrainDataLoader` reads, plus
a vocab whose special tokens come first. The step's cost depends on the
shapes, not on the text.
"""

import os

import numpy as np
import tensorflow as tf

from official_td import keep
from official_td import rundir
from official_td.data.examples import records
from official_td.vocab import RESERVED_TOKENS

# Written without a data summary (`rundir`): read with data.require_summary =
# False.
TRAIN = 'train-00000-of-00001.tfrecord'
EVAL = 'eval-00000-of-00001.tfrecord'


def check_shape(seq_length: int, keep_k: int, max_predictions: int):
  """The benchmark flags' shape, checked before any record is written."""
  keep.check_keep_setting(keep_k, None, seq_length)
  if not 0 < max_predictions <= seq_length - 2:
    raise ValueError(
        f'--max_predictions={max_predictions} does not fit '
        f'--seq_length={seq_length}: use 1 to {seq_length - 2} '
        '(BERT: 20 at 128, 76 at 512).')


def write_vocab(path: str, vocab_size: int) -> str:
  """`[PAD] [UNK] [CLS] [SEP] [MASK]` then `tokN` up to `vocab_size` ids."""
  tokens = list(RESERVED_TOKENS)
  tokens += [f'tok{i}' for i in range(vocab_size - len(tokens))]
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write('\n'.join(tokens) + '\n')
  return path


def write_data(directory: str, vocab_size: int, seq_length: int,
               max_predictions: int, num_train: int, num_eval: int,
               seed: int = 0):
  """Writes `vocab.txt`, `train-*` and `eval-*` records under `directory`.

  Returns:
    `(train_pattern, eval_pattern, vocab_file)`.
  """
  tf.io.gfile.makedirs(directory)
  vocab = write_vocab(rundir.vocab_file_of(directory), vocab_size)
  ids_of = {t: i for i, t in enumerate(RESERVED_TOKENS)}
  rng = np.random.default_rng(seed)
  s, p = seq_length, max_predictions
  for name, n in ((TRAIN, num_train), (EVAL, num_eval)):
    with tf.io.TFRecordWriter(os.path.join(directory, name)) as writer:
      for _ in range(n):
        ids = rng.integers(len(RESERVED_TOKENS), vocab_size, s)
        ids[0], ids[-1] = ids_of['[CLS]'], ids_of['[SEP]']
        positions = np.sort(rng.choice(np.arange(1, s - 1), p, False))
        labels = ids[positions].copy()
        ids[positions] = ids_of['[MASK]']
        writer.write(records.serialize(dict(
            input_ids=ids, input_mask=np.ones(s, np.int64),
            segment_ids=np.zeros(s, np.int64),
            masked_lm_positions=positions, masked_lm_ids=labels,
            masked_lm_weights=np.ones(p, np.float32))))
  return (os.path.join(directory, 'train-*'), os.path.join(directory, 'eval-*'),
          vocab)
