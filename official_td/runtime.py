"""What every entry point does first: read gin, pick a tf.distribute strategy.

Kept free of absl flags so that several entry points can share it.
"""

import os

import gin
import tensorflow as tf

from official.common import distribute_utils


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
