"""The pretraining-data pipeline on Apache Beam: corpus in, TFRecords out.

  Sources -> ReadTokenizePack -> Mask (or Unmasked) -> Serialize ->
  WriteTFRecords, per split (train / eval), then the data summary last (`rundir`).

The stages are plain functions in their own modules, importable and tested
without Beam: `sources` (units of the corpus), `tokenization`, `packing`,
`masking`, `keys` (the stable hashes that seed every choice). This module is
the Beam plumbing around them, with `beam_io` (the TFRecord sink) and
`runners` (options, the DirectRunner default).

Within a unit the stages are chained generators inside one DoFn: packing
across documents needs a unit's documents in order, and a GroupByKey over
documents would make a single-machine runner buffer the whole corpus;
chained, the work is a stream and a worker's memory is bounded by one
tokenizer batch and one sequence. Every random choice is seeded from the
sequence's key (unit, index) and the seed: the same multiset of records comes
out whatever the runner, worker count or bundling.
"""

import dataclasses
import itertools
import os
import re
import shutil
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from absl import logging
import apache_beam as beam
import tensorflow as tf

from official_td import publish
from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.data.beam import beam_io
from official_td.data.beam import progress
from official_td.data.beam import runners
from official_td.data.examples import records
from official_td.data.examples import vocab_builder
from official_td.data.examples.keys import split_of
from official_td.data.examples.keys import stable_hash
from official_td.data.examples.masking import mask_batch
from official_td.data.examples.masking import unmasked_batch
from official_td.data.examples.options import DataOptions
from official_td.data.examples.packing import chunked
from official_td.data.examples.packing import pack_batches
from official_td.data.examples.packing import pack_nsp
from official_td.data.examples.packing import SequenceBatch
from official_td.data.examples.tokenization import tokenize_batches
from official_td.data.text import readers
from official_td.data.text import sources
from official_td.input import summary as data_summary
from official_td.rundir import INCOMPLETE
from official_td.rundir import DATA_SUMMARY as SUMMARY

METRICS_NAMESPACE = 'official_td'
SEQUENCES_PER_ELEMENT = 256


class ReadTokenizePack(beam.DoFn):
  """Source unit -> packed sequences, tagged 'train' or 'eval'.

  Reads the unit's documents in order (streamed), splits them by a hash of
  their key, tokenizes in batches and packs each split's stream.
  """

  def __init__(self, source: sources.Source, vocab_file: str,
               options: DataOptions, progress_dir: Optional[str] = None):
    self._source = source
    self._vocab_file = vocab_file
    self._options = options
    self._progress_dir = progress_dir

  def setup(self):
    self._tokenizer = vocab_builder.make_tokenizer(self._vocab_file,
                                                   self._options.casing)
    self._ids = vocab_lib.resolve_special_token_ids(self._vocab_file)
    counter = beam.metrics.Metrics.counter
    self._counters = {
        (split, name): counter(METRICS_NAMESPACE, f'{split}_{name}')
        for split in ('train', 'eval')
        for name in ('documents', 'sequences', 'tokens', 'text_bytes')}
    self._bad_lines = counter(METRICS_NAMESPACE, 'bad_lines_skipped')
    self._progress = progress.Reporter(self._progress_dir)

  def finish_bundle(self):
    self._progress.flush()

  def _skip_line(self, problem: str):
    self._bad_lines.inc()
    logging.warning('Skipped %s', problem)

  def process(self, unit: str):
    options = self._options
    unit_key = f'u{stable_hash("unit", self._source.key_of(unit)):016x}'

    def keyed(split):
      # Skipped lines are counted on the first of the two passes.
      count = self._skip_line if split == 'train' else None
      for i, text in enumerate(self._source.read(unit, count)):
        key = f'{unit_key}/{i}'
        if split_of(key, options.seed, options.eval_fraction) == split:
          self._counters[(split, 'documents')].inc()
          size = len(text.encode())
          self._counters[(split, 'text_bytes')].inc(size)
          self._progress.add(documents=1, text_bytes=size)
          yield key, text

    # The unit is read once per split: reading is cheap next to
    # tokenization, and each split's stream stays a plain generator.
    for split in ('train', 'eval') if options.eval_fraction else ('train',):
      batches = tokenize_batches(keyed(split), self._tokenizer,
                                 options.tokenize_batch_size)
      prefix = f'{unit_key}/{split}'
      if options.use_next_sentence_label:
        sequences = pack_nsp((doc for batch in batches
                              for doc in batch.documents()), self._ids,
                             options.seq_length, prefix, options.seed)
        packed = (SequenceBatch.of(chunk, options.seq_length, self._ids.pad_id)
                  for chunk in iter(lambda s=sequences: list(
                      itertools.islice(s, SEQUENCES_PER_ELEMENT)), []))
      else:
        packed = pack_batches(batches, self._ids, options.seq_length, prefix)
      # Sequences travel in chunks: masking and serialization work on many
      # at once, and Beam's per-element cost is paid once per chunk.
      for chunk in chunked(packed, SEQUENCES_PER_ELEMENT):
        self._counters[(split, 'sequences')].inc(len(chunk))
        self._counters[(split, 'tokens')].inc(int(chunk.lengths.sum()))
        self._progress.add(sequences=len(chunk))
        yield beam.pvalue.TaggedOutput(split, chunk)


