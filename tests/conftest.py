"""Pytest setup: two logical CPU devices, so replica tests run on one CPU."""

import os
import shutil
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# XLA compiles for the test machine's CPU (TensorFlow's jit_compile and
# its TPU proxies, JAX's jit) without the LLVM backend's optimizations
# (what JAX's own `jax_disable_most_optimizations` sets): the same HLO
# through the same HLO passes, results equal to float rounding, and about
# half the compile time that dominates the tests' tiny steps (a jit-compiled
# train step test: 26 s to 13 s). Set before anything compiles, for this
# process and every process it starts (the workers, and every command they
# run, inherit the environment).
_FAST_COMPILE = ('--xla_backend_optimization_level=0',
                 '--xla_llvm_disable_expensive_passes=true')
_xla_flags = os.environ.get('XLA_FLAGS', '').split()
os.environ['XLA_FLAGS'] = ' '.join(
    _xla_flags + [f for f in _FAST_COMPILE if f not in _xla_flags])
os.environ['JAX_DISABLE_MOST_OPTIMIZATIONS'] = '1'
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
# starts early on a worker instead of one of them starting last and
# running alone at the end. Each worker is handed two at the start (the
# first and third, the second and fourth): the README's commands first on
# one, making the outputs both README workspaces copy
# (tests/test_readme.py), and the other docs' commands second on the other,
# when those outputs are made instead of waiting for them.
_LONGEST_FIRST = ('tests/test_readme.py::ReadmeCommandsTest',
                  'tests/test_compare.py::StudyEndToEndTest',
                  'tests/test_keras_hub.py::KerasHubTest',
                  'tests/test_readme.py::DocsCommandsTest',
                  'tests/test_notebook.py::NotebookTest',
                  'tests/test_keras_hub.py::KerasHubTrainResumeTest',
                  'tests/test_pretrain.py::PretrainEndToEndTest')


def pytest_collection_modifyitems(items):
  def rank(item):
    for i, prefix in enumerate(_LONGEST_FIRST):
      if item.nodeid.startswith(prefix + '::'):
        return i
    return len(_LONGEST_FIRST)
  items.sort(key=rank)  # stable: the rest keep their order.


# The Keras 3 room's processes on JAX compile the same programs again and
# again (a run, the run killed and resumed beside it, a preset and the run
# that reads it): they share JAX's persistent compilation cache, one per test
# session for both workers (its size limit turns on JAX's file lock around
# each entry; an entry a killed run left half-written is recompiled, with a
# warning). Set by the controller, so the workers it starts inherit it.
# Likewise the embedded corpus's cache (official_td/data/text/corpus.py),
# which a user's runs keep in ~/.cache: the session's own, never the home's.
# And a directory where both workers' tests share what they would each make
# alike (tests/test_readme.py: the README commands that both workspaces
# need first).
_CACHES = ('JAX_COMPILATION_CACHE_DIR', 'OFFICIAL_TD_CACHE',
           'OFFICIAL_TD_TESTS_SHARED')


def pytest_configure(config):
  if hasattr(config, 'workerinput'):
    return
  config.td_caches = tempfile.mkdtemp(prefix='td_caches_')
  for name in _CACHES:
    os.environ[name] = os.path.join(config.td_caches, name.lower())
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'
  os.environ['JAX_COMPILATION_CACHE_MAX_SIZE'] = str(1 << 30)


def pytest_unconfigure(config):
  caches = getattr(config, 'td_caches', None)
  if caches:
    shutil.rmtree(caches, ignore_errors=True)
