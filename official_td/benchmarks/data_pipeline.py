r"""Throughput and peak memory of the data pipeline, against the Model Garden's.

Generates a text corpus (the embedded corpus's documents, written to files
of about 1 MB, repeated in shuffled order to the requested size), then runs,
each as its own process and on the same text, vocab and settings:

  beam_1x / beam_8x       this pipeline, every core, on the corpus at 1x and
                          8x size: does peak memory grow with the corpus?
  beam_1x_one_worker /    this pipeline with one worker process, at 1x and
  beam_8x_one_worker      8x: the gain of the other workers, end to end and
                          once start-up is amortized;
  model_garden_1x /       tf-models-official's
  model_garden_8x         `official.nlp.data.create_pretraining_data` (the
                          reference, one process; it holds the corpus in
                          memory) at 1x and 8x.

Then `stages`: where one worker's time goes, each stage of its chain timed
alone in this process (one core) over the 1x corpus: read (files to
documents), tokenize, pack, mask, serialize, write (TFRecords); and
`marginal_mb_per_s`: the rate between the 1x and 8x runs (start-up
excluded), per run kind and per worker core. `--one_file` adds one plain-text
file (the 8x text, or `--one_file_scale` times 1x), read in `--block_mb`
blocks, on every core and on one worker.

For each run: wall seconds, text MB/s (input MB / wall seconds, start-up
included) and peak memory, sampled every 0.1 s over the process and its
children (the workers): the sum of their RSS,
the RSS of the largest, and (every 2 s, and as the RSS grows) the sum of
their PSS (proportional set size: each shared page counted once over the
processes that map it). Summed RSS counts the TensorFlow libraries
(~430 MB of shared, file-backed pages) once per process; summed PSS is the
physical memory the job holds. The last line printed is one JSON object with
the runs and the ratios.

  python -m official_td.benchmarks.data_pipeline --size_mb=8
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import random  # pylint: disable=g-import-not-at-top
import subprocess  # pylint: disable=g-import-not-at-top
import sys  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
import psutil  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import rundir  # pylint: disable=g-import-not-at-top
from official_td import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
from official_td.benchmarks import data_ratios  # pylint: disable=g-import-not-at-top
from official_td.data.beam import pipeline  # pylint: disable=g-import-not-at-top
from official_td.data.examples import masking  # pylint: disable=g-import-not-at-top
from official_td.data.examples import packing  # pylint: disable=g-import-not-at-top
from official_td.data.examples import records  # pylint: disable=g-import-not-at-top
from official_td.data.examples import tokenization  # pylint: disable=g-import-not-at-top
from official_td.data.examples import vocab_builder  # pylint: disable=g-import-not-at-top
from official_td.data.examples.options import DataOptions  # pylint: disable=g-import-not-at-top
from official_td.data.text import corpus  # pylint: disable=g-import-not-at-top
from official_td.data.text import sources  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_float('size_mb', 8.0, 'Corpus size at 1x (MB of text).')
flags.DEFINE_integer('scale', 8, 'The larger corpus is this many times 1x.')
flags.DEFINE_integer('seq_length', 128, 'Sequence length.')
flags.DEFINE_integer('max_predictions_per_seq', 20, 'MLM slots.')
flags.DEFINE_integer('vocab_size', 8000, 'Vocab learned once, used by all.')
flags.DEFINE_bool('model_garden', True, 'Also run the Model Garden script.')
flags.DEFINE_bool('one_worker_8x', True,
                  'Also run one worker on the 8x corpus (the longest run).')
flags.DEFINE_bool('one_file', False, 'Also run one plain-text file (read in '
                  '--block_mb blocks), on every core and on one worker.')
flags.DEFINE_integer('one_file_scale', None, 'Size of the one file, times '
                     '1x (default: --scale, the 8x text; larger sizes repeat '
                     'the 8x text).')
flags.DEFINE_bool('model_garden_8x', True, 'Also run the Model Garden script '
                  'on the 8x corpus (it holds the corpus in memory).')
flags.DEFINE_string('work_dir', None, 'Scratch directory (default: temp).')


def write_corpus(directory, size_mb, seed=0):
  """Files of ~1 MB of the embedded documents until `size_mb` is reached."""
  docs = corpus.embedded_corpus()
  rng = random.Random(seed)
  tf.io.gfile.makedirs(directory)
  written, part, files = 0, 0, []
  target = int(size_mb * 1e6)
  while written < target:
    order = list(range(len(docs)))
    rng.shuffle(order)
    chunk, size = [], 0
    for i in order:
      chunk.append(docs[i])
      size += len(docs[i].encode()) + 2
      if size >= 1e6 or written + size >= target:
        path = os.path.join(directory, f'part{part:04d}.txt')
        with tf.io.gfile.GFile(path, 'w') as f:
          f.write('\n\n'.join(chunk) + '\n')
        files.append(path)
        written += size
        part += 1
        chunk, size = [], 0
        if written >= target:
          break
  return files, written / 1e6


def stage_seconds(files, vocab_file, work):
  """Seconds of each stage of a worker's chain over `files`, one at a time.

  The pipeline's own functions, in this process (one core), each stage run
  to completion on the previous one's output (the tokenizer's one-off
  tracing is excluded).
  """
  options = DataOptions(seq_length=FLAGS.seq_length,
                        max_predictions_per_seq=FLAGS.max_predictions_per_seq)
  ids = vocab_lib.resolve_special_token_ids(vocab_file)
  tokenizer = vocab_builder.make_tokenizer(vocab_file)
  tokenizer.tokenize(['tracing the tokenizer once'])
  source = sources.text_files(files)
  seconds, out = {}, None
  stages = [
      ('read', lambda _: [(f'{u}/{i}', d) for u in source.units
                          for i, d in enumerate(source.read(u))]),
      ('tokenize', lambda docs: list(tokenization.tokenize_batches(
          docs, tokenizer, options.tokenize_batch_size))),
      ('pack', lambda batches: list(packing.pack_batches(
          batches, ids, options.seq_length, 'unit/train'))),
      ('mask', lambda packed: [masking.mask_batch(
          chunk, ids, ids.vocab_size, options) for chunk in packing.chunked(
              packed, pipeline.SEQUENCES_PER_ELEMENT)]),
      ('serialize', lambda chunks: [
          r for chunk in chunks for r in records.serialize_batch(chunk)]),
      ('write', lambda recs: _write_records(recs, os.path.join(
          work, 'stages.tfrecord')))]
  for name, stage in stages:
    start = time.perf_counter()
    out = stage(out)
    seconds[name] = round(time.perf_counter() - start, 3)
  return seconds


def _write_records(recs, path):
  with tf.io.TFRecordWriter(path) as writer:
    for record in recs:
      writer.write(record)


# PSS reads /proc/PID/smaps (~12 ms a TensorFlow process, against ~15 us
# for RSS): read every 20th sample (2 s), so that the sampler does not take a
# noticeable share of the cores it measures, and whenever the summed RSS has
# grown 1% past its value at the last PSS read (at most every 5th sample):
# a job of a few seconds reaches its plateau between two 2 s reads.
PSS_EVERY = 20
PSS_ON_GROWTH_EVERY = 5


def _rss(process) -> int:
  try:
    return process.memory_info().rss
  except psutil.Error:  # the process is gone.
    return 0


def _pss(process) -> int:
  try:
    return process.memory_full_info().pss
  except psutil.Error:
    return 0


def measure(command, env=None):
  """Runs `command`; returns wall seconds and peak memory (see module doc)."""
  start = time.perf_counter()
  proc = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env)
  root = psutil.Process(proc.pid)
  peak_total = peak_single = peak_pss = 0
  sample = last_pss_sample = rss_at_last_pss = 0
  while proc.poll() is None:
    try:
      processes = [root] + root.children(recursive=True)
    except psutil.Error:
      processes = []
    rss = [_rss(p) for p in processes] or [0]
    total = sum(rss)
    peak_total = max(peak_total, total)
    peak_single = max(peak_single, max(rss))
    grown = (total > 1.01 * rss_at_last_pss and
             sample - last_pss_sample >= PSS_ON_GROWTH_EVERY)
    if sample % PSS_EVERY == 0 or grown:
      peak_pss = max(peak_pss, sum(_pss(p) for p in processes))
      last_pss_sample, rss_at_last_pss = sample, total
    sample += 1
    time.sleep(0.1)  # sampling interval.
  seconds = time.perf_counter() - start
  stderr = proc.stderr.read().decode(errors='replace')
  if proc.returncode:
    raise RuntimeError(f'{command} failed:\n{stderr[-3000:]}')
  return dict(seconds=round(seconds, 1),
              peak_rss_total_mb=round(peak_total / 2**20),
              peak_rss_largest_process_mb=round(peak_single / 2**20),
              peak_pss_total_mb=round(peak_pss / 2**20))


def _one_file(work, large, large_mb):
  """The text of `--one_file_scale` times 1x (the 8x corpus, repeated as
  needed) as one plain-text file: `(path, MB)`."""
  scale = FLAGS.one_file_scale or FLAGS.scale
  path = os.path.join(work, f'one_file_{scale}x.txt')
  repeats = -(-scale // FLAGS.scale)  # ceil: whole copies of the 8x text.
  with tf.io.gfile.GFile(path, 'wb') as f:  # --work_dir may be gs://.
    for _ in range(repeats):
      for part_path in large:
        with tf.io.gfile.GFile(part_path, 'rb') as part:
          f.write(part.read().rstrip(b'\n') + b'\n\n')
  return path, large_mb * repeats


def _model_garden(files, output_file, vocab):
  """The command of tf-models-official's script on `files`."""
  return [sys.executable, '-m', 'official.nlp.data.create_pretraining_data',
          f'--input_file={",".join(files)}', f'--output_file={output_file}',
          f'--vocab_file={vocab}', '--do_lower_case=true',
          f'--max_seq_length={FLAGS.seq_length}',
          f'--max_predictions_per_seq={FLAGS.max_predictions_per_seq}',
          '--masked_lm_prob=0.15', '--dupe_factor=1', '--random_seed=12345']


