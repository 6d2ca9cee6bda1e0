r"""Pretrains a (token-dropping) BERT from gin configs.

  python -m official_td.train --gin_file=gin/experiments/demo.gin \
      --model_dir=/tmp/td_demo [--gin_bindings='run.train_steps = 100'] \
      [--strategy=one_device|mirrored|multi_worker_mirrored|tpu] [--tpu=local]

Restarting the same command resumes from the last checkpoint in --model_dir.
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
import gin
import tensorflow as tf

from official.common import distribute_utils
from official_td import configurables

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


def parse_gin(gin_files, gin_bindings):
  """Parses gin files and bindings; unknown names fail with gin's message."""
  search_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  gin.add_config_file_search_path(search_dir)
  for path in gin_files:
    if not os.path.exists(path) and not os.path.exists(
        os.path.join(search_dir, path)):
      raise ValueError(f'Gin file {path!r} does not exist.')
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings)
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f'Invalid gin configuration: {e}') from None


def make_strategy(name, tpu=None, num_gpus=None, cpu_replicas=0):
  """The tf.distribute strategy for `--strategy`."""
  if cpu_replicas:
    cpus = tf.config.list_physical_devices('CPU')
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
    devices = [f'/cpu:{i}' for i in range(cpu_replicas)]
    return tf.distribute.MirroredStrategy(devices)
  if name == 'mirrored' and num_gpus is None:
    num_gpus = len(tf.config.list_physical_devices('GPU'))
  if name == 'one_device' and num_gpus is None:
    num_gpus = min(1, len(tf.config.list_physical_devices('GPU')))
  return distribute_utils.get_distribution_strategy(
      distribution_strategy=name, num_gpus=num_gpus or 0, tpu_address=tpu)


def main(argv):
  del argv
  if not FLAGS.model_dir:
    raise app.UsageError('--model_dir is required.')
  parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  run = configurables.run(model_dir=FLAGS.model_dir)
  encoder = configurables.encoder()
  data = configurables.data()
  optimizer = configurables.optimizer()
  strategy = make_strategy(FLAGS.strategy, FLAGS.tpu, FLAGS.num_gpus,
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
