"""The Beam data pipeline: its stages, its runners, its outputs and errors."""

import ast
import collections
import glob
import gzip
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from unittest import mock

import numpy as np
import tensorflow as tf

import apache_beam as beam
from apache_beam.options import pipeline_options as beam_options
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.testing import util as beam_testing

from official.nlp.data import pretrain_dataloader
from official_td import rundir
from official_td import train_lib
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.data import create_pretraining_data as cpd
from official_td.data.beam import beam_io
from official_td.data.beam import pipeline
from official_td.data.beam import progress
from official_td.data.beam import runners
from official_td.data.examples import keys
from official_td.data.examples import masking
from official_td.data.examples import options as data_options
from official_td.data.examples import packing
from official_td.data.examples import records
from official_td.data.examples import tokenization
from official_td.data.examples import vocab_builder
from official_td.data.text import corpus
from official_td.data.text import readers
from official_td.data.text import sources
from official_td.input import dynamic_masking
from official_td.input import show
from official_td.input import validate
from tests import entry_points
from tests import masking_reference
from tests import pretrain_utils as pu
from tests import testing_utils as tu

# Two worker processes: the DirectRunner as on a 2-core machine.
TWO_WORKERS = ('--direct_running_mode=multi_processing',
               '--direct_num_workers=2')
NUM_DOCS = 24


def word_vocab(path):
  """Whole-word tokens: d0..d23 name the documents, w0..w29 fill them."""
  tokens = list(vocab_lib.RESERVED_TOKENS)
  tokens += [f'd{i}' for i in range(NUM_DOCS)] + [f'w{i}' for i in range(30)]
  with open(path, 'w') as f:
    f.write('\n'.join(tokens) + '\n')
  return path, tokens


def labelled_corpus(seed=0):
  """Documents whose every sentence starts with the document's own token,
  of very different lengths (many shorter and some longer than a sequence)."""
  rng = np.random.default_rng(seed)
  docs = []
  for d in range(NUM_DOCS):
    sentences = []
    for _ in range(int(rng.integers(1, 30))):
      words = [f'w{int(w)}' for w in rng.integers(0, 30, rng.integers(2, 12))]
      sentences.append(' '.join([f'd{d}'] + words))
    docs.append('\n'.join(sentences))
  return docs


def read_rows(pattern):
  return [records.parse(r) for path in sorted(tf.io.gfile.glob(pattern))
          for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]


def read_records(pattern):
  """Every record of `pattern` as a dict of numpy arrays (any feature)."""
  rows = []
  for path in sorted(glob.glob(pattern)):
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
      feature = tf.train.Example.FromString(record).features.feature
      rows.append({k: np.array(v.int64_list.value or v.float_list.value)
                   for k, v in feature.items()})
  return rows


def unmask(row):
  ids = row['input_ids'].copy()
  real = row['masked_lm_weights'] > 0
  ids[row['masked_lm_positions'][real]] = row['masked_lm_ids'][real]
  return ids


