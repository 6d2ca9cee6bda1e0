"""The DirectRunner's worker processes, forked with their imports done.

Beam's DirectRunner (multi-processing mode) starts each worker as a new
Python process: ~1.5 s to boot Beam's SDK harness, then ~2.5 s to import
TensorFlow and tensorflow-text at the first bundle, after the launcher has
spent ~4 s on the same imports. Here the workers are forked from a
`multiprocessing` forkserver that imports all of that once, beside the
launcher's own imports (the data entry point starts it before importing
TensorFlow): a worker starts in milliseconds, already warm.

The runner reaches them through Beam's own protocol for external workers:
an `ExternalEnvironment` whose address serves `BeamFnExternalWorkerPool`
(`StartWorker` forks one from the forkserver, which then runs Beam's SDK
harness main, as a subprocess worker would). The forkserver holds only
imported modules (no TensorFlow runtime, no gRPC channel) when it forks.
Nothing else changes: the same harness, the same bundles, the same records.

Where the platform has no forkserver (Windows), or this host's name does not
resolve (Beam gives external workers the runner's address by it), Beam's own
subprocess workers are used.
"""

import functools
import multiprocessing
import os
import socket
import sys
from typing import Dict, List, Optional, Sequence

# What a worker imports (Beam's SDK harness, the pipeline's stages with
# TensorFlow, tensorflow-text's ops), imported by the forkserver.
PRELOAD = ('official_td.data.warm_imports',)


@functools.lru_cache(maxsize=None)
def available() -> bool:
  """Whether workers can come from the pool here: there is a forkserver
  (not on Windows), and the host name Beam gives external workers to reach
  the runner (this host's fully qualified name) resolves."""
  if 'forkserver' not in multiprocessing.get_all_start_methods():
    return False
  try:
    socket.getaddrinfo(socket.getfqdn(), None)
  except OSError:
    return False
  return True


def _context():
  context = multiprocessing.get_context('forkserver')
  context.set_forkserver_preload(list(PRELOAD))
  return context


def start():
  """Starts the forkserver and its imports in the background (idempotent);
  returns its `multiprocessing` context."""
  from multiprocessing import forkserver  # pylint: disable=g-import-not-at-top
  context = _context()
  forkserver.ensure_running()
  return context


def prestart(beam_args: Sequence[str], output_dir: str):
  """`start()`, unless the arguments name a run without local worker
  processes (another runner, another DirectRunner mode, a `ram://` output,
  which runs in-process). A hint for the data entry point, taken before Beam
  is imported; `Pool` users decide on the parsed options."""
  for arg in beam_args:
    name, _, value = arg.partition('=')
    if ((name == '--runner' and value != 'DirectRunner') or
        (name == '--direct_running_mode' and value != 'multi_processing') or
        name == '--dry_run'):
      return
  if available() and not output_dir.startswith('ram://'):
    start()


def _run_worker(control_url: str, logging_url: str, worker_id: str,
                environ: Dict[str, str]):
  """A worker: Beam's SDK harness main, with the environment a subprocess
  worker of the DirectRunner gets: the launcher's environment variables as
  they are when the worker starts (the forkserver's are as they were at its
  own start), and no pipeline options. (`multiprocessing` gives it the
  launcher's current directory and `sys.path`.)"""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from apache_beam.portability.api import endpoints_pb2  # pylint: disable=g-import-not-at-top
  from apache_beam.runners.worker import sdk_worker_main  # pylint: disable=g-import-not-at-top

  def descriptor(url):
    return text_format.MessageToString(
        endpoints_pb2.ApiServiceDescriptor(url=url))

  os.environ.clear()
  os.environ.update(environ)
  os.environ.update(CONTROL_API_SERVICE_DESCRIPTOR=descriptor(control_url),
                    LOGGING_API_SERVICE_DESCRIPTOR=descriptor(logging_url),
                    WORKER_ID=worker_id, PIPELINE_OPTIONS='{}')
  sdk_worker_main.main(sys.argv)


class Pool:
  """A `BeamFnExternalWorkerPool` service forking workers from the
  forkserver; `environment()` is the Beam environment that uses it.

  Use as a context manager around the pipeline's run: leaving it waits for
  the workers to exit (the runner has closed their control channels by
  then), or on an exception (a failed run, Ctrl-C) ends them at once, and
  stops the service.
  """

  def __init__(self):
    import grpc  # pylint: disable=g-import-not-at-top
    from concurrent import futures  # pylint: disable=g-import-not-at-top
    from apache_beam.portability.api import beam_fn_api_pb2  # pylint: disable=g-import-not-at-top
    from apache_beam.portability.api import beam_fn_api_pb2_grpc  # pylint: disable=g-import-not-at-top

    context = start()
    processes: List[multiprocessing.Process] = []
    self.processes = processes

    class Service(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):

      def StartWorker(self, request, unused_context):  # pylint: disable=invalid-name
        process = context.Process(
            target=_run_worker, daemon=True,
            name=f'beam-worker-{request.worker_id}',
            args=(request.control_endpoint.url, request.logging_endpoint.url,
                  request.worker_id, dict(os.environ)))
        process.start()
        processes.append(process)
        return beam_fn_api_pb2.StartWorkerResponse()

      def StopWorker(self, unused_request, unused_context):  # pylint: disable=invalid-name
        return beam_fn_api_pb2.StopWorkerResponse()  # they stop on their own.

    self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
        Service(), self._server)
    self._port = self._server.add_insecure_port('localhost:0')
    self._server.start()

  def environment(self):
    from apache_beam.transforms import environments  # pylint: disable=g-import-not-at-top
    return environments.ExternalEnvironment(f'localhost:{self._port}')

  def __enter__(self) -> 'Pool':
    return self

  def __exit__(self, exc_type, *unused_exc_info):
    self.close(timeout=0 if exc_type is not None else 60)

  def close(self, timeout: Optional[float] = 60):
    """Waits for the workers to exit (killing any still running after
    `timeout` seconds: the run is over) and stops the service."""
    for process in self.processes:
      process.join(timeout)
      if process.is_alive():
        process.kill()
        process.join()
    self._server.stop(None)
