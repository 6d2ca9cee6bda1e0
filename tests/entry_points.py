"""`python -m official_td.X ARGS` for the tests, forked from a warm interpreter.

A test that runs an entry point as a user does (a fresh process, its argv,
working directory, environment, exit status, stdout and stderr) pays about
7 s of CPU importing TensorFlow and the Model Garden before the entry point's
first line; the suite starts some 150 of them. Here each run is still a fresh
process, forked from a server (multiprocessing's forkserver) that has imported
those libraries and nothing of the entry points: the child takes the run's
working directory, environment, session and output files, then runs the
module as `__main__` with runpy, exits through the interpreter's own exit
steps (atexit handlers, non-daemon threads) and returns the status `python -m`
would (1 and a traceback for an uncaught exception, the code of SystemExit).

The workers of a Beam pipeline that such a run starts in multi_processing
mode (`sys.executable -m apache_beam.runners.worker.sdk_worker_main`) are
forked the same way when the run's `sys.executable` is a relay's shim (below).
Commands that are not Model Garden entry points (Git, bash, `-c` code) and
the KerasHub room (Keras 3, which a process with tf_keras loaded cannot be)
go to `subprocess` unchanged. The README's commands run in bash as a user's
shell runs them; its `python` is `Relay.shim`, which hands a Model Garden
entry point to the test process to fork and execs the real interpreter for
anything else; the runs it forks have that shim as their `sys.executable`, so
the entry points they start (the study's runs) are forked as well. An entry
point a test starts itself starts its own from the real interpreter unless
the test gives it a relay: a test may kill a run's process group (the
study's), which holds the shims but not the runs they asked for; the relay
kills those, and its `close` waits for them. What a fresh interpreter alone
would catch (an import-order mistake) meets one in the installed console
command (tests/test_packaging.py) and in the KerasHub room.
"""

import atexit
import base64
import inspect
import json
import multiprocessing
import multiprocessing.connection
import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback

# Imported once by the server; each run's own modules are imported by it.
_PRELOAD = ['official_td', 'tensorflow', 'tensorflow_text', 'tf_keras',
            'apache_beam', 'gin', 'orbit', 'official_td.cli',
            'official_td.configurables', 'official_td.train_lib',
            'official_td.tasks.classification', 'official_td.publish',
            'official_td.data.beam.pipeline']
# Modules that must start from a bare interpreter.
_NOT_FORKED = ('official_td.keras_hub', 'official_td.benchmarks.keras_step_time')
# Other modules forked like the entry points: the worker a Beam DirectRunner
# in multi_processing mode starts (`sys.executable -m ...sdk_worker_main`, in
# a run whose `sys.executable` is a relay's shim), which otherwise imports
# TensorFlow and Beam afresh in each of a pipeline's workers.
_ALSO_FORKED = ('apache_beam.runners.worker.sdk_worker_main',)


def _forkable_module(module):
  return ((module.startswith('official_td.') and
           not module.startswith(_NOT_FORKED)) or module in _ALSO_FORKED)


_CONTEXT = []
_CONTEXT_LOCK = threading.Lock()


def _context():
  with _CONTEXT_LOCK:
    return _context_locked()


def _context_locked():
  if not _CONTEXT:
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload(_PRELOAD)
    # The entry points quieten TensorFlow's C++ log before importing it; the
    # server imports it for them.
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
    _CONTEXT.append(context)
  return _CONTEXT[0]


def forkable(args):
  """The module of `[python, -m, module, ...]` when it can be forked."""
  if (len(args) >= 3 and args[0] == sys.executable and args[1] == '-m' and
      _forkable_module(args[2])):
    return args[2]
  return None


