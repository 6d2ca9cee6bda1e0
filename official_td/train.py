r"""Pretrains a (token-dropping) BERT from gin configs.

  python -m official_td.train --gin_file=gin/experiments/demo.gin \
      --model_dir=/tmp/td_demo [--gin_bindings='run.train_steps = 100'] \
      [--strategy=one_device|mirrored|multi_worker_mirrored|tpu] [--tpu=local]

Restarting the same command resumes from the last checkpoint in --model_dir.
"""

import json

from absl import app
from absl import flags
from absl import logging
import gin

from official_td import configurables
from official_td import runtime

FLAGS = flags.FLAGS

flags.DEFINE_multi_string('gin_file', [], 'Gin config files (in order).')
flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
flags.DEFINE_string('model_dir', None, 'Checkpoints, logs and results.')
flags.DEFINE_enum('strategy', 'one_device',
                  ['one_device', 'mirrored', 'multi_worker_mirrored', 'tpu'],
                  'tf.distribute strategy.')
flags.DEFINE_string('tpu', None, 'TPU address (`local` on a Colab / TPU VM).')
flags.DEFINE_integer('num_gpus', None, 'GPUs for mirrored (default: all).')
flags.DEFINE_integer(
    'cpu_replicas', 0,
    'Split the CPU into this many logical devices and mirror over them: '
    'the CPU proxy of a multi-replica run.')


def main(argv):
  del argv
  if not FLAGS.model_dir:
    raise app.UsageError('--model_dir is required.')
  runtime.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  run = configurables.run(model_dir=FLAGS.model_dir)
  encoder = configurables.encoder()
  data = configurables.data()
  optimizer = configurables.optimizer()
  strategy = runtime.make_strategy(FLAGS.strategy, FLAGS.tpu, FLAGS.num_gpus,
                           FLAGS.cpu_replicas)
  logging.info('Strategy %s with %d replica(s).', type(strategy).__name__,
               strategy.num_replicas_in_sync)
  from official_td.tasks import pretrain  # pylint: disable=g-import-not-at-top
  results = pretrain.run_pretraining(
      strategy, encoder, data, optimizer, run,
      operative_config=gin.operative_config_str())
  print(json.dumps(results))
  if 'eval_mlm_accuracy' in results:
    print(f'Final eval (full sequences): MLM accuracy '
          f'{results["eval_mlm_accuracy"]:.4f}, loss '
          f'{results["eval_mlm_loss"]:.4f}')
  print(f'Checkpoint: {results["checkpoint"]}')
  print(f'TensorBoard: tensorboard --logdir {results["tensorboard"]}')


if __name__ == '__main__':
  app.run(main)
