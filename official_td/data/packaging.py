"""Ships `official_td` to remote Beam workers (Dataflow, Flink, Spark).

Remote workers run the pipeline's DoFns, so they must import this package.
Beam installs local code on its workers from a source distribution given with
`--extra_package` (or built by Beam from `--setup_file`). When a remote runner
is named without either (and without a custom `--sdk_container_image`), the
pipeline builds that sdist itself, with setuptools, from the installed
package: the user's Dataflow command needs no packaging step of its own. The
pinned worker dependencies travel with `--requirements_file=requirements-worker.txt`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Sequence

# Options with which the user already ships the code (or a whole image).
_SHIPPING_OPTIONS = ('--setup_file', '--extra_package', '--extra_packages',
                     '--sdk_container_image', '--worker_harness_container_image')

_SETUP_PY = '''import setuptools

setuptools.setup(
    name='official_td',
    version='0.0.0',
    description='Token dropping for efficient BERT pretraining.',
    packages=setuptools.find_packages(include=['official_td', 'official_td.*']),
    python_requires='>=3.9',
)
'''


def ships_code(beam_args: Sequence[str]) -> bool:
  """True when `beam_args` already give the workers code or an image."""
  return any(a.split('=', 1)[0] in _SHIPPING_OPTIONS for a in beam_args)


def build_sdist(dist_dir: str) -> str:
  """Builds `official_td-0.0.0.tar.gz` into local `dist_dir`; returns it.

  The package is copied (Python sources only) next to a generated
  `setup.py` and built with setuptools' `sdist` command.
  """
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  build = tempfile.mkdtemp(prefix='official_td_sdist_')
  try:
    shutil.copytree(package, os.path.join(build, 'official_td'),
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    with open(os.path.join(build, 'setup.py'), 'w') as f:
      f.write(_SETUP_PY)
    proc = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'sdist', '--formats=gztar',
         f'--dist-dir={os.path.abspath(dist_dir)}'],
        cwd=build, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError('Building the official_td sdist for the workers '
                         f'failed:\n{proc.stderr[-3000:]}')
  finally:
    shutil.rmtree(build, ignore_errors=True)
  return os.path.join(dist_dir, 'official_td-0.0.0.tar.gz')


def worker_package_args(beam_args: Sequence[str]) -> List[str]:
  """`--extra_package=<sdist>` for a remote runner that is not given code."""
  if ships_code(beam_args):
    return []
  dist_dir = tempfile.mkdtemp(prefix='official_td_dist_')
  return [f'--extra_package={build_sdist(dist_dir)}']
