"""Pytest setup: two logical CPU devices, so replica tests run on one CPU."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import official_td  # pylint: disable=g-import-not-at-top,unused-import  (sets TF_USE_LEGACY_KERAS first)

import tensorflow as tf  # pylint: disable=g-import-not-at-top

_cpus = tf.config.list_physical_devices('CPU')
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from absl import flags  # pylint: disable=g-import-not-at-top

# tf.test.TestCase reads absl flags (e.g. --test_tmpdir); pytest parses none.
flags.FLAGS.mark_as_parsed()

# The longest classes first: pytest-xdist's `--dist loadscope` hands out
# classes in collection order (pytest.ini turns off its reordering by test
# count, which would put these one-test classes last), so each of these
# starts at once on a worker instead of one of them starting last and
# running alone at the end.
_LONGEST_FIRST = ('tests/test_readme.py::ReadmeCommandsTest',
                  'tests/test_readme.py::DocsCommandsTest',
                  'tests/test_compare.py::StudyEndToEndTest',
                  'tests/test_pretrain.py::PretrainEndToEndTest')


def pytest_collection_modifyitems(items):
  def rank(item):
    for i, prefix in enumerate(_LONGEST_FIRST):
      if item.nodeid.startswith(prefix + '::'):
        return i
    return len(_LONGEST_FIRST)
  items.sort(key=rank)  # stable: the rest keep their order.
