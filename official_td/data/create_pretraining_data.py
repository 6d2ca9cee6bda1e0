r"""Creates BERT masked-LM pretraining TFRecords from raw text, with Apache Beam.

Reads a corpus (the embedded default, text files, or a prepared TFDS dataset),
tokenizes it with tensorflow-text's BertTokenizer (given vocab, or one learned
from a bounded sample), packs consecutive sentences and documents into
sequences of exactly `seq_length`, masks them (statically, as BERT, or
dynamically at training time, as RoBERTa) and writes sharded TFRecords in the
format tf-models-official's `BertPretrainDataLoader` reads. The pipeline is
`official_td.data.beam.pipeline`; memory does not grow with the corpus.

Output (any tf.io.gfile URL; `data_summary.json` is written last and marks
the directory complete):
  OUTPUT_DIR/train-00000-of-0000N.tfrecord, eval-....tfrecord, vocab.txt,
  data_summary.json

Examples:

  # The embedded corpus, a vocab learned from it (no download), every core:
  python -m official_td.data.create_pretraining_data --output_dir=/tmp/td_data \
      --build_vocab_size=8000 --seq_length=128 --max_predictions_per_seq=20

  # Your text files with BERT's uncased vocab, dynamic masking:
  python -m official_td.data.create_pretraining_data \
      --input_files='corpus/*.txt.gz' --vocab_file=uncased/vocab.txt \
      --output_dir=gs://bucket/td_data --seq_length=512 \
      --max_predictions_per_seq=76 --masking=dynamic

  # The same on Dataflow: Beam's options pass through.
  python -m official_td.data.create_pretraining_data ... \
      --runner=DataflowRunner --project=my-project --region=us-central1 \
      --temp_location=gs://bucket/tmp --requirements_file=requirements.txt
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import dataclasses  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json  # pylint: disable=g-import-not-at-top
import sys  # pylint: disable=g-import-not-at-top
from typing import Optional, Sequence  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td.data.examples.options import DataOptions  # pylint: disable=g-import-not-at-top

# TensorFlow and Beam (`sources`, `pipeline`) are imported in `main`: `--help`
# and flag errors answer at once.


def make_source(input_files: Sequence[str] = (),
                tfds_name: Optional[str] = None,
                tfds_data_dir: Optional[str] = None,
                tfds_split: str = 'train',
                tfds_text_key: str = 'text',
                tfds_units: int = 64,
                text_key: str = 'text',
                skip_bad_lines: bool = False,
                block_mb: float = 16):
  """The corpus (a `sources.Source`): text files, a TFDS dataset, or
  (neither given) the embedded."""
  from official_td.data.text import sources  # pylint: disable=g-import-not-at-top
  if input_files and tfds_name:
    raise ValueError('Pass either --input_files or --tfds_name, not both.')
  if input_files:
    return sources.text_files(input_files, text_key, skip_bad_lines,
                              int(block_mb * (1 << 20)))
  if tfds_name:
    return sources.tfds_dataset(tfds_name, tfds_data_dir, tfds_split,
                                 tfds_text_key, tfds_units)
  return sources.embedded()


def define_flags():
  """The flags of this entry point (Beam's own options pass through)."""
  flags.DEFINE_string('output_dir', None, 'Directory to create (new, or one '
                      'left incomplete by an interrupted run).')
  flags.DEFINE_list('input_files', [], 'Text files/globs (.gz too); blank '
                    'lines separate documents. Default: the embedded corpus.')
  flags.DEFINE_string('tfds_name', None, 'A prepared TFDS text dataset.')
  flags.DEFINE_string('tfds_data_dir', None, 'TFDS data_dir holding it.')
  flags.DEFINE_string('tfds_split', 'train', 'TFDS split.')
  flags.DEFINE_string('tfds_text_key', 'text', 'TFDS text feature.')
  flags.DEFINE_string('text_key', 'text', 'JSON-lines inputs (.jsonl, '
                      '.jsonl.gz, .json.gz): the field holding the text.')
  flags.DEFINE_bool('skip_bad_lines', False, 'JSON-lines inputs: skip (and '
                    'count in the summary) lines that are not JSON or lack '
                    '--text_key, instead of stopping.')
  flags.DEFINE_float('block_mb', 16, 'Plain-text files above this size are '
                     'read in parallel, in equal blocks of at most it.')
  flags.DEFINE_integer('tfds_units', 64, 'Sub-splits of the TFDS split read '
                       'in parallel.')
  flags.DEFINE_string('vocab_file', None, 'WordPiece vocab.txt to use.')
  flags.DEFINE_integer('build_vocab_size', None,
                       'Learn a vocab of this size from the corpus instead.')
  flags.DEFINE_float('vocab_sample_mb', 20, 'Text read to learn the vocab '
                     '(the first MB of the corpus; 0.25 for a quick try).',
                     lower_bound=0.001)
  defaults = DataOptions()
  flags.DEFINE_integer('seq_length', defaults.seq_length, 'Sequence length.')
  flags.DEFINE_integer('max_predictions_per_seq',
                       defaults.max_predictions_per_seq, 'MLM slots.')
  flags.DEFINE_float('masked_lm_prob', defaults.masked_lm_prob, 'Mask rate.')
  flags.DEFINE_bool('whole_word_masking', False, 'Whole-word masking.')
  flags.DEFINE_bool('use_next_sentence_label', False,
                    'Sentence pairs with next-sentence labels (NSP), as '
                    'data.use_next_sentence_label in training.')
  flags.DEFINE_bool('nsp', None, 'Renamed: --use_next_sentence_label.')
  flags.DEFINE_enum('masking', 'static', ['static', 'dynamic'],
                    'static: masked records (BertPretrainDataLoader); '
                    'dynamic: unmasked records, fresh masks at every read.')
  flags.DEFINE_integer('dupe_factor', defaults.dupe_factor,
                       'Static masking: masked copies per sequence.')
  flags.DEFINE_integer('num_shards', defaults.num_shards,
                       'Train shards; 0: the runner decides (bounded memory '
                       'on one machine).')
  flags.DEFINE_float('eval_fraction', defaults.eval_fraction,
                     'Fraction of documents held out for eval.')
  flags.DEFINE_integer('seed', defaults.seed, 'Random seed.')
  flags.DEFINE_bool('lower_case', True, 'Lower-case (uncased vocab).')
  flags.DEFINE_bool('strip_accents', None,
                    'Strip accents (default: as --lower_case). '
                    '--lower_case --nostrip_accents: the uncased BERTs that '
                    'keep accents (Hugging Face\'s strip_accents=false).')
  flags.DEFINE_integer('num_workers', 0, 'DirectRunner worker processes '
                       '(default: one per core; none for plain text under '
                       '8 MB, read in this process).')
  flags.DEFINE_bool('verbose', False, 'Show everything on the console '
                    '(Beam\'s and TensorFlow\'s logs) and tracebacks of input '
                    'errors.')
  flags.mark_flag_as_required('output_dir')


def main(argv):
  flags_ = flags.FLAGS
  if flags_.nsp is not None:
    raise ValueError('--nsp is now --use_next_sentence_label (the name of '
                     'the setting in training, data.use_next_sentence_label).')
  # Every option that has a flag of its name takes the flag's value.
  options = DataOptions(**{
      field.name: flags_[field.name].value
      for field in dataclasses.fields(DataOptions) if field.name in flags_})
  options.validate()
  progress_stream = None
  if not flags_.verbose:
    log = cli.stderr_to_log('create_pretraining_data', flags_.output_dir)
    print(f'Log: {log}', flush=True)
    progress_stream = sys.stdout
  source = make_source(flags_.input_files, flags_.tfds_name,
                       flags_.tfds_data_dir, flags_.tfds_split,
                       flags_.tfds_text_key, flags_.tfds_units,
                       flags_.text_key, flags_.skip_bad_lines, flags_.block_mb)
  from official_td.data.beam import pipeline  # pylint: disable=g-import-not-at-top
  summary = pipeline.create_pretraining_data(
      source, flags_.output_dir, options, flags_.vocab_file,
      flags_.build_vocab_size, int(flags_.vocab_sample_mb * (1 << 20)),
      beam_args=argv[1:], num_workers=flags_.num_workers,
      progress_stream=progress_stream)
  print(json.dumps(summary))
  if summary.get('dry_run'):
    print('Dry run: the job was built, not submitted; nothing was written.')
  else:
    print(f'Wrote {flags_.output_dir}')


def _parse_known(argv):
  """absl parses its flags; everything else goes to Beam."""
  return flags.FLAGS(argv, known_only=True)


def run():
  """The console entry point (see pyproject.toml)."""
  define_flags()
  app.run(cli.main_with_clean_errors(main, lambda: flags.FLAGS.verbose),
          flags_parser=_parse_known)


if __name__ == '__main__':
  run()
