"""Tests of MLM example creation: masking, packing, NSP, determinism."""

import glob
import os
import tempfile

import numpy as np
import tensorflow as tf

from official_td.data.beam import pipeline
from official_td.data.examples import options as data_options
from official_td.data.text import corpus
from official_td.input import validate
from tests import pretrain_utils as pu
from tests import testing_utils as tu


def read_records(pattern):
  rows = []
  for path in sorted(glob.glob(pattern)):
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
      feature = tf.train.Example.FromString(record).features.feature
      rows.append({k: np.array(v.int64_list.value or v.float_list.value)
                   for k, v in feature.items()})
  return rows


def raw_records(pattern):
  """The sorted serialized records of `pattern`: the output as a multiset."""
  return sorted(r for path in sorted(glob.glob(pattern))
                for r in tf.data.TFRecordDataset(path).as_numpy_iterator())


class CreatePretrainingDataTest(tu.TestCase):

  def make(self, **options):
    out = os.path.join(tempfile.mkdtemp(), 'data')
    summary = pu.make_data(out, **options)
    vocab = open(os.path.join(out, 'vocab.txt')).read().split('\n')
    return out, summary, vocab

  def test_masking_rates_and_labels(self):
    out, summary, vocab = self.make(seq_length=64, max_predictions_per_seq=20,
                                    masked_lm_prob=0.15)
    rows = read_records(os.path.join(out, 'train-*'))
    self.assertEqual(len(rows), summary['train']['sequences'])
    mask_id = vocab.index('[MASK]')
    masked = kept = replaced = total = 0
    for row in rows:
      n = int(row['input_mask'].sum())
      w = row['masked_lm_weights'] > 0
      positions = row['masked_lm_positions'][w]
      # 15% of the real tokens, not counting [CLS] / [SEP].
      specials = np.isin(row['input_ids'][:n],
                         [vocab.index('[CLS]'), vocab.index('[SEP]')]).sum()
      self.assertEqual(len(positions), round((n - specials) * 0.15))
      got = row['input_ids'][positions]
      labels = row['masked_lm_ids'][w]
      masked += np.sum(got == mask_id)
      kept += np.sum(got == labels)
      replaced += np.sum((got != mask_id) & (got != labels))
      total += len(positions)
    self.assertAlmostEqual(masked / total, 0.8, delta=0.05)
    self.assertAlmostEqual(kept / total, 0.1, delta=0.05)
    self.assertAlmostEqual(replaced / total, 0.1, delta=0.05)

  def test_whole_word_masking_masks_every_piece(self):
    # Real prose and a small vocab: many words split into several pieces.
    out = os.path.join(tempfile.mkdtemp(), 'data')
    pipeline.create_pretraining_data(
        corpus.embedded_corpus(max_documents=150), out,
        data_options.DataOptions(seq_length=64, max_predictions_per_seq=10,
                        whole_word_masking=True, num_shards=1),
        build_vocab_size=300, beam_args=pu.IN_PROCESS)
    vocab = open(os.path.join(out, 'vocab.txt')).read().split('\n')
    pieces = 0
    for row in read_records(os.path.join(out, 'train-*')):
      real = row['masked_lm_weights'] > 0
      positions = row['masked_lm_positions'][real]
      masked = set(positions.tolist())
      original = row['input_ids'].copy()
      original[positions] = row['masked_lm_ids'][real]
      tokens = [vocab[i] for i in original]
      for p in masked:  # a masked '##' piece: the pieces before it too.
        if tokens[p].startswith('##'):
          pieces += 1
          start = p
          while tokens[start].startswith('##'):
            start -= 1
          start = max(start, 1)  # a word cut by the sequence start.
          self.assertTrue(set(range(start, p)) <= masked, (start, p))
    self.assertGreater(pieces, 0)

  def test_nsp_pairs(self):
    out, _, vocab = self.make(use_next_sentence_label=True)
    rows = read_records(os.path.join(out, 'train-*'))
    labels = [int(r['next_sentence_labels'][0]) for r in rows]
    self.assertIn(0, labels)
    self.assertIn(1, labels)
    sep = vocab.index('[SEP]')
    for row in rows:
      n = int(row['input_mask'].sum())
      ids, segments = row['input_ids'][:n], row['segment_ids'][:n]
      self.assertEqual(list(np.where(ids == sep)[0])[-1], n - 1)
      first_b = int(np.argmax(segments))
      self.assertEqual(ids[first_b - 1], sep)  # A ends with [SEP].
      self.assertTrue((segments[first_b:] == 1).all())

  def test_deterministic_given_seed(self):
    a, _, _ = self.make()
    b, _, _ = self.make()
    for split in ('train', 'eval'):
      self.assertEqual(raw_records(os.path.join(a, f'{split}-*')),
                       raw_records(os.path.join(b, f'{split}-*')))

  def test_more_shards_than_sequences_writes_no_empty_shard(self):
    out, summary, _ = self.make(num_shards=1000)
    shards = glob.glob(os.path.join(out, 'train-*'))
    self.assertEqual(len(shards), summary['train']['shards'])
    for path in shards:
      self.assertNotEmpty(read_records(path))

  def test_validation_of_large_data_reads_only_the_first_records(self):
    out, _, _ = self.make()
    shards = sorted(glob.glob(os.path.join(out, 'train-*')))
    with open(shards[1], 'r+b') as f:  # corrupt the end of one shard.
      f.seek(-20, os.SEEK_END)
      f.write(b'\xff' * 20)
    with self.assertRaisesRegex(ValueError, 'corrupt or unreadable'):
      validate.validate_pretraining_data(
          os.path.join(out, 'train-*'), 32, 5, 1000)
    # Above the full-scan size, the first records of every shard are read.
    files = validate.validate_pretraining_data(
        os.path.join(out, 'train-*'), 32, 5, 1000, full_scan_max_bytes=100,
        max_records_checked=4)
    self.assertEqual(files, shards)

  def test_embedded_corpus_is_prose(self):
    docs = corpus.embedded_corpus(max_documents=200)
    self.assertLen(docs, 200)
    text = '\n'.join(docs)
    self.assertNotIn('>>>', text)
    self.assertGreater(len(text.split()), 10000)


if __name__ == '__main__':
  tf.test.main()