class StagesTest(tu.TestCase):
  """The pure functions the pipeline chains."""

  def setUp(self):
    super().setUp()
    self.vocab, self.tokens = word_vocab(os.path.join(self.get_temp_dir(),
                                                      'vocab.txt'))
    self.ids = vocab_lib.resolve_special_token_ids(self.vocab)
    self.tokenizer = vocab_builder.make_tokenizer(self.vocab)

  def test_split_documents_streams_blank_line_blocks(self):
    lines = iter(['a b\n', 'c\n', '\n', '  \n', 'd\n', '\n', 'e f\n'])
    self.assertEqual(list(readers.split_documents(lines)),
                     ['a b\nc', 'd', 'e f'])

  def test_tokenize_batches_keep_documents_and_words(self):
    docs = [('k0', 'd0 w1 w2\nd0 w3'), ('k1', '   '), ('k2', 'd2 w4')]
    out = list(tokenization.tokenize(iter(docs), self.tokenizer, batch_size=2))
    self.assertEqual([d.key for d in out], ['k0', 'k2'])
    first = out[0]
    self.assertEqual([[self.tokens[i] for i in s] for s in first.sentences],
                     [['d0', 'w1', 'w2'], ['d0', 'w3']])
    self.assertEqual([w.tolist() for w in first.words], [[0, 1, 2], [3, 4]])

  def test_pack_fills_exact_sequences_across_documents(self):
    batches = list(tokenization.tokenize_batches(
        ((str(i), d) for i, d in enumerate(labelled_corpus())),
        self.tokenizer, batch_size=3))
    docs = [doc for batch in batches for doc in batch.documents()]
    seqs = list(packing.pack(iter(batches), self.ids, 16, 'unit/train'))
    self.assertEqual([s.key for s in seqs],
                     [f'unit/train/{i}' for i in range(len(seqs))])
    for seq in seqs[:-1]:  # all but the last are full.
      self.assertLen(seq.tokens, 16)
    for seq in seqs:
      self.assertEqual(seq.tokens[0], self.ids.cls_id)
      self.assertEqual(seq.tokens[-1], self.ids.sep_id)
      self.assertNotEqual(seq.tokens[1], self.ids.sep_id)
    # The bodies, concatenated, are the documents closed by [SEP]s.
    stream = np.concatenate([s.tokens[1:-1] for s in seqs])
    expected = np.concatenate(
        [np.concatenate(d.sentences + [[self.ids.sep_id]]) for d in docs])
    self.assertAllEqual(stream[stream != self.ids.sep_id],
                        expected[expected != self.ids.sep_id])

  def test_pack_does_not_depend_on_the_tokenizer_batches(self):
    keyed = [(str(i), d) for i, d in enumerate(labelled_corpus())]
    keyed.insert(3, ('empty', '  \n '))  # no token: no [SEP] either.

    def packed(batch_size, seq_length):
      return [(s.key, s.tokens.tolist(), s.words.tolist()) for s in
              packing.pack(tokenization.tokenize_batches(
                  iter(keyed), self.tokenizer, batch_size), self.ids,
                           seq_length, 'u/train')]

    for seq_length in (8, 16, 64):
      whole = packed(1000, seq_length)
      self.assertGreater(len(whole), 2)
      for batch_size in (1, 2, 7):
        self.assertEqual(packed(batch_size, seq_length), whole)
    # Word ids: from 0 in each sequence, one per word start, -1 at
    # [CLS]/[SEP]; a word cut by a sequence boundary continues as word 0.
    starts = np.array([not t.startswith('##') for t in self.tokens])
    for _, tokens, words in packed(5, 16):
      tokens, words = np.array(tokens), np.array(words)
      special = np.isin(tokens, [self.ids.cls_id, self.ids.sep_id])
      self.assertTrue((words[special] == -1).all())
      real = words[~special]
      self.assertEqual(real[0], 0)
      self.assertAllEqual(np.diff(real),
                          starts[tokens[~special]][1:].astype(int))

  def test_packing_and_masking_equal_a_plain_token_by_token_reading(self):
    """The array implementations against the rule written plainly: the
    stream of pieces, each document closed by [SEP], cut every S - 2 pieces
    (a sequence never starts with [SEP]); masks by the documented rule, one
    generator per (seed, key, copy), position by position."""
    vocab = os.path.join(self.get_temp_dir(), 'pieces.txt')
    vocab_builder.build_vocab(corpus.embedded_corpus(200), 300, vocab)
    ids = vocab_lib.resolve_special_token_ids(vocab)
    tokenizer = vocab_builder.make_tokenizer(vocab)
    keyed = [(f'k{i}', d) for i, d in enumerate(corpus.embedded_corpus(60))]
    docs = list(tokenization.tokenize(iter(keyed), tokenizer, 7))
    self.assertTrue(any((~tokenizer.starts_word[np.concatenate(d.sentences)]
                         ).any() for d in docs))  # words of several pieces.
    seqs = list(packing.pack(tokenization.tokenize_batches(
        iter(keyed), tokenizer, 7), ids, 24, 'u/train'))
    stream, word = [], 0
    for doc in docs:
      for sentence, words in zip(doc.sentences, doc.words):
        stream += list(zip(sentence.tolist(), (words + word).tolist()))
      word += 1 + max(int(w.max()) for w in doc.words)
      stream.append((ids.sep_id, -1))
    expected, current = [], []
    for piece in stream + [None]:
      if piece is None or len(current) == 22:
        if current:
          expected.append(current)
        current = []
      if piece is not None and (current or piece[0] != ids.sep_id):
        current.append(piece)
    self.assertLen(seqs, len(expected))
    for seq, pieces in zip(seqs, expected):
      order = {}
      for _, w in pieces:
        if w >= 0:
          order.setdefault(w, len(order))
      self.assertEqual(seq.tokens.tolist(),
                       [ids.cls_id] + [t for t, _ in pieces] + [ids.sep_id])
      self.assertEqual(seq.words.tolist(),
                       [-1] + [order.get(w, -1) for _, w in pieces] + [-1])

    for whole_words in (False, True):
      options = data_options.DataOptions(
          seq_length=24, max_predictions_per_seq=3,
          whole_word_masking=whole_words, dupe_factor=2)
      batch = masking.mask_batch(seqs, ids, ids.vocab_size, options)
      for row in range(len(seqs) * 2):
        seq, copy = seqs[row // 2], row % 2
        key = keys.stable_hash('mask', options.seed, seq.key, copy)
        tokens, chosen = masking_reference.reference_mask(
            seq.tokens.tolist(), seq.words.tolist(), key, 0.15, 3,
            whole_words, ids.mask_id, len(vocab_lib.RESERVED_TOKENS),
            ids.vocab_size)
        labels = [int(seq.tokens[i]) for i in chosen]
        pad = 24 - len(tokens)
        self.assertEqual(batch['input_ids'][row].tolist(),
                         tokens + [ids.pad_id] * pad)
        self.assertEqual(batch['input_mask'][row].tolist(),
                         [1] * len(tokens) + [0] * pad)
        self.assertEqual(batch['masked_lm_positions'][row].tolist(),
                         chosen + [0] * (3 - len(chosen)))
        self.assertEqual(batch['masked_lm_ids'][row].tolist(),
                         labels + [ids.pad_id] * (3 - len(chosen)))
        self.assertEqual(batch['masked_lm_weights'][row].tolist(),
                         [1.0] * len(chosen) + [0.0] * (3 - len(chosen)))

  def test_serialize_batch_writes_serialize_bytes(self):
    rng = np.random.default_rng(0)
    for extra in ({}, {'next_sentence_labels': [1]},
                  {'word_ids': [-1, 0, 5, 2**40, -2**40]}):
      batch = []
      for _ in range(50):
        features = dict(
            input_ids=rng.integers(0, 2**20, 64) * rng.integers(0, 2, 64),
            masked_lm_weights=rng.random(5).astype(np.float32),
            input_mask=rng.integers(0, 2, 64))
        features.update({k: np.array(v) for k, v in extra.items()})
        batch.append(features)
      stacked = {k: np.stack([f[k] for f in batch]) for k in batch[0]}
      self.assertEqual(records.serialize_batch(stacked),
                       [records.serialize(f) for f in batch])
      for record, features in zip(records.serialize_batch(stacked), batch):
        parsed = records.parse(record)
        self.assertEqual(sorted(parsed), sorted(features))
        for k in features:
          self.assertAllClose(parsed[k], features[k])

  def test_masked_copies_depend_on_key_not_on_order(self):
    seq = packing.PackedSequence(
        'u/train/3', np.array([2] + list(range(5, 35)) + [3]),
        np.zeros(32, np.int64), np.array([-1] + list(range(30)) + [-1]))
    options = data_options.DataOptions(seq_length=32, max_predictions_per_seq=5,
                                   dupe_factor=2)
    a = list(masking.masked_copies(seq, self.ids, 59, options))
    b = list(masking.masked_copies(seq, self.ids, 59, options))
    for x, y in zip(a, b):
      for k in x:
        self.assertAllEqual(x[k], y[k])
    self.assertFalse(np.array_equal(a[0]['masked_lm_positions'],
                                    a[1]['masked_lm_positions']))

  def test_options_reject_predictions_that_do_not_fit(self):
    with self.assertRaisesRegex(ValueError, 'does not fit seq_length=16'):
      data_options.DataOptions(seq_length=16,
                           max_predictions_per_seq=15).validate()


class ProgressLineTest(tu.TestCase):

  def test_no_rate_or_eta_before_a_second_reading(self):
    counts = dict(documents=3, text_bytes=2_000_000, sequences=10)
    # The first line: the workers' start-up is not a reading rate.
    self.assertEqual(progress.format_line(counts, 5.0, 10_000_000),
                     'read 3 documents, 2.0 MB of 10.0 MB, 10 sequences')
    later = dict(documents=9, text_bytes=6_000_000, sequences=30)
    # 4 MB in the 2 s since the first line: 2 MB/s, 4 MB left, 2 s.
    self.assertEqual(
        progress.format_line(later, 7.0, 10_000_000, (5.0, 2_000_000)),
        'read 9 documents, 6.0 MB of 10.0 MB (2.00 MB/s), 30 sequences, '
        'ETA 00:00:02')
    # Nothing read since: still no rate.
    self.assertNotIn('ETA', progress.format_line(counts, 9.0, 10_000_000,
                                                 (5.0, 2_000_000)))


class PipelineTest(tu.TestCase):
  """The whole pipeline on the DirectRunner with two worker processes."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.vocab, cls.tokens = word_vocab(os.path.join(cls.root, 'vocab.txt'))
    cls.docs = labelled_corpus()
    # Each document in its own file (some gzipped): 24 units, read in
    # parallel.
    cls.files = []
    for i, doc in enumerate(cls.docs):
      path = os.path.join(cls.root, 'corpus', f'doc{i:02d}.txt')
      os.makedirs(os.path.dirname(path), exist_ok=True)
      if i % 3 == 0:
        path += '.gz'
        with gzip.open(path, 'wt') as f:
          f.write(doc + '\n')
      else:
        with open(path, 'w') as f:
          f.write(doc + '\n')
      cls.files.append(path)
    cls.options = data_options.DataOptions(
        seq_length=16, max_predictions_per_seq=4, eval_fraction=0.25, seed=3,
        dupe_factor=2)
    cls.multi = os.path.join(cls.root, 'multi')
    cls.summary = pipeline.create_pretraining_data(
        sources.text_files([os.path.join(cls.root, 'corpus', '*')]),
        cls.multi, cls.options, vocab_file=cls.vocab, beam_args=TWO_WORKERS)

  def test_records_are_read_by_bert_pretrain_data_loader(self):
    params = pretrain_dataloader.BertPretrainDataConfig(
        input_path=os.path.join(self.multi, 'train-*'), global_batch_size=4,
        is_training=False, seq_length=16, max_predictions_per_seq=4,
        use_next_sentence_label=False)
    batch = next(iter(
        pretrain_dataloader.BertPretrainDataLoader(params).load()))
    self.assertEqual(batch['input_word_ids'].shape, (4, 16))
    self.assertEqual(batch['masked_lm_ids'].shape, (4, 4))

  def test_sequences_are_exact_and_unmasking_gives_back_every_token(self):
    rows = read_rows(os.path.join(self.multi, '*.tfrecord'))
    copies = self.options.dupe_factor
    self.assertLen(rows, (self.summary['train']['sequences'] +
                          self.summary['eval']['sequences']))
    counts = collections.Counter()
    ids = vocab_lib.resolve_special_token_ids(self.vocab)
    for row in rows:
      n = int(row['input_mask'].sum())
      self.assertLen(row['input_ids'], 16)
      self.assertTrue((row['input_mask'][:n] == 1).all())
      original = unmask(row)
      self.assertEqual(original[0], ids.cls_id)
      self.assertEqual(original[n - 1], ids.sep_id)
      self.assertTrue((original[n:] == ids.pad_id).all())
      counts.update(self.tokens[i] for i in original[1:n]
                    if i not in (ids.sep_id,))
    # Per document (d<i> starts each of its sentences) and in all: every
    # token of the corpus, `dupe_factor` times; none lost, none doubled.
    expected = collections.Counter()
    for doc in self.docs:
      expected.update(doc.split())
    for token, count in expected.items():
      self.assertEqual(counts[token], copies * count, token)
    self.assertEqual(sum(counts.values()), copies * sum(expected.values()))
    # Eval holds whole documents: a document's token is in one split only.
    eval_tokens = {self.tokens[i] for r in read_rows(
        os.path.join(self.multi, 'eval-*')) for i in unmask(r)}
    train_tokens = {self.tokens[i] for r in read_rows(
        os.path.join(self.multi, 'train-*')) for i in unmask(r)}
    doc_tokens = {f'd{i}' for i in range(NUM_DOCS)}
    self.assertTrue(eval_tokens & doc_tokens)
    self.assertFalse(eval_tokens & train_tokens & doc_tokens)

  def test_masking_rates(self):
    rows = read_rows(os.path.join(self.multi, 'train-*'))
    ids = vocab_lib.resolve_special_token_ids(self.vocab)
    masked = kept = replaced = total = 0
    for row in rows:
      real = row['masked_lm_weights'] > 0
      positions = row['masked_lm_positions'][real]
      n = int(row['input_mask'].sum())
      maskable = int(np.sum(~np.isin(row['input_ids'][:n],
                                     [ids.cls_id, ids.sep_id]) |
                            (row['input_ids'][:n] == ids.mask_id)))
      self.assertEqual(len(positions),
                       min(4, max(1, round(maskable * 0.15))))
      got, labels = row['input_ids'][positions], row['masked_lm_ids'][real]
      masked += np.sum(got == ids.mask_id)
      kept += np.sum(got == labels)
      replaced += np.sum((got != ids.mask_id) & (got != labels))
      total += len(positions)
    # Binomial sampling error at this size: about 0.03 (80%), 0.02 (10%).
    self.assertGreater(total, 300)
    self.assertAlmostEqual(masked / total, 0.8, delta=0.08)
    self.assertAlmostEqual(kept / total, 0.1, delta=0.06)
    self.assertAlmostEqual(replaced / total, 0.1, delta=0.06)

  def test_one_process_and_two_workers_write_the_same_records(self):
    single = os.path.join(self.root, 'single' + uuid.uuid4().hex[:6])
    pipeline.create_pretraining_data(
        sources.text_files([os.path.join(self.root, 'corpus', '*')]),
        single, self.options, vocab_file=self.vocab,
        beam_args=pu.IN_PROCESS)
    for split in ('train', 'eval'):
      a = sorted(r for p in glob.glob(os.path.join(single, f'{split}-*'))
                 for r in tf.data.TFRecordDataset(p).as_numpy_iterator())
      b = sorted(r for p in glob.glob(os.path.join(self.multi, f'{split}-*'))
                 for r in tf.data.TFRecordDataset(p).as_numpy_iterator())
      self.assertNotEmpty(a)
      self.assertEqual(a, b, split)

  def test_the_same_settings_write_the_same_files_name_by_name(self):
    # Four workers (threads here: the same bundles as processes, without
    # their start-up), so four files per split whose order could vary. (The
    # files are keyed by their names, not by the temporary directory, so
    # which documents fall in the eval split is the same on every machine.)
    four = ('--direct_running_mode=multi_threading', '--direct_num_workers=4')
    runs = []
    for name in ('first', 'second'):
      out = os.path.join(self.root, name)
      pipeline.create_pretraining_data(
          sources.text_files([os.path.join(self.root, 'corpus', '*')]),
          out, self.options, vocab_file=self.vocab, beam_args=four)
      runs.append({os.path.basename(p): open(p, 'rb').read()
                   for p in glob.glob(os.path.join(out, '*.tfrecord'))})
    self.assertEqual(sorted(runs[0]), sorted(runs[1]))
    self.assertLen([n for n in runs[0] if n.startswith('train')], 4)
    self.assertGreaterEqual(
        len([n for n in runs[0] if n.startswith('eval')]), 2, sorted(runs[0]))
    for name, content in runs[0].items():
      self.assertEqual(content, runs[1][name], name)

  def test_shards_are_numbered_by_content_not_by_temporary_name(self):
    out = self.get_temp_dir()
    # Three files whose temporary names sort against their content's order.
    ordered = sorted([b'first', b'second', b'third'], key=keys.stable_hash)
    written = []
    for i, content in enumerate(ordered):
      path = os.path.join(out, f'tmp-{len(ordered) - i}')
      with tf.io.TFRecordWriter(path) as writer:
        writer.write(content)
      written.append((keys.stable_hash(content), path))
    final = beam_io.finalize_shards(written[1:] + written[:1], out, 'train')
    self.assertEqual([os.path.basename(p) for p in final],
                     [f'train-{i:05d}-of-00003.tfrecord' for i in range(3)])
    self.assertEqual(
        [next(iter(tf.data.TFRecordDataset(p).as_numpy_iterator()))
         for p in final], ordered)

  def test_summary_is_the_completion_marker(self):
    summary = json.load(open(os.path.join(self.multi, 'data_summary.json')))
    self.assertEqual(summary['train']['documents'] +
                     summary['eval']['documents'], NUM_DOCS)
    self.assertEqual(summary['source']['units'], NUM_DOCS)
    self.assertFalse(os.path.exists(os.path.join(self.multi, '.incomplete')))
    self.assertFalse(os.path.exists(os.path.join(self.multi, '.beam-temp')))
    with self.assertRaisesRegex(ValueError, 'never overwritten'):
      pipeline.create_pretraining_data(
          sources.text_files(self.files), self.multi, self.options,
          vocab_file=self.vocab, beam_args=pu.IN_PROCESS)


class StaticRecordsTest(tu.TestCase):
  """What static-masking data holds: whole-word masking, sentence pairs,
  shards, and the check training runs on it. (Masking rates, exact packing
  and determinism across runs and worker counts: PipelineTest.)"""


  def make(self, **options):
    out = os.path.join(tempfile.mkdtemp(), 'data')
    summary = pu.make_data(out, **options)
    vocab = open(os.path.join(out, 'vocab.txt')).read().split('\n')
    return out, summary, vocab

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

  def test_embedded_docstrings_are_ast_walks_in_its_order(self):
    """The statement-only walk finds what `ast.walk` finds, in its order:
    on definitions nested in every kind of block and on stdlib files."""
    source = '''"""module"""
try:
  def a():
    """in try"""
except ImportError:
  class B:
    """in except"""
    def c(self):
      """method"""
else:
  async def d():
    """in else"""
finally:
  def e():
    """in finally"""
if x:
  def f():
    """in if"""
    def g():
      """nested"""
with y:
  for z in w:
    def h():
      """in for"""
  else:
    def i():
      """in for-else"""
match v:
  case 1:
    def j():
      """in case"""
'''
    def walked(text):
      return [ast.get_docstring(n) for n in ast.walk(ast.parse(text))
              if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                ast.AsyncFunctionDef)) and
              ast.get_docstring(n)]
    path = os.path.join(self.get_temp_dir(), 'blocks.py')
    with open(path, 'w') as f:
      f.write(source)
    expected = walked(source)
    self.assertLen(expected, 11)
    self.assertEqual(list(corpus._file_docstrings(path)), expected)
    for path in corpus._stdlib_files()[::40]:
      with open(path, encoding='utf-8') as f:
        self.assertEqual(list(corpus._file_docstrings(path)),
                         walked(f.read()), path)
    # The files are those of the recursive glob the walk replaces.
    stdlib = sysconfig.get_paths()['stdlib']
    self.assertEqual(corpus._stdlib_files(), tuple(
        p for p in sorted(glob.glob(os.path.join(stdlib, '**', '*.py'),
                                    recursive=True))
        if 'site-packages' not in p and os.sep + 'test' not in p))

  def test_embedded_corpus_is_cached_whole_and_named_by_what_it_reads(self):
    """The cache (a fresh directory here) is written by the first complete
    read, equals an extraction without it, is what later reads read, and is
    named by the files' sizes and times."""
    root = self.get_temp_dir()

    def read(cache, *unit):
      with mock.patch.dict(os.environ, OFFICIAL_TD_CACHE=cache):
        corpus._forget_documents()
        try:
          return (list(corpus.read_embedded(*unit)) if unit
                  else corpus.embedded_corpus())
        finally:
          corpus._forget_documents()

    # No cache (a path that cannot be a directory): extracted, nothing kept.
    blocked = os.path.join(root, 'file')
    open(blocked, 'w').close()
    fresh = read(os.path.join(blocked, 'cache'))
    self.assertGreater(len(fresh), 7000)
    cache = os.path.join(root, 'cache')
    # A capped read stops early and writes none.
    with mock.patch.dict(os.environ, OFFICIAL_TD_CACHE=cache):
      self.assertEqual(corpus.embedded_corpus(max_documents=300), fresh[:300])
    self.assertFalse(os.path.exists(cache))
    # A worker's part finds no cache and writes none.
    self.assertEqual(read(cache, 1, 3), [
        d for p in corpus._stdlib_files()[1::3]
        for d in corpus._file_documents(p)])
    self.assertFalse(os.path.exists(cache))
    self.assertEqual(read(cache), fresh)
    written = glob.glob(os.path.join(cache, '*'))
    self.assertLen(written, 1)
    self.assertEqual(os.path.basename(written[0]), 'embedded-' +
                     corpus.cache_key(corpus._stdlib_files())[:20] + '.json')
    # Later reads read the file (a document changed in it is read back).
    with open(written[0]) as f:
      documents = json.load(f)
    first = corpus._stdlib_files()[0]
    documents[first] = ['A document only the cache holds.']
    with open(written[0], 'w') as f:
      json.dump(documents, f)
    for unit in ((), (0, 1)):
      self.assertTrue('A document only the cache holds.' in read(cache, *unit),
                      f'read_embedded{unit or ""} did not read the cache')
    # A file read changes size or time: another name.
    other = os.path.join(root, 'a.py')
    with open(other, 'w') as f:
      f.write('"""One."""\n')
    key = corpus.cache_key([other])
    os.utime(other, ns=(1, 1))
    self.assertNotEqual(corpus.cache_key([other]), key)
    key = corpus.cache_key([other])
    with open(other, 'a') as f:
      f.write('"""Two."""\n')
    os.utime(other, ns=(1, 1))
    self.assertNotEqual(corpus.cache_key([other]), key)



class DynamicMaskingTest(tu.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.data = os.path.join(cls.root, 'dynamic')
    cls.summary = pu.make_data(
        cls.data, sources.in_memory(pu.varied_corpus(seed=1)),
        masking='dynamic', whole_word_masking=True)
    vocab = open(os.path.join(cls.data, 'vocab.txt')).read().split('\n')[:-1]
    cls.config = dynamic_masking.MaskingConfig(
        seq_length=32, max_predictions_per_seq=5, vocab_size=len(vocab),
        mask_id=vocab.index('[MASK]'), whole_word_masking=True)

  def test_records_are_unmasked_once(self):
    self.assertEqual(self.summary['masking'], 'dynamic')
    rows = read_rows(os.path.join(self.data, 'train-*'))
    self.assertLen(rows, self.summary['train']['sequences'])
    self.assertNotIn('masked_lm_ids', rows[0])
    self.assertIn('word_ids', rows[0])

  def test_epochs_draw_different_masks_on_a_corpus_without_duplicates(self):
    epochs = [list(show.examples(self.data, epoch=e)) for e in (0, 1)]
    originals = [ex['original_ids'].tobytes() for ex in epochs[0]]
    self.assertLen(set(originals), len(originals))  # no two records alike.
    self.assertLen(originals, self.summary['train']['sequences'])
    differs = 0
    for a, b in zip(*epochs):
      self.assertAllEqual(a['original_ids'], b['original_ids'])
      differs += not np.array_equal(a['masked_positions'],
                                    b['masked_positions'])
    self.assertGreater(differs, 0.9 * len(originals))

  def test_training_stream_masks_each_record_as_its_epoch_says(self):
    # The stream training reads (shuffled, repeated) gives every record the
    # mask that `show` draws for it at that epoch: two epochs of the stream
    # hold each record with its epoch-0 and its epoch-1 mask.
    pattern = os.path.join(self.data, 'train-*')
    n = self.summary['train']['sequences']
    stream = dynamic_masking.load(pattern, self.config, 1, True, seed=5,
                                  shuffle_buffer_size=1)
    seen = collections.Counter()
    for ex in show.examples_of(stream.take(2 * n)):
      seen[ex['original_ids'].tobytes(),
           ex['masked_positions'].tobytes()] += 1
    expected = collections.Counter()
    for epoch in (0, 1):
      for ex in show.examples(self.data, epoch=epoch, seed=5):
        expected[ex['original_ids'].tobytes(),
                 ex['masked_positions'].tobytes()] += 1
    self.assertEqual(seen, expected)

  def test_resumed_stream_has_the_uninterrupted_masks(self):
    pattern = os.path.join(self.data, 'train-*')
    full = list(dynamic_masking.load(pattern, self.config, 4, True,
                                     seed=9).take(12))
    resumed = list(dynamic_masking.load(pattern, self.config, 4, True,
                                        seed=9).skip(7).take(5))
    for a, b in zip(full[7:], resumed):
      for key in a:
        self.assertAllEqual(a[key], b[key])

  def test_whole_words_labels_and_never_special_tokens(self):
    pattern = os.path.join(self.data, 'train-*')
    batch = next(iter(dynamic_masking.load(pattern, self.config, 64, False,
                                           seed=1)))
    rows = read_rows(pattern)[:64]
    for i, row in enumerate(rows):
      real = batch['masked_lm_weights'][i].numpy() > 0
      positions = batch['masked_lm_positions'][i].numpy()[real]
      words = row['word_ids']
      self.assertTrue((words[positions] >= 0).all())  # never [CLS]/[SEP].
      chosen = set(words[positions].tolist())
      for w in chosen:  # every piece of a chosen word.
        self.assertTrue(set(np.where(words == w)[0]) <= set(positions))
      self.assertAllEqual(batch['masked_lm_ids'][i].numpy()[real],
                          row['input_ids'][positions])

  def test_training_from_dynamic_data(self):
    model_dir = os.path.join(self.root, 'model')
    proc = pu.run_train(model_dir, pu.data_bindings(self.data) + [
        'run.train_steps = 10', 'run.eval_interval = 10'])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['step'], 10)
    self.assertTrue(np.isfinite(results['eval_mlm_loss']))
    self.assertIn('step 10/10', proc.stdout)


class OutputsTest(tu.TestCase):

  def test_ram_filesystem_output_trains(self):
    out = f'ram://data-{uuid.uuid4().hex[:8]}/td'
    summary = pu.make_data(out, beam_args=())  # ram:// runs in-process.
    self.assertTrue(tf.io.gfile.exists(f'{out}/data_summary.json'))
    self.assertFalse(os.path.exists('ram:'))
    results = train_lib.run_pretraining(
        tf.distribute.OneDeviceStrategy('/cpu:0'),
        encoders.EncoderConfig(hidden_size=16, num_layers=2,
                               num_attention_heads=2, inner_dim=32,
                               max_sequence_length=32, keep_k=16),
        pretraining.DataConfig(train_data=f'{out}/train-*',
                            vocab_file=f'{out}/vocab.txt', seq_length=32,
                            max_predictions_per_seq=5),
        pretraining.OptimizerConfig(warmup_steps=1),
        pretraining.RunConfig(model_dir=f'{out}-model', train_steps=4,
                           global_batch_size=4, steps_per_loop=2,
                           checkpoint_interval=2, summary_interval=2))
    self.assertEqual(results['step'], 4)
    self.assertGreater(summary['train']['sequences'], 0)

  def test_killed_run_leaves_nothing_training_accepts_and_rerun_completes(
      self):
    work = tempfile.mkdtemp()
    out = os.path.join(work, 'data')
    corpus_file = os.path.join(work, 'corpus.txt')
    with open(corpus_file, 'w') as f:
      f.write('\n\n'.join(pu.varied_corpus(2000)) + '\n')
    command = [sys.executable, '-m', 'official_td.data.create_pretraining_data',
               f'--input_files={corpus_file}', f'--output_dir={out}',
               '--build_vocab_size=500', '--seq_length=32',
               '--max_predictions_per_seq=5', '--num_workers=2']
    # A session of its own: the kill takes the Beam worker processes too.
    proc = entry_points.Popen(command, cwd=pu.REPO, env=pu.env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    marker = os.path.join(out, '.incomplete')
    deadline = time.time() + 300
    while (proc.poll() is None and not os.path.exists(marker) and
           time.time() < deadline):
      time.sleep(0.05)  # polling interval, not synchronization.
    os.killpg(proc.pid, signal.SIGKILL)
    self.assertEqual(proc.wait(), -signal.SIGKILL)
    self.assertTrue(os.path.exists(marker))
    self.assertFalse(os.path.exists(os.path.join(out, 'data_summary.json')))
    with self.assertRaisesRegex(ValueError, 'has no data_summary.json'):
      rundir.read_data_summary(out)  # what training checks first.
    rerun = entry_points.run(command, cwd=pu.REPO, env=pu.env(),
                           capture_output=True, text=True, timeout=600)
    self.assertEqual(rerun.returncode, 0, rerun.stderr[-3000:])
    summary = json.load(open(os.path.join(out, 'data_summary.json')))
    self.assertGreater(summary['train']['sequences'], 1000)
    self.assertFalse(os.path.exists(marker))


def _process_name(_):
  return multiprocessing.current_process().name


class DirectRunnerModeTest(tu.TestCase):
  """Plain text under `ONE_PROCESS_BYTES` is read in this process; larger
  or unknown inputs, `num_workers` and the user's own options get workers."""

  def mode(self, beam_args=(), num_workers=0, input_bytes=None):
    direct = runners.pipeline_options(
        beam_args, self.get_temp_dir(), num_workers,
        input_bytes).view_as(beam_options.DirectOptions)
    return direct.direct_running_mode, direct.direct_num_workers

  def test_small_inputs_run_here_and_the_rest_on_workers(self):
    cores = os.cpu_count() or 1
    limit = runners.ONE_PROCESS_BYTES
    self.assertEqual(self.mode(input_bytes=limit - 1), ('in_memory', 1))
    self.assertEqual(self.mode(input_bytes=limit),
                     ('multi_processing', cores))
    self.assertEqual(self.mode(), ('multi_processing', cores))  # unknown.
    self.assertEqual(self.mode(num_workers=2, input_bytes=10),
                     ('multi_processing', 2))
    self.assertEqual(self.mode(['--direct_num_workers=3'], input_bytes=10),
                     ('multi_processing', 3))
    self.assertEqual(
        self.mode(['--direct_running_mode=multi_threading'], input_bytes=10),
        ('multi_threading', cores))


class LocalWorkersTest(tu.TestCase):
  """The DirectRunner's workers are Beam's own subprocesses: no service that
  starts processes (an external worker pool) listens anywhere."""

  def test_workers_are_beams_subprocesses_and_no_worker_pool_is_served(self):
    served = []
    grpc_module = beam_fn_api_pb2_grpc
    original = grpc_module.add_BeamFnExternalWorkerPoolServicer_to_server

    def recording(servicer, server):
      served.append(type(servicer).__name__)
      return original(servicer, server)

    with mock.patch.object(
        grpc_module, 'add_BeamFnExternalWorkerPoolServicer_to_server',
        recording):
      # The probe sees a pool when one is served (Beam's own, port 0).
      pool = worker_pool_main.BeamFnExternalWorkerPoolServicer
      address, server = pool.start(port=0)
      server.stop(None)
      self.assertEqual(served, [pool.__name__], address)
      served.clear()
      options = runners.pipeline_options(TWO_WORKERS, self.get_temp_dir())
      with beam.Pipeline(runner=runners.runner_for(options),
                         options=options) as p:
        names = (p | beam.Create(range(8)) | beam.Reshuffle()
                 | beam.Map(_process_name))

        def all_from_beams_subprocesses(names):
          if sorted(names) != ['MainProcess'] * 8:
            raise AssertionError(f'not Beam\'s workers: {sorted(set(names))}')
        beam_testing.assert_that(names, all_from_beams_subprocesses)
    self.assertEqual(served, [])
    self.assertEqual(options.view_as(
        beam_options.DirectOptions).direct_running_mode, 'multi_processing')


class WorkerPackagingTest(tu.TestCase):

  REMOTE = ['--runner=DataflowRunner', '--project=my-project',
            '--region=us-central1', '--temp_location=gs://bucket/tmp']

  def test_remote_runner_gets_the_project_file(self):
    options = runners.pipeline_options(self.REMOTE, 'gs://bucket/out')
    setup = options.view_as(beam_options.SetupOptions)
    self.assertEqual(setup.setup_file, os.path.join(pu.REPO, 'pyproject.toml'))
    self.assertIsNone(setup.extra_packages)

  def test_installed_without_a_checkout_says_how_to_ship_the_package(self):
    with mock.patch.object(runners, 'project_file', return_value=''):
      with self.assertRaisesRegex(ValueError, '--setup_file=PATH/TO/CHECKOUT'
                                  '/pyproject.toml'):
        runners.pipeline_options(self.REMOTE, 'gs://bucket/out')

  def test_dataflow_job_builds_offline(self):
    """The README's Dataflow command, built by Beam and not submitted.

    `--dry_run=True --no_auth`: the DataflowRunner translates the pipeline
    and resolves what its workers get, then returns the job request instead
    of calling the service (this needs apache-beam[gcp]:
    requirements-dataflow.txt).
    """
    work = tempfile.mkdtemp()
    text = os.path.join(work, 'corpus.txt')
    with open(text, 'w') as f:
      f.write('\n\n'.join(pu.tiny_corpus(20)) + '\n')
    vocab = os.path.join(work, 'vocab.txt')
    tu.write_vocab(vocab)
    command = [sys.executable, '-m', 'official_td.data.create_pretraining_data',
               f'--input_files={text}', f'--vocab_file={vocab}',
               '--output_dir=gs://my-bucket/data/td', '--seq_length=64',
               '--max_predictions_per_seq=10', '--masking=dynamic'
              ] + self.REMOTE + [
                  '--requirements_file=requirements-worker.txt',
                  '--requirements_cache=skip', '--dry_run=True', '--no_auth']
    proc = entry_points.run(command, cwd=pu.REPO, env=pu.env(),
                          capture_output=True, text=True, timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] +
                     proc.stderr[-3000:])
    lines = proc.stdout.strip().splitlines()
    job = json.loads(lines[-2])
    self.assertEqual(lines[-1], 'Dry run: the job was built, not submitted; '
                     'nothing was written.')
    self.assertTrue(job['dry_run'])
    self.assertTrue(job['job_name'])
    self.assertEqual(job['transforms'], sorted(
        ['Sources', 'ReadTokenizePack'] + [
            f'{stage}{split}' for stage in ('Mask', 'Serialize', 'Write')
            for split in ('Train', 'Eval')]))
    # The workers get the package (Beam builds it from pyproject.toml) and
    # the pinned worker requirements.
    self.assertIn('workflow.tar.gz', job['staged'])
    self.assertIn('requirements.txt', job['staged'])
    # An option only the DataflowRunner has is refused elsewhere, up front.
    proc = entry_points.run(command[:8] + [
        f'--output_dir={os.path.join(work, "out")}', '--dry_run=True'],
                          cwd=pu.REPO, env=pu.env(), capture_output=True,
                          text=True, timeout=600)
    pu.assert_clean_error(self, proc, 'is an option of the DataflowRunner')
    self.assertFalse(os.path.exists(os.path.join(work, 'out')))

  def test_code_the_user_ships_is_left_alone(self):
    for extra in ('--setup_file=./setup.py', '--extra_package=dist/x.tar.gz',
                  '--sdk_container_image=gcr.io/p/image'):
      options = runners.pipeline_options(self.REMOTE + [extra],
                                          'gs://bucket/out')
      setup = options.view_as(beam_options.SetupOptions)
      self.assertEqual(setup.extra_packages, ['dist/x.tar.gz']
                       if 'extra' in extra else None, extra)
      self.assertEqual(setup.setup_file, './setup.py' if 'setup' in extra
                       else None, extra)
    # The local runner needs no package.
    options = runners.pipeline_options([], '/tmp/out')
    self.assertIsNone(options.view_as(beam_options.SetupOptions).setup_file)


class BadInputTest(tu.TestCase):
  """Each bad input: one clear error, before any output."""

  def assert_rejected(self, message, source=None, vocab_file=None,
                      output_dir=None, beam_args=pu.IN_PROCESS, **options):
    out = output_dir or os.path.join(tempfile.mkdtemp(), 'out')
    existed = os.path.exists(out)
    before = sorted(os.listdir(out)) if existed else None
    with self.assertRaisesRegex(ValueError, message):
      pipeline.create_pretraining_data(
          source if source is not None else sources.in_memory(
              pu.tiny_corpus()), out,
          data_options.DataOptions(seq_length=options.pop('seq_length', 32),
                               max_predictions_per_seq=options.pop(
                                   'max_predictions_per_seq', 5), **options),
          vocab_file=vocab_file,
          build_vocab_size=None if vocab_file else 100, beam_args=beam_args)
    if existed:
      self.assertEqual(sorted(os.listdir(out)), before)
    else:
      self.assertFalse(os.path.exists(out))

  def test_no_input_matched(self):
    with self.assertRaisesRegex(ValueError, 'No file matches'):
      cpd.make_source(input_files=['/nonexistent/dir/*.txt'])

  def test_empty_corpus(self):
    path = os.path.join(tempfile.mkdtemp(), 'empty.txt')
    open(path, 'w').write('\n \n\n')
    self.assert_rejected('The corpus is empty', sources.text_files([path]))

  def test_a_gz_without_gzip_header_is_refused_before_any_output(self):
    path = os.path.join(tempfile.mkdtemp(), 'plain.txt.gz')
    open(path, 'w').write('not compressed\n')
    self.assert_rejected('is not a gzip file', sources.text_files([path]))

  def test_corrupt_gzip_among_many_fails_the_job_naming_it(self):
    # The launcher reads only the headers; the worker that decompresses the
    # truncated file fails the job with one message, and the output is
    # removed.
    root = tempfile.mkdtemp()
    for i in range(7):
      with gzip.open(os.path.join(root, f'part{i}.txt.gz'), 'wt') as f:
        f.write('\n\n'.join(pu.tiny_corpus(20)) * 20)
    bad = os.path.join(root, 'part3.txt.gz')
    data = open(bad, 'rb').read()
    open(bad, 'wb').write(data[:len(data) // 2])  # truncated.
    out = os.path.join(root, 'data')
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.data.create_pretraining_data',
         f'--input_files={root}/*.txt.gz', f'--output_dir={out}',
         '--build_vocab_size=100', '--vocab_sample_mb=1', '--seq_length=32',
         '--max_predictions_per_seq=5', '--num_workers=2'],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=600, relay=entry_points.shared_relay())
    pu.assert_clean_error(self, proc, f"'{bad}' is not a readable gzip file")
    # Nothing that looks like data is left (not even its vocab.txt); the log
    # the error names is hidden beside it.
    self.assertFalse(os.path.exists(out))
    log = os.path.join(root, '.data.create_pretraining_data.log')
    self.assertIn(f'the log: {log}', proc.stderr)
    self.assertTrue(os.path.exists(log))

  def test_vocab_without_special_tokens(self):
    vocab = tu.write_vocab(os.path.join(tempfile.mkdtemp(), 'v.txt'),
                           omit=('[MASK]',))
    self.assert_rejected(r'\[MASK\]', vocab_file=vocab)

  def test_casing_that_contradicts_the_vocab(self):
    root = tempfile.mkdtemp()
    uncased = tu.write_vocab(os.path.join(root, 'uncased.txt'))
    cased = os.path.join(root, 'cased.txt')
    tokens = open(uncased).read().split('\n')
    tokens[10:12] = ['The', '##Ab']
    open(cased, 'w').write('\n'.join(tokens))
    # Cased text through an uncased vocab: every capital lost to [UNK].
    self.assert_rejected(
        "is an uncased vocab .* but --nolower_case keeps the text cased.*drop "
        '--nolower_case', vocab_file=uncased, lower_case=False)
    # Lower-cased text through a cased vocab: its capitals never used.
    self.assert_rejected(
        r"is a cased vocab \(entries such as \['The', '##Ab'\].* but "
        '--lower_case lower-cases.*pass --nolower_case', vocab_file=cased)

  def test_existing_complete_output(self):
    out = os.path.join(tempfile.mkdtemp(), 'data')
    pu.tiny_data(out)
    self.assert_rejected('never overwritten', output_dir=out)

  def test_predictions_that_do_not_fit(self):
    self.assert_rejected('does not fit seq_length=16', seq_length=16,
                         max_predictions_per_seq=20)

  def test_unknown_runner_option(self):
    self.assert_rejected('Unknown option', beam_args=['--runnr=Dataflow'])

  def test_unknown_runner_option_on_the_command_line(self):
    out = os.path.join(tempfile.mkdtemp(), 'data')
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.data.create_pretraining_data',
         f'--output_dir={out}', '--build_vocab_size=100', '--num_workrs=2'],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=300)
    pu.assert_clean_error(self, proc, "Unknown option(s) ['num_workrs']")
    self.assertFalse(os.path.exists(out))


if __name__ == '__main__':
  tf.test.main()
