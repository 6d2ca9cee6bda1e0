"""What every entry point does: read gin, pick a tf.distribute strategy, keep
the console readable and end a user's mistake with one clear message.

Defines absl flags only when an entry point calls `define_flags`, so that
several entry points can share it.
"""

import os
import shutil
import sys

from absl import flags
from absl import logging
import gin

# TensorFlow and the Model Garden are imported where they are used, so that
# `--help` and flag errors answer before they load.


def define_flags(model_dir_help: str, verbose_help: str):
  """Defines the flags every training entry point shares.

  Called by entry points (`train`, `finetune`) at import, as the Model
  Garden's `official.common.flags.define_flags`; libraries define none.
  """
  flags.DEFINE_multi_string('gin_file', [], 'Gin config files (in order).')
  flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
  flags.DEFINE_string('model_dir', None, model_dir_help)
  define_strategy_flags()
  flags.DEFINE_bool('verbose', False, verbose_help)


STRATEGY_FLAGS = ('strategy', 'tpu', 'num_gpus', 'cpu_replicas')


def define_dry_run_flag():
  """`--dry_run`, shared by the entry points that take it (`train`,
  `study`; one process may import both, as the notebook does)."""
  if 'dry_run' not in flags.FLAGS:
    flags.DEFINE_bool(
        'dry_run', False,
        'Check the flags, bindings, data and init checkpoint, build the model '
        'on the strategy and read one batch (the study: for the baseline and '
        'every arm, and its held-out data), then stop: nothing is trained or '
        'written. Checks a launch on a TPU slice or many GPUs in a minute.')


def define_strategy_flags():
  """The tf.distribute flags: every entry point that trains or times a step
  takes the same ones (`train`, `finetune`, `benchmarks.step_time`,
  `study`, which passes them on to each of its runs)."""
  flags.DEFINE_enum('strategy', 'one_device',
                    ['one_device', 'mirrored', 'multi_worker_mirrored', 'tpu'],
                    'tf.distribute strategy (multi_worker_mirrored reads the '
                    'cluster from TF_CONFIG).')
  flags.DEFINE_string('tpu', None,
                      'TPU address (`local` on a Colab / TPU VM).')
  flags.DEFINE_integer('num_gpus', None, 'GPUs for mirrored (default: all).')
  flags.DEFINE_integer(
      'cpu_replicas', 0,
      'Split the CPU into this many logical devices and mirror over them: '
      'the CPU proxy of a multi-replica run.')


def strategy_from_flags():
  """The strategy the flags of `define_strategy_flags` name."""
  flags_ = flags.FLAGS
  return make_strategy(flags_.strategy, flags_.tpu, flags_.num_gpus,
                       flags_.cpu_replicas)


def strategy_args():
  """The strategy flags as given, to pass on to another entry point."""
  flags_ = flags.FLAGS
  return [f'--{name}={flags_[name].value}' for name in STRATEGY_FLAGS
          if flags_[name].present]


def configure_from_flags() -> str:
  """Checks `--model_dir` and parses `--gin_file`/`--gin_bindings` (the
  flags of `define_flags`); returns the model directory."""
  flags_ = flags.FLAGS
  if not flags_.model_dir:
    raise ValueError('--model_dir is required.')
  parse_gin(flags_.gin_file, flags_.gin_bindings)
  return flags_.model_dir


def parse_gin(gin_files, gin_bindings):
  """Parses gin files and bindings; unknown names fail with gin's message."""
  search_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  gin.add_config_file_search_path(search_dir)
  exists = os.path.exists
  if any('://' in path for path in gin_files):
    # A gin file on gs:// (or any tf.io.gfile scheme): gin reads files with
    # `open` unless told otherwise, so it gets tf.io.gfile as a reader. Gin's
    # own gin.tf module does this but no longer imports (it needs
    # tf.estimator).
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    gin.config.register_file_reader(tf.io.gfile.GFile, tf.io.gfile.exists)
    exists = tf.io.gfile.exists
  for path in gin_files:
    if not exists(path) and not os.path.exists(
        os.path.join(search_dir, path)):
      raise ValueError(f'Gin file {path!r} does not exist.')
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings)
  except (ValueError, KeyError, TypeError, SyntaxError) as e:
    raise ValueError(f'Invalid gin configuration: {e}') from None