def _child(module, argv, cwd, env, new_session, stdout, stderr, executable):
  """The run, in the forked process, with `executable` as its
  `sys.executable` (see Relay)."""
  sys.executable = executable
  if new_session:
    os.setsid()
  os.chdir(cwd)
  os.environ.clear()
  os.environ.update(env)
  for fd, path in ((1, stdout), (2, stderr)):
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(target, fd)
    os.close(target)
  sys.argv = [module] + list(argv)
  code = 0
  try:
    runpy.run_module(module, run_name='__main__', alter_sys=True)
  except SystemExit as e:
    if e.code is None:
      code = 0
    elif isinstance(e.code, int):
      code = e.code
    else:
      print(e.code, file=sys.stderr)
      code = 1
  except BaseException:  # pylint: disable=broad-except  (as the interpreter)
    traceback.print_exc()
    code = 1
  threading._shutdown()  # pylint: disable=protected-access
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def _output(path, mode, text):
  if mode is None:
    return None
  with open(path, 'rb') as f:
    data = f.read()
  return data.decode('utf-8', errors='replace') if text else data


def Popen(args, relay=None, **kwargs):  # pylint: disable=invalid-name
  """subprocess.Popen, forking the Model Garden entry points (see above);
  with a `relay`, the entry points the run starts are forked too (its shim
  is their `sys.executable`)."""
  keys = {'cwd', 'env', 'stdout', 'stderr', 'text', 'start_new_session'}
  if forkable(args) and set(kwargs) <= keys and kwargs.get('text', True):
    kwargs.pop('text', None)
    return _Forked(args, executable=relay.shim_path if relay else
                   sys.executable, **kwargs)
  if relay is not None:
    raise ValueError(f'{args[:3]}: only a forked entry point takes a relay')
  return subprocess.Popen(args, **kwargs)


class _Forked:
  """The part of subprocess.Popen the tests use, for a forked entry point.

  Output goes to files read when the run has ended (stdout and stderr are
  PIPE or DEVNULL: nothing reads them while it runs)."""

  def __init__(self, args, cwd=None, env=None, stdout=None, stderr=None,
               start_new_session=False, executable=sys.executable):
    module = forkable(args)
    self.args = args
    self._dir = tempfile.mkdtemp()
    self._modes = (stdout, stderr)
    paths = [os.path.join(self._dir, n) for n in ('stdout', 'stderr')]
    self._paths = [p if m == subprocess.PIPE else os.devnull
                   for p, m in zip(paths, self._modes)]
    self._process = _context().Process(target=_child, args=(
        module, args[3:], cwd or os.getcwd(), dict(os.environ if env is None
                                                   else env),
        start_new_session, *self._paths, executable))
    self._process.start()
    self.pid = self._process.pid
    self.returncode = None

  def poll(self):
    if self.returncode is None and not self._process.is_alive():
      self.returncode = self._process.exitcode
    return self.returncode

  def wait(self, timeout=None):
    self._process.join(timeout)
    if self.poll() is None:
      raise subprocess.TimeoutExpired(self.args, timeout)
    return self.returncode

  def send_signal(self, sig):
    if self.poll() is None:
      os.kill(self.pid, sig)

  def kill(self):
    self.send_signal(signal.SIGKILL)

  def communicate(self, timeout=None, text=True):
    try:
      self.wait(timeout)
    except subprocess.TimeoutExpired:
      self.kill()
      self.wait()
      raise
    out = [_output(p, m if m == subprocess.PIPE else None, text)
           for p, m in zip(self._paths, self._modes)]
    shutil.rmtree(self._dir, ignore_errors=True)
    return tuple(out)


def run(args, cwd=None, env=None, capture_output=False, text=False,
        timeout=None, relay=None, **kwargs):
  """subprocess.run, forking the Model Garden entry points (see above);
  `relay` as for Popen."""
  if forkable(args) is None or not text or kwargs:
    if relay is not None:
      raise ValueError(f'{args[:3]}: only a forked entry point takes a relay')
    return subprocess.run(args, cwd=cwd, env=env,
                          capture_output=capture_output, text=text,
                          timeout=timeout, **kwargs)
  mode = subprocess.PIPE if capture_output else None
  proc = _Forked(args, cwd=cwd, env=env, stdout=mode, stderr=mode,
                 executable=relay.shim_path if relay else sys.executable)
  stdout, stderr = proc.communicate(timeout)
  return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