def _mask_fn(vocab_file, options):
  """A chunk of sequences -> its records' features, one row per record."""
  ids = vocab_lib.resolve_special_token_ids(vocab_file)
  if options.masking == 'dynamic':
    return lambda chunk: unmasked_batch(chunk, ids, options)
  return lambda chunk: mask_batch(chunk, ids, ids.vocab_size, options)


def build_pipeline(pipeline: beam.Pipeline, source: sources.Source,
                   vocab_file: str, output_dir: str, options: DataOptions,
                   progress_dir: Optional[str] = None):
  """Adds the stages to `pipeline`; shards go to `output_dir/{split}-*`."""
  sequences = (
      pipeline
      | 'Sources' >> beam.Create(list(source.units))
      | 'ReadTokenizePack' >> beam.ParDo(
          ReadTokenizePack(source, vocab_file, options,
                           progress_dir)).with_outputs(
              'train', 'eval'))
  mask = _mask_fn(vocab_file, options)
  for split in ('train', 'eval'):
    num_shards = options.num_shards if split == 'train' else 0
    _ = (sequences[split]
         | f'Mask{split.title()}' >> beam.Map(mask)
         | f'Serialize{split.title()}' >> beam.Map(records.serialize_batch)
         | f'Write{split.title()}' >> beam_io.WriteTFRecords(output_dir, split,
                                                     num_shards))


def _check_output_dir(output_dir: str):
  """Refuses a complete or foreign output; clears our own interrupted one."""
  if not tf.io.gfile.exists(output_dir):
    return
  if tf.io.gfile.exists(os.path.join(output_dir, SUMMARY)):
    raise ValueError(
        f'{output_dir!r} already holds complete pretraining data '
        f'({SUMMARY} is there); it is never overwritten. Choose a new '
        '--output_dir.')
  contents = tf.io.gfile.listdir(output_dir)
  if not contents:
    return
  if INCOMPLETE.lstrip('/') in [c.rstrip('/') for c in contents]:
    logging.info('%s holds an interrupted run; clearing it.', output_dir)
    tf.io.gfile.rmtree(output_dir)
    return
  raise ValueError(
      f'Output directory {output_dir!r} already exists and is not empty (and '
      'was not written by an interrupted create_pretraining_data); choose a '
      'new --output_dir or remove it first.')


def _metric_counts(result) -> Dict[str, int]:
  counts = {}
  query = result.metrics().query(
      beam.metrics.MetricsFilter().with_namespace(METRICS_NAMESPACE))
  for counter in query['counters']:
    name = counter.key.metric.name
    value = counter.committed if counter.committed is not None else (
        counter.attempted)
    counts[name] = counts.get(name, 0) + int(value or 0)
  return counts


