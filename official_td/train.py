r"""Pretrains a (token-dropping) BERT from gin configs.

  python -m official_td.train --gin_file=gin/experiments/demo.gin \
      --model_dir=/tmp/td_demo [--gin_bindings='run.train_steps = 100'] \
      [--strategy=one_device|mirrored|multi_worker_mirrored|tpu] [--tpu=local]

Restarting the same command resumes from the last checkpoint in --model_dir.
The console shows one progress line per loop and one line per evaluation;
the full log (orbit's output dicts, TensorFlow's messages) is in
`model_dir/logs/train.INFO`. A configuration or data mistake ends with one
message and exit code 1 (`--verbose` shows the traceback).
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes, rendezvous)
# is not for the console unless the user asks for it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import configurables  # pylint: disable=g-import-not-at-top
# Before any gin file is parsed: modules of tf-models-official register gin
# configurables when first imported, which a locked config refuses.
from official_td import train_lib  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

cli.define_flags('Checkpoints, logs and results.',
                 'Log everything to the console too, and show tracebacks.')
cli.define_dry_run_flag()


def main(argv):
  del argv
  run = configurables.run(model_dir=cli.configure_from_flags())
  encoder = configurables.encoder()
  data = configurables.data()
  optimizer = configurables.optimizer()
  if FLAGS.dry_run:
    strategy = cli.strategy_from_flags()
    result = train_lib.dry_run(strategy, encoder, data, optimizer, run,
                               configurables.bound_encoder_fields())
    print(json.dumps(result))
    print(train_lib.dry_run_line(result))
    return
  new_model_dir = not tf.io.gfile.exists(FLAGS.model_dir)
  log_file = cli.log_to_file('train', FLAGS.model_dir, FLAGS.verbose)
  try:
    _train(run, encoder, data, optimizer, log_file)
  except Exception:
    if new_model_dir:  # a run refused before it wrote anything but logs.
      cli.withdraw_logs(FLAGS.model_dir)
    raise


def _train(run, encoder, data, optimizer, log_file):
  """Builds the strategy and pretrains; prints the outcome."""
  strategy = cli.strategy_from_flags()
  replicas = strategy.num_replicas_in_sync
  header = (f'{type(strategy).__name__} with {replicas} replica(s), global '
            f'batch {run.global_batch_size} '
            f'({run.global_batch_size // replicas} per replica)')
  logging.info(header)
  print(header, flush=True)
  print(f'Log: {log_file}', flush=True)
  results = train_lib.run_pretraining(
      strategy, encoder, data, optimizer, run,
      operative_config=gin.operative_config_str(),
      bound_encoder_fields=configurables.bound_encoder_fields())
  print(json.dumps(results))
  if 'eval_mlm_accuracy' in results:
    print(f'Final eval (full sequences): MLM accuracy '
          f'{results["eval_mlm_accuracy"]:.4f}, loss '
          f'{results["eval_mlm_loss"]:.4f}')
  print(f'Checkpoint: {results["checkpoint"]}')
  print(f'TensorBoard: tensorboard --logdir {results["tensorboard"]}')


def run():
  """The console entry point (see pyproject.toml)."""
  app.run(cli.main_with_clean_errors(main, lambda: FLAGS.verbose))


if __name__ == '__main__':
  run()