_SHIM = """#!{python} -S
import json, os, socket, sys, base64
_NOT_FORKED = {not_forked!r}
_ALSO_FORKED = {also_forked!r}
{forkable_module}
args = sys.argv[1:]
if len(args) >= 2 and args[0] == '-m' and _forkable_module(args[1]):
  with socket.socket(socket.AF_UNIX) as s:
    s.connect({path!r})
    s.sendall(json.dumps(dict(args=args, cwd=os.getcwd(),
                              env=dict(os.environ))).encode() + b'\\n')
    reply = json.loads(b''.join(iter(lambda: s.recv(1 << 16), b'')))
  sys.stdout.buffer.write(base64.b64decode(reply['stdout']))
  sys.stderr.buffer.write(base64.b64decode(reply['stderr']))
  code = reply['code']
  sys.exit(code if code >= 0 else 128 - code)
os.execv({python!r}, [{python!r}] + args)
"""


_RELAY = []
_RELAY_LOCK = threading.Lock()


def shared_relay():
  """This process's Relay (started on first use, closed at exit)."""
  with _RELAY_LOCK:
    if not _RELAY:
      relay = Relay()
      atexit.register(relay.close)
      _RELAY.append(relay)
    return _RELAY[0]


class Relay:
  """Runs the entry points a `python` shim hands over, forked as above.

  `shim(path)` writes the shim: an executable that, called as
  `python -m official_td.X ARGS`, sends its arguments, working directory and
  environment over a Unix socket, writes the run's stdout and stderr back to
  its own and exits with its status; called any other way, it becomes the
  real interpreter (exec). `shim_path` is one in the relay's directory. A
  thread serves each request while the relay is open. A run whose shim dies
  (a test killed the shim's process group) is killed; `close` returns once
  every run it accepted has ended, so after a kill and `close` no run of the
  killed group is left (one not yet accepted is never started)."""

  def __init__(self):
    self._dir = tempfile.mkdtemp()
    self.path = os.path.join(self._dir, 'relay.sock')
    self._socket = socket.socket(socket.AF_UNIX)
    self._socket.bind(self.path)
    self._socket.listen()
    self._handlers = []
    self._thread = threading.Thread(target=self._serve, daemon=True)
    self._thread.start()
    self.shim_path = os.path.join(self._dir, 'python')
    self.shim(self.shim_path)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def close(self):
    if self._socket.fileno() < 0:
      return
    self._socket.shutdown(socket.SHUT_RDWR)
    self._socket.close()
    self._thread.join()  # accepts nothing more; then the runs it accepted.
    for handler in self._handlers:
      handler.join()
    shutil.rmtree(self._dir, ignore_errors=True)

  def shim(self, path):
    # The shim decides with this module's own rule (`_forkable_module`).
    with open(path, 'w') as f:
      f.write(_SHIM.format(
          python=sys.executable, not_forked=_NOT_FORKED,
          also_forked=_ALSO_FORKED,
          forkable_module=inspect.getsource(_forkable_module),
          path=self.path))
    os.chmod(path, 0o755)

  def _serve(self):
    while True:
      try:
        connection, _ = self._socket.accept()
      except OSError:  # closed by __exit__.
        return
      # One command at a time per shell, but a command may run several.
      handler = threading.Thread(target=self._handle, args=(connection,),
                                 daemon=True)
      handler.start()
      self._handlers = [h for h in self._handlers if h.is_alive()] + [handler]

  def _handle(self, connection):
    with connection, connection.makefile('rb') as reader:
      line = reader.readline()
      if not line.endswith(b'\n'):
        return  # the shim died before it asked.
      request = json.loads(line)
      proc = _Forked([sys.executable] + request['args'], cwd=request['cwd'],
                     env=request['env'], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, executable=self.shim_path)
      # The shim gone (killed) before the run ends: the run goes too.
      ready = multiprocessing.connection.wait(
          [proc._process.sentinel, connection])  # pylint: disable=protected-access
      if connection in ready and proc.poll() is None:
        proc.kill()
      stdout, stderr = proc.communicate(text=False)
      try:
        connection.sendall(json.dumps(dict(
            code=proc.returncode,
            stdout=base64.b64encode(stdout).decode(),
            stderr=base64.b64encode(stderr).decode())).encode())
      except (BrokenPipeError, ConnectionResetError):
        pass  # nobody waits for the answer.
