"""Pytest setup: two logical CPU devices, so replica tests run on one CPU."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

_cpus = tf.config.list_physical_devices('CPU')
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from absl import flags  # pylint: disable=g-import-not-at-top

# tf.test.TestCase reads absl flags (e.g. --test_tmpdir); pytest parses none.
flags.FLAGS.mark_as_parsed()
