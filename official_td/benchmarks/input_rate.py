r"""How fast one host's training input runs: sequences per second per core.

  python -m official_td.benchmarks.input_rate --seq_lengths=128,512 \
      --global_batch_size=256 --batches=40 --plan_global_batch_size=32768

Every input pipeline of a run reads and masks the whole stream of global
batches and keeps its own replicas' rows (`pretrain_dataloader.
replica_slices`: a step's examples do not depend on the replica count). On a
slice of N hosts each host therefore reads `global_batch_size x steps/s`
sequences per second, whatever N is. This benchmark measures what one host's
cores deliver: the training input itself (`pretrain_dataloader.load_dataset`
and `replica_slices` for `--replicas` replicas of one host), on data the
project's pipeline writes from the embedded corpus, static (pre-masked, read
by tf-models-official's `BertPretrainDataLoader`) and dynamic (masked while
read), at each sequence length, on one tf.data thread and on every core. It
prints one JSON line: per setting the sequences per second on one core and on
all, the bytes per sequence, and, for the run a user plans
(`--plan_global_batch_size` at each of `--step_rates` global steps per
second), the cores and the read bandwidth every host needs to keep up.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import rundir  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_list('seq_lengths', ['128', '512'], 'Sequence lengths.')
flags.DEFINE_list('maskings', ['static', 'dynamic'], 'Masking kinds.')
flags.DEFINE_integer('global_batch_size', 256, 'Sequences per global batch.')
flags.DEFINE_integer('replicas', 4, 'Replicas one host feeds (its slices '
                     'are kept, the rest of each global batch dropped).')
flags.DEFINE_integer('batches', 40, 'Global batches timed per measurement '
                     '(after 3 untimed).')
flags.DEFINE_integer('max_documents', 600, 'Embedded-corpus documents the '
                     'data is made from.')
flags.DEFINE_list('step_rates', ['1', '4'], 'Global steps per second to size '
                  'a host for.')
flags.DEFINE_integer('plan_global_batch_size', None, 'The global batch of '
                     'the run to size a host for (default: '
                     '--global_batch_size).')
flags.DEFINE_string('work_dir', None, 'Scratch directory (default: a new '
                    'temporary one).')


def make_data(work: str, seq_length: int, masking: str) -> str:
  """The pipeline's data of the embedded corpus; its directory."""
  # pylint: disable=g-import-not-at-top
  from official_td.data.beam import pipeline
  from official_td.data.examples.options import DataOptions
  from official_td.data.text import corpus
  # pylint: enable=g-import-not-at-top
  out = os.path.join(work, f'{masking}_{seq_length}')
  if not tf.io.gfile.exists(rundir.path(out, rundir.DATA_SUMMARY)):
    predictions = max(1, round(0.15 * seq_length))
    pipeline.create_pretraining_data(
        corpus.embedded_corpus(max_documents=FLAGS.max_documents), out,
        DataOptions(seq_length=seq_length, max_predictions_per_seq=predictions,
                    masking=masking, eval_fraction=0.0),
        build_vocab_size=8000,
        beam_args=['--direct_running_mode=in_memory',
                   '--direct_num_workers=1'])
  return out


def host_input(data_dir: str, threads: int):
  """One host's training input: its replicas' rows of every global batch,
  as `Pretrainer` builds it (the host is input pipeline 0 of 2)."""
  # pylint: disable=g-import-not-at-top
  from official_td import vocab as vocab_lib
  from official_td.input import pretrain_dataloader
  from official_td.input import show
  # pylint: enable=g-import-not-at-top
  data = show.data_config(data_dir)  # what training reads of the directory.
  masking = pretrain_dataloader.masking_config(
      data, vocab_lib.load_vocab(data.vocab_file))
  dataset = pretrain_dataloader.load_dataset(
      data.train_data, data, FLAGS.global_batch_size, True, 1,
      masking=masking)
  context = tf.distribute.InputContext(
      num_input_pipelines=2, input_pipeline_id=0,
      num_replicas_in_sync=2 * FLAGS.replicas)
  dataset = pretrain_dataloader.replica_slices(
      dataset, FLAGS.global_batch_size, context)
  options = tf.data.Options()
  if threads:
    options.threading.private_threadpool_size = threads
  return dataset.with_options(options)


def sequences_per_second(dataset) -> float:
  """Global-batch sequences a host's input went through per second."""
  per_batch = FLAGS.replicas  # one element per replica of each global batch.
  iterator = iter(dataset)
  for _ in range(3 * per_batch):  # start-up and first fills, untimed.
    next(iterator)
  start = time.perf_counter()
  for _ in range(FLAGS.batches * per_batch):
    next(iterator)
  seconds = time.perf_counter() - start
  return FLAGS.batches * FLAGS.global_batch_size / seconds


def main(argv):
  del argv
  lengths = [int(s) for s in FLAGS.seq_lengths]
  rates = [float(r) for r in FLAGS.step_rates]
  if (FLAGS.global_batch_size % (2 * FLAGS.replicas) or FLAGS.batches < 1
      or min(lengths) < 8 or min(rates) <= 0 or
      not set(FLAGS.maskings) <= {'static', 'dynamic'}):
    raise ValueError(
        '--global_batch_size must divide over 2 hosts of --replicas each, '
        '--batches >= 1, --seq_lengths >= 8, --step_rates > 0, --maskings '
        'static and/or dynamic.')
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix='td_input_rate_')
  cores = os.cpu_count()
  results = []
  for seq_length in lengths:
    for masking in FLAGS.maskings:
      data_dir = make_data(work, seq_length, masking)
      one = sequences_per_second(host_input(data_dir, 1))
      every = sequences_per_second(host_input(data_dir, 0))
      record_bytes = sum(
          tf.io.gfile.stat(p).length for p in tf.io.gfile.glob(
              os.path.join(data_dir, 'train-*'))) / rundir.read_data_summary(
                  data_dir)['train']['sequences']
      # A host reads every global batch: global batch x steps/s sequences.
      plan = FLAGS.plan_global_batch_size or FLAGS.global_batch_size
      needed = {f'{r:g} steps/s x {plan}': plan * r for r in rates}
      results.append(dict(
          seq_length=seq_length, masking=masking,
          sequences_per_s_one_core=round(one, 1),
          sequences_per_s_all_cores=round(every, 1),
          bytes_per_sequence=round(record_bytes),
          cores_needed={k: round(n / one, 2) for k, n in needed.items()},
          read_mb_per_s_needed={k: round(n * record_bytes / 1e6, 1)
                                for k, n in needed.items()}))
  print(json.dumps(dict(cores=cores, global_batch_size=FLAGS.global_batch_size,
                        replicas_per_host=FLAGS.replicas,
                        batches=FLAGS.batches, results=results)))


def run():
  """The console entry point."""
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