def create_pretraining_data(source,
                            output_dir: str,
                            options: DataOptions,
                            vocab_file: Optional[str] = None,
                            build_vocab_size: Optional[int] = None,
                            vocab_sample_bytes: int = 20 << 20,
                            beam_args: Sequence[str] = (),
                            num_workers: int = 0,
                            progress_stream=None) -> Dict:
  """Runs the pipeline; returns the summary (also written, `rundir`).

  Writes `output_dir/{train,eval}-SSSSS-of-NNNNN.tfrecord`, `vocab.txt` and,
  last, the data summary: a directory without it is incomplete, and
  training refuses it. An interrupted run's directory is cleared and
  rewritten by the next run; a complete output is never overwritten.

  Args:
    source: a `Source` (or a list of document strings, for small corpora).
    output_dir: destination, any tf.io.gfile URL.
    options: `DataOptions`.
    vocab_file: an existing WordPiece vocab, or None to build one.
    build_vocab_size: size of the vocab to build when `vocab_file` is None,
      learned from the first `vocab_sample_bytes` of text.
    vocab_sample_bytes: bound of the vocab-learning sample.
    beam_args: Beam pipeline options (`--runner=...`).
    num_workers: DirectRunner worker processes (0: one per core, or this
      process alone for an input under `runners.ONE_PROCESS_BYTES`).
    progress_stream: where a progress line goes every few seconds while this
      machine's workers run (None: no line).

  Returns:
    The summary dict.

  Raises:
    ValueError: before any output, on bad options, input, vocab or output.
  """
  start = time.time()
  source = _check_inputs(source, options, vocab_file, build_vocab_size)
  beam_opts = runners.pipeline_options(beam_args, output_dir, num_workers,
                                       source.total_bytes())
  if runners.is_dry_run(beam_opts):  # the job request only: nothing written.
    source.check()
    vocab_path = vocab_file or _write_vocab(
        tempfile.mkdtemp(prefix='td_dry_run_'), None, build_vocab_size,
        vocab_sample_bytes, _vocab_sample(source, vocab_sample_bytes),
        options.casing)[0]
    return runners.dry_run(beam_opts, lambda p: build_pipeline(
        p, source, vocab_path, output_dir, options))
  _check_output_dir(output_dir)
  source.check()
  # With a vocab given, one document proves the corpus is not empty.
  sample = _vocab_sample(source, vocab_sample_bytes if vocab_file is None
                         else 1)
  if not sample:
    raise ValueError(
        'The corpus is empty: no document with text was found. Check '
        '--input_files (blank-line-separated documents) or the TFDS split.')

  tf.io.gfile.makedirs(output_dir)
  try:
    with tf.io.gfile.GFile(os.path.join(output_dir, INCOMPLETE), 'w') as f:
      f.write('create_pretraining_data is writing this directory.\n')
    vocab_path, vocab_info = _write_vocab(output_dir, vocab_file,
                                          build_vocab_size, vocab_sample_bytes,
                                          sample, options.casing)
    result = _run(beam_opts, source, vocab_path, output_dir, options,
                  progress_stream)
  except BaseException:
    # A failed job (a corrupt file, a bad line, Ctrl-C) leaves nothing that
    # looks like data: the directory is this run's own (checked empty or
    # cleared above). A killed one keeps its marker; a re-run clears it.
    tf.io.gfile.rmtree(output_dir)
    raise
  if tf.io.gfile.exists(os.path.join(output_dir, beam_io.TEMP_DIR)):
    tf.io.gfile.rmtree(os.path.join(output_dir, beam_io.TEMP_DIR))
  counts = _metric_counts(result) if result is not None else {}
  summary = _summary(options, vocab_path, source, vocab_info, beam_opts)
  data_summary.add_split_counts(summary, counts, output_dir, options)
  if source.skip_bad_lines:
    summary['bad_lines_skipped'] = counts.get('bad_lines_skipped', 0)
  summary['seconds'] = round(time.time() - start, 1)
  # The completion marker, last.
  publish.write_json(os.path.join(output_dir, SUMMARY), summary)
  tf.io.gfile.remove(os.path.join(output_dir, INCOMPLETE))
  return summary