def main(argv):
  del argv
  if FLAGS.size_mb <= 0 or FLAGS.scale < 2:
    raise ValueError(
        f'--size_mb={FLAGS.size_mb} --scale={FLAGS.scale}: the 1x corpus '
        'needs a positive size and the large one at least twice it (e.g. '
        '--size_mb=8 --scale=8).')
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix='td_data_bench_')
  small, small_mb = write_corpus(os.path.join(work, 'corpus_1x'),
                                 FLAGS.size_mb)
  large, large_mb = write_corpus(os.path.join(work, 'corpus_8x'),
                                 FLAGS.size_mb * FLAGS.scale, seed=1)
  vocab = rundir.vocab_file_of(work)
  vocab_builder.build_vocab(corpus.embedded_corpus(), FLAGS.vocab_size, vocab)
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
      [os.getcwd()] + [p for p in [env.get('PYTHONPATH')] if p])

  def ours(files, name, workers):
    return [sys.executable, '-m', 'official_td.data.create_pretraining_data',
            f'--input_files={",".join(files)}', f'--vocab_file={vocab}',
            f'--output_dir={os.path.join(work, name)}',
            f'--seq_length={FLAGS.seq_length}',
            f'--max_predictions_per_seq={FLAGS.max_predictions_per_seq}',
            f'--num_workers={workers}']

  cores = os.cpu_count() or 1
  runs = {}
  plan = [('beam_1x', small, small_mb, cores, ours),
          ('beam_1x_one_worker', small, small_mb, 1, ours),
          ('beam_8x', large, large_mb, cores, ours)]
  if FLAGS.one_worker_8x:
    plan.append(('beam_8x_one_worker', large, large_mb, 1, ours))
  if FLAGS.one_file:
    one, one_mb = _one_file(work, large, large_mb)
    plan += [('one_file', [one], one_mb, cores, ours),
             ('one_file_one_worker', [one], one_mb, 1, ours)]
  if FLAGS.model_garden:
    garden = lambda files, name, _: _model_garden(
        files, os.path.join(work, name + '.tfrecord'), vocab)
    plan.append(('model_garden_1x', small, small_mb, 1, garden))
    if FLAGS.model_garden_8x:
      plan.append(('model_garden_8x', large, large_mb, 1, garden))
  for name, files, mb, workers, command in plan:
    runs[name] = measure(command(files, name, workers), env)
    runs[name].update(text_mb=round(mb, 2), workers=workers,
                      mb_per_s=round(mb / runs[name]['seconds'], 3))
    print(name, runs[name], flush=True)
  result = data_ratios.ratios(runs, cores, FLAGS.seq_length,
                              FLAGS.one_worker_8x, FLAGS.one_file)
  stages = stage_seconds(small, vocab, work)
  result['stages'] = {name: dict(seconds=t, mb_per_s=round(small_mb / t, 2))
                      for name, t in stages.items()}
  result['stages_total_mb_per_s'] = round(small_mb / sum(stages.values()), 3)
  print(json.dumps(result))


def run():
  """Runs the benchmark; a bad flag ends with one `Error:` line."""
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
