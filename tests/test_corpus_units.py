"""Splittable text and JSON-lines inputs: every document read exactly once
whatever the block grid; JSON lines give the records of the same text."""

import collections
import glob
import gzip
import json
import os
import random
import sys
import tempfile

import tensorflow as tf

from official_td.data.beam import pipeline
from official_td.data.examples import options as data_options
from official_td.data.text import readers
from official_td.data.text import sources
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu


def write_text(path, documents, blank='\n\n'):
  with open(path, 'w') as f:
    f.write(blank.join(documents) + '\n')


def block_documents(path, block):
  out = []
  for unit in sources.text_files([path], block_bytes=block).units:
    out += list(sources.text_files([path]).read(unit)
                if '#bytes=' not in unit else
                readers.read_text_range(*_range(unit)))
  return out


def _range(unit):
  path, (start, end) = sources.split_unit(unit)
  return path, start, end


class BlockTest(tu.TestCase):

  def test_every_document_once_whatever_the_grid(self):
    rng = random.Random(0)
    documents = ['\n'.join(' '.join(rng.choice('abcdefgh') * rng.randint(1, 9)
                                    for _ in range(rng.randint(1, 30)))
                           for _ in range(rng.randint(1, 5)))
                 for _ in range(80)]
    path = os.path.join(self.get_temp_dir(), 'corpus.txt')
    # Blank lines of spaces, runs of blank lines, CRLF endings.
    with open(path, 'w', newline='') as f:
      for doc in documents:
        f.write(doc.replace('\n', '\r\n') + '\r\n' +
                rng.choice(['\n', '  \n', '\n\n\n', ' \t\r\n']))
    whole = list(readers.read_text_file(path))
    self.assertEqual(whole, documents)
    size = os.path.getsize(path)
    for block in (1, 2, 3, 7, 50, 333, 1000, 4096, size - 1, size, size + 5):
      got = block_documents(path, block)
      self.assertEqual(got, documents, f'block of {block} bytes')
    units = sources.text_files([path], block_bytes=1000).units
    self.assertLen(units, -(-size // 1000))  # a fixed grid of the bytes.

  def test_blocks_are_equal_and_tile_the_file(self):
    path = os.path.join(self.get_temp_dir(), 'corpus.txt')
    write_text(path, [f'document {i} ' * 7 for i in range(400)])
    size = os.path.getsize(path)
    for block in (1000, 4096, size // 2, size - 1):
      units = sources.text_files([path], block_bytes=block).units
      ranges = [sources.split_unit(u)[1] for u in units]
      self.assertLen(ranges, -(-size // block))  # the fewest blocks...
      lengths = [end - start for start, end in ranges]
      self.assertLessEqual(max(lengths), block)  # ...of at most `block`,
      self.assertLessEqual(max(lengths) - min(lengths), 1)  # equal,
      self.assertEqual(ranges[0][0], 0)  # tiling the file.
      self.assertEqual(ranges[-1][1], size)
      for (_, end), (start, _) in zip(ranges, ranges[1:]):
        self.assertEqual(end, start)

  def test_a_document_straddling_blocks_and_a_file_without_blank_lines(self):
    path = os.path.join(self.get_temp_dir(), 'one.txt')
    lines = [f'line {i} of the only document' for i in range(100)]
    write_text(path, ['\n'.join(lines)])
    for block in (10, 64, 500):
      self.assertEqual(block_documents(path, block), ['\n'.join(lines)])
    path = os.path.join(self.get_temp_dir(), 'two.txt')
    write_text(path, ['short', 'x' * 300 + '\n' + 'y' * 300, 'end'])
    self.assertEqual(block_documents(path, 100),
                     ['short', 'x' * 300 + '\n' + 'y' * 300, 'end'])


class JsonLinesTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.get_temp_dir()
    self.documents = pu.varied_corpus(40, seed=5)

  def write_jsonl(self, name, lines):
    path = os.path.join(self.root, name)
    opener = gzip.open if name.endswith('.gz') else open
    with opener(path, 'wt') as f:
      f.write('\n'.join(lines) + '\n')
    return path

  def test_reads_the_text_key_of_each_line(self):
    lines = [json.dumps({'text': d, 'url': 'x'}) for d in self.documents]
    for name in ('c.jsonl', 'c.jsonl.gz', 'c.json.gz'):
      path = self.write_jsonl(name, lines)
      self.assertEqual(list(sources.text_files([path]).read(path)),
                       self.documents)

  def test_bad_line_is_an_error_naming_file_and_line_or_is_skipped(self):
    lines = [json.dumps({'text': d}) for d in self.documents[:3]]
    lines.insert(2, '{"text": broken')
    lines.insert(3, json.dumps({'body': 'no text key'}))
    path = self.write_jsonl('bad.jsonl', lines)
    with self.assertRaisesRegex(ValueError, f'{path}:3 is not a JSON object'):
      list(sources.text_files([path]).read(path))
    skipped = []
    source = sources.text_files([path], skip_bad_lines=True)
    self.assertEqual(list(source.read(path, skipped.append)),
                     self.documents[:3])
    self.assertLen(skipped, 2)
    self.assertIn(f'{path}:4', skipped[1])

  def test_same_documents_as_plain_text_give_the_same_records(self):
    text = os.path.join(self.root, 'corpus.txt')
    write_text(text, self.documents)
    jsonl = self.write_jsonl('corpus.jsonl', [json.dumps({'content': d})
                                              for d in self.documents])
    records = []
    for name, source in (('from_text', sources.text_files([text])),
                         ('from_jsonl', sources.text_files(
                             [jsonl], text_key='content'))):
      out = os.path.join(self.root, name)
      pipeline.create_pretraining_data(
          source, out, data_options.DataOptions(seq_length=32,
                                                max_predictions_per_seq=5,
                                                seed=3),
          build_vocab_size=200, beam_args=pu.IN_PROCESS)
      records.append(collections.Counter(
          r.numpy() for r in tf.data.TFRecordDataset(
              sorted(glob.glob(os.path.join(out, '*.tfrecord'))))))
    self.assertGreater(sum(records[0].values()), 20)
    self.assertEqual(records[0], records[1])


class KeysTest(tu.TestCase):

  def test_common_directory(self):
    self.assertEqual(sources.common_directory(
        ['gs://b/x/a.txt', 'gs://b/y/b.txt']), 'gs://b/')
    self.assertEqual(sources.common_directory(
        ['/t/ab/x.txt', '/t/ac/y.txt']), '/t/')  # whole names only.
    self.assertEqual(sources.common_directory(['/t/x.txt']), '/t/')
    self.assertEqual(sources.common_directory(['x.txt', 'd/y.txt']), '')

  def test_the_same_corpus_elsewhere_writes_the_same_files(self):
    # A local copy and its "gs://" original (ram:// stands in; the pipeline
    # runs in-process, where ram:// lives): files are keyed by their path
    # below the inputs' common directory, not by where that lies. Two
    # files, one in a subdirectory, one large enough to be split in blocks.
    documents = pu.varied_corpus(60, seed=4)
    here = os.path.join(self.get_temp_dir(), 'here', 'corpus')
    there = f'ram://elsewhere-{random.getrandbits(32):08x}/c'
    names = {'a.txt': documents[:20], 'sub/b.txt': documents[20:]}
    for root in (here, there):
      for name, docs in names.items():
        tf.io.gfile.makedirs(os.path.dirname(f'{root}/{name}'))
        with tf.io.gfile.GFile(f'{root}/{name}', 'w') as f:
          f.write('\n\n'.join(docs) + '\n')
    written = []
    for root in (here, there):
      source = sources.text_files([f'{root}/*.txt', f'{root}/sub/*'],
                                  block_bytes=4096)
      self.assertGreater(len(source.units), 3)  # blocks of the file too.
      self.assertEqual(source.describe()['keys_below'], f'{root}/')
      out = os.path.join(self.get_temp_dir(), f'out{len(written)}')
      pipeline.create_pretraining_data(
          source, out, data_options.DataOptions(seq_length=32,
                                                max_predictions_per_seq=5,
                                                eval_fraction=0.2, seed=3),
          build_vocab_size=200, beam_args=pu.IN_PROCESS)
      written.append({os.path.basename(p): open(p, 'rb').read()
                      for p in glob.glob(os.path.join(out, '*.tfrecord'))})
    self.assertGreater(len(written[0]), 1)
    self.assertEqual(sorted(written[0]), sorted(written[1]))
    for name, content in written[0].items():
      self.assertEqual(content, written[1][name], name)


class BlockPipelineTest(tu.TestCase):

  def test_one_and_two_workers_write_the_same_records_of_a_split_file(self):
    root = tempfile.mkdtemp()
    path = os.path.join(root, 'big.txt')
    write_text(path, pu.varied_corpus(300, seed=9))
    outputs = []
    for workers in (1, 2):
      out = os.path.join(root, f'out{workers}')
      proc = entry_points.run(
          [sys.executable, '-m', 'official_td.data.create_pretraining_data',
           f'--input_files={path}', f'--output_dir={out}',
           '--build_vocab_size=200', '--seq_length=32',
           '--max_predictions_per_seq=5', '--block_mb=0.01',
           f'--num_workers={workers}'],
          cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
          timeout=600, relay=entry_points.shared_relay())
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
      # A quiet console: Beam's and TensorFlow's output is in the log.
      console = (proc.stdout + proc.stderr).splitlines()
      self.assertLessEqual(len(console), 12, console)
      log = os.path.join(os.path.dirname(out),
                         f'.{os.path.basename(out)}.create_pretraining_data.log')
      self.assertEqual(console[0], f'Log: {log}')
      self.assertIn('SDK', open(log).read())
      summary = json.load(open(os.path.join(out, 'data_summary.json')))
      self.assertGreaterEqual(summary['source']['units'], 6)
      outputs.append(collections.Counter(
          r.numpy() for r in tf.data.TFRecordDataset(
              sorted(glob.glob(os.path.join(out, '*.tfrecord'))))))
    self.assertGreater(sum(outputs[0].values()), 100)
    self.assertEqual(outputs[0], outputs[1])


if __name__ == '__main__':
  tf.test.main()