def make_strategy(name, tpu=None, num_gpus=None, cpu_replicas=0):
  """The tf.distribute strategy for `--strategy`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from official.common import distribute_utils  # pylint: disable=g-import-not-at-top
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


# A user's mistake (bad path, config or data) surfaces as one of these: the
# message says what is wrong and how to fix it; its traceback helps nobody.
_log_file = None  # set by `log_to_file`.
_terminal = None  # set by `stderr_to_log`: the console's own stderr.

_USER_ERRORS = (ValueError, FloatingPointError, FileNotFoundError)


def user_errors():
  """The exception types of a user's mistake: ours, and TensorFlow's file
  errors once TensorFlow is loaded (before, none of them can be raised)."""
  tf = sys.modules.get('tensorflow')
  if tf is None or not hasattr(tf, 'errors'):
    return _USER_ERRORS
  return _USER_ERRORS + (tf.errors.NotFoundError,
                         tf.errors.PermissionDeniedError)


def main_with_clean_errors(main, verbose=lambda: False):
  """Wraps an absl `main`: user errors print one line and exit with code 1.

  Args:
    main: the entry point's `main(argv)`.
    verbose: returns True when the user asked for tracebacks (`--verbose`).

  Returns:
    A `main(argv)` for `absl.app.run`. Real crashes (any other exception)
    keep their traceback.
  """
  def wrapped(argv):
    try:
      return main(argv)
    except Exception as e:  # pylint: disable=broad-except
      if not isinstance(e, user_errors()) or verbose():
        raise
      message = getattr(e, 'message', None) or str(e)
      if _log_file:  # the console gets the message once, below.
        logging.info('%s: %s', type(e).__name__, message)
      sys.stdout.flush()
      log = f'the log: {_log_file}; ' if _log_file else ''
      print(f'Error: {message}\n({log}run with --verbose for the traceback)',
            file=_terminal or sys.stderr, flush=True)
      sys.exit(1)
  return wrapped


def stderr_to_log(program: str, output_dir: str) -> str:
  """Sends this process's stderr, and its child processes', to a log file.

  For jobs whose libraries and workers write to stderr at every start (Apache
  Beam's SDK harness, TensorFlow in each worker): file descriptor 2 itself
  is redirected, so child processes (the DirectRunner's workers) and C++
  logging follow. The console keeps stdout and the entry point's own
  `Error:` line, which names the log. The log is hidden beside a local
  `output_dir` (`.NAME.PROGRAM.log`, so that it does not look like a
  result), else in the local temp directory.

  Returns:
    The log file's path.
  """
  global _log_file, _terminal
  target = output_dir.rstrip('/')
  if '://' in target:
    log_dir = _temp_log_dir()
    path = os.path.join(log_dir, f'{program}-{os.getpid()}.log')
  else:
    log_dir = os.path.dirname(os.path.abspath(target))
    path = os.path.join(log_dir,
                        f'.{os.path.basename(target)}.{program}.log')
  os.makedirs(log_dir, exist_ok=True)  # local by construction.
  sys.stderr.flush()
  _terminal = os.fdopen(os.dup(2), 'w', buffering=1)
  log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  os.dup2(log, 2)
  os.close(log)
  _log_file = path
  return path


def _temp_log_dir() -> str:
  """Where logs go that must not look like a result: the local temp dir."""
  return os.path.join(os.environ.get('TMPDIR', '/tmp'), 'official_td', 'logs')


def withdraw_logs(model_dir: str):
  """Moves the logs of a run that failed before writing anything else.

  A model directory holding only `logs/` would look like a started run. When
  that is all `model_dir` holds (local), its logs move to the local temp
  directory, `model_dir` is removed, and the error names the new path.
  """
  global _log_file
  logs = os.path.join(model_dir, 'logs')
  if '://' in model_dir or not os.path.isdir(logs) or os.listdir(
      model_dir) != ['logs']:
    return
  name = os.path.basename(os.path.abspath(model_dir))
  target = os.path.join(_temp_log_dir(), f'{name}-{os.getpid()}')
  os.makedirs(os.path.dirname(target), exist_ok=True)  # local by construction.
  shutil.move(logs, target)
  os.rmdir(model_dir)
  if _log_file and _log_file.startswith(logs + os.sep):
    _log_file = os.path.join(target, os.path.relpath(_log_file, logs))


def log_to_file(program: str, model_dir: str, verbose: bool = False) -> str:
  """Sends absl/TF Python logs to a file; the console keeps warnings and up.

  The file goes to `model_dir/logs/` when `model_dir` is local; absl writes
  log files with local file APIs, so for a `gs://` model dir it goes to the
  local temp directory (the path is returned and printed by the caller).

  Args:
    program: log file prefix (`train`, `finetune`).
    model_dir: the run's directory.
    verbose: keep everything on stderr as well (absl's default).

  Returns:
    The log file path.
  """
  if '://' not in model_dir:
    log_dir = os.path.join(model_dir, 'logs')
  else:
    log_dir = _temp_log_dir()
  os.makedirs(log_dir, exist_ok=True)  # local by construction.
  handler = logging.get_absl_handler()
  handler.use_absl_log_file(program, log_dir)
  if not verbose:
    flags.FLAGS.stderrthreshold = 'warning'
  else:
    flags.FLAGS.alsologtostderr = True
  global _log_file
  _log_file = os.path.join(log_dir, f'{program}.INFO')
  return _log_file