def _run(beam_opts, source, vocab_path, output_dir, options,
         progress_stream=None):
  """Runs the Beam pipeline; its result (None if the runner gives none).

  A corrupt input file, found by the worker that reads it, ends the job
  with that one message (Beam wraps worker errors in its own traceback);
  the output keeps its incomplete marker and no summary.
  """
  progress_dir, printer = None, None
  if progress_stream is not None and runners.is_direct(beam_opts):
    progress_dir = tempfile.mkdtemp(prefix='td_progress_')  # this machine.
    printer = progress.Printer(progress_dir, progress_stream,
                               source.total_bytes())
    printer.start()
  try:
    with beam.Pipeline(runner=runners.runner_for(beam_opts),
                       options=beam_opts) as pipeline:
      build_pipeline(pipeline, source, vocab_path, output_dir, options,
                     progress_dir)
  except Exception as e:  # pylint: disable=broad-except
    found = re.search(re.escape(readers.CorruptInputError.PREFIX) + r"[^\n]*",
                      str(e))
    if found is None:
      raise
    raise readers.CorruptInputError(
        found.group(0)[len(readers.CorruptInputError.PREFIX):].rstrip(
            '"\'] ')) from None
  finally:
    if printer is not None:
      printer.stop()
      shutil.rmtree(progress_dir, ignore_errors=True)
  return pipeline.result if hasattr(pipeline, 'result') else None


def _summary(options, vocab_path, source, vocab_info, beam_opts) -> Dict:
  """What the data summary says of the settings (counts are added)."""
  settings = dataclasses.asdict(options)
  del settings['tokenize_batch_size']  # changes no record.
  settings['strip_accents'] = options.casing.strip_accents  # resolved.
  return dict(
      format='official_td pretraining data v2',
      vocab_size=vocab_lib.resolve_special_token_ids(
          vocab_path).vocab_size,
      **settings,
      source=source.describe(),
      vocab=vocab_info,
      runner=beam_opts.get_all_options().get('runner') or 'DirectRunner')


def _check_inputs(source, options, vocab_file, build_vocab_size):
  """Options, source and vocab checked; the source (a `Source`)."""
  options.validate()
  if not isinstance(source, sources.Source):
    source = sources.in_memory(list(source))
  if not source.units or (source.kind == 'memory' and
                          not source.documents_in_memory):
    raise ValueError('The corpus is empty: no document was given.')
  if vocab_file is None and not build_vocab_size:
    raise ValueError('Pass --vocab_file, or --build_vocab_size to build one.')
  if vocab_file is not None:
    vocab_lib.resolve_special_token_ids(vocab_file)
    flag = '--lower_case' if options.lower_case else '--nolower_case'
    if options.strip_accents is not None:
      flag += ' --strip_accents' if options.strip_accents else (
          ' --nostrip_accents')
    vocab_lib.check_casing(
        options.lower_case, vocab_file, flag,
        'pass --nolower_case for a cased vocab (bert-base-cased, '
        'multilingual cased), or use an uncased vocab' if options.lower_case
        else 'drop --nolower_case (the default lower-cases, as uncased BERT '
        'does), or use a cased vocab', options.strip_accents,
        'pass --nostrip_accents to keep them (an uncased vocab that keeps '
        'accents, Hugging Face\'s strip_accents=false)')
  return source


def _write_vocab(output_dir, vocab_file, build_vocab_size, vocab_sample_bytes,
                 sample, casing):
  """`output_dir/vocab.txt`, copied or learned; `(path, summary info)`."""
  vocab_path = rundir.vocab_file_of(output_dir)
  if vocab_file is not None:
    tf.io.gfile.copy(vocab_file, vocab_path, overwrite=True)
    return vocab_path, dict(built=False, source=vocab_file)
  documents = sample
  sample_bytes = sum(len(d.encode()) for d in documents)
  logging.info('Learning a %d-token vocab from %d documents (%d bytes)...',
               build_vocab_size, len(documents), sample_bytes)
  vocab_builder.build_vocab(documents, build_vocab_size, vocab_path, casing)
  return vocab_path, dict(built=True, requested_size=build_vocab_size,
                          sample_documents=len(documents),
                          sample_bytes=sample_bytes,
                          sample_limit_bytes=vocab_sample_bytes)


def _vocab_sample(source, limit_bytes: int) -> List[str]:
  sample, size = [], 0
  for doc in source.documents():
    if not doc.strip():
      continue
    sample.append(doc)
    size += len(doc.encode())
    if size >= limit_bytes:
      break
  return sample
