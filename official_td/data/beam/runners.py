"""Beam pipeline options and runners for the data pipeline.

The default is Beam's DirectRunner in multi-processing mode on every core;
Beam's own options pass through (`--runner=DataflowRunner --project=...
--region=... --temp_location=gs://...`, Flink, Spark), and an option no Beam
component knows is an error.
"""

import os
from typing import Callable, Dict, List, Optional, Sequence

import apache_beam as beam
from apache_beam.options import pipeline_options as beam_options



# ------------------------------------------------------------ running
# Below this much input (where its size is known up front), the DirectRunner
# runs in this process: a worker process imports TensorFlow and this package
# (seconds on a small machine) before its first record, longer than one
# process takes for the whole input.
ONE_PROCESS_BYTES = 8 << 20


def pipeline_options(beam_args: Sequence[str], output_dir: str,
                     num_workers: int = 0,
                     input_bytes: Optional[int] = None
                     ) -> beam_options.PipelineOptions:
  """Beam options: the user's, else the DirectRunner's multi-processing mode
  (one worker process per core, or `num_workers`), or this process alone
  for an input of known size under `ONE_PROCESS_BYTES` when `num_workers`
  is 0.

  Raises:
    ValueError: on an option no Beam component knows (a typo would otherwise
      be dropped silently).
  """
  beam_args = list(beam_args)
  options = beam_options.PipelineOptions(beam_args)
  known = options.get_all_options(retain_unknown_options=False)
  every = options.get_all_options(retain_unknown_options=True)
  unknown = sorted(set(every) - set(known))
  if unknown:
    raise ValueError(
        f'Unknown option(s) {unknown}: neither a flag of this program nor a '
        f'Beam pipeline option (passed through: {beam_args}); see --help, '
        '`python -m apache_beam.runners.runner --help` or the runner\'s '
        'documentation (e.g. --runner=DataflowRunner --project=... '
        '--region=... --temp_location=gs://...).')
  if not is_direct(options) and not _is_in_process(options):
    # Remote workers import official_td: ship it unless the user does.
    options = beam_options.PipelineOptions(
        beam_args + worker_package_args(beam_args))
  if is_direct(options):
    direct = options.view_as(beam_options.DirectOptions)
    def given(option):
      return any(a.startswith(option) for a in beam_args)

    small = (not num_workers and input_bytes is not None and
             input_bytes < ONE_PROCESS_BYTES and
             not given('--direct_running_mode') and
             not given('--direct_num_workers'))
    if output_dir.startswith('ram://') or small:
      # ram:// is one process's memory: workers of their own cannot see it;
      # a small input is read here before workers would have started.
      direct.direct_running_mode = 'in_memory'
      direct.direct_num_workers = 1
    else:
      if not given('--direct_running_mode'):
        direct.direct_running_mode = 'multi_processing'
      if not given('--direct_num_workers'):
        direct.direct_num_workers = num_workers or os.cpu_count() or 1
  return options


# Options that give remote workers this package (or an image that has it).
_SHIPPING_OPTIONS = ('--setup_file', '--extra_package', '--extra_packages',
                     '--sdk_container_image', '--worker_harness_container_image')


def ships_code(beam_args: Sequence[str]) -> bool:
  """True when `beam_args` already give the workers code or an image."""
  return any(a.split('=', 1)[0] in _SHIPPING_OPTIONS for a in beam_args)


def project_file() -> str:
  """The `pyproject.toml` of the checkout this package runs from, or ''."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))))
  path = os.path.join(root, 'pyproject.toml')
  return path if os.path.isfile(path) else ''


def worker_package_args(beam_args: Sequence[str]) -> List[str]:
  """`--setup_file=<checkout>/pyproject.toml` for remote workers.

  Remote workers (Dataflow, Flink, Spark) run the pipeline's DoFns, so they
  must import `official_td`. Beam builds an sdist from the project file
  (`python -m build --sdist`, from requirements-dataflow.txt) and installs it
  on every worker; the pinned worker dependencies travel with
  `--requirements_file=requirements-worker.txt`.

  Raises:
    ValueError: when the package was installed without its checkout and the
      user ships no code: say how to ship it.
  """
  if ships_code(beam_args):
    return []
  path = project_file()
  if not path:
    raise ValueError(
        'Remote Beam workers need the official_td package, and this one was '
        'installed without its source checkout. Pass '
        '--setup_file=PATH/TO/CHECKOUT/pyproject.toml, or build a wheel '
        '(`pip wheel --no-deps PATH/TO/CHECKOUT -w dist`) and pass '
        '--extra_package=dist/official_td-VERSION-py3-none-any.whl.')
  return [f'--setup_file={path}']


def is_direct(options: beam_options.PipelineOptions) -> bool:
  return options.get_all_options().get('runner') in (None, 'DirectRunner')


def _is_in_process(options: beam_options.PipelineOptions) -> bool:
  """Runners whose workers share this machine's Python environment."""
  return options.get_all_options().get('runner') in (
      'InteractiveRunner', 'PrismRunner', 'BundleBasedDirectRunner',
      'SwitchingDirectRunner')


def runner_for(options: beam_options.PipelineOptions):
  """The runner object for `options`; None lets Beam pick the named runner.

  For the DirectRunner, Beam 2.77 first tries its Prism runner, which
  downloads a binary at run time (and fails offline, or runs with other
  settings); the FnApiRunner is the DirectRunner's own engine, works offline
  and is what `--direct_running_mode` / `--direct_num_workers` configure.
  """
  if is_direct(options):
    from apache_beam.runners.portability import fn_api_runner  # pylint: disable=g-import-not-at-top
    return fn_api_runner.FnApiRunner()
  return None


# ------------------------------------------------------------ dry run
def is_dry_run(options: beam_options.PipelineOptions) -> bool:
  """`--dry_run=True`: build the job, submit nothing (Beam's TestOptions)."""
  if not options.view_as(beam_options.TestOptions).dry_run:
    return False
  if options.get_all_options().get('runner') != 'DataflowRunner':
    raise ValueError('--dry_run=True is an option of the DataflowRunner (it '
                     'builds the job request without submitting it); add '
                     '--runner=DataflowRunner or drop --dry_run.')
  return True


def dry_run(options: beam_options.PipelineOptions,
            build: Callable[[beam.Pipeline], None]) -> Dict:
  """The Dataflow job that `build` makes, built and not submitted.

  Beam's DataflowRunner with `--dry_run=True` translates the pipeline,
  resolves what its workers get (the sdist, the requirements file) and
  returns instead of calling the service; with `--no_auth` it needs no
  credentials, so it works offline. Nothing is read past the launcher's
  checks, and nothing is written.

  Returns:
    `dry_run`, `runner`, `job_name`, `transforms` (the pipeline's top-level
    steps) and `staged` (the files workers would get).
  """
  from apache_beam.portability.api import beam_runner_api_pb2  # pylint: disable=g-import-not-at-top
  pipeline = beam.Pipeline(runner=runner_for(options), options=options)
  build(pipeline)
  job = pipeline.run().job
  components = job.proto_pipeline.components
  staged = sorted({
      beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
          dependency.role_payload).staged_name
      for environment in components.environments.values()
      for dependency in environment.dependencies})
  return dict(dry_run=True, runner='DataflowRunner', job_name=job.proto.name,
              transforms=sorted(
                  t.unique_name for t in components.transforms.values()
                  if t.unique_name and '/' not in t.unique_name and
                  not t.unique_name.startswith('ref_')),
              staged=staged)
