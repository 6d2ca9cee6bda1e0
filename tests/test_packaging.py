"""`pip install .` gives an importable package with its console commands."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import tensorflow as tf

from tests import pretrain_utils as pu
from tests import testing_utils as tu


def _tracked_files():
  out = subprocess.run(['git', 'ls-files', '-z'], cwd=pu.REPO,
                       capture_output=True, check=True).stdout
  return [f for f in out.decode().split('\0') if f]


class PipInstallTest(tu.TestCase):

  def test_readme_states_the_python_versions_the_package_declares(self):
    pyproject = open(os.path.join(pu.REPO, 'pyproject.toml')).read()
    lowest = re.search(r'requires-python = ">=3\.(\d+)"', pyproject).group(1)
    readme = open(os.path.join(pu.REPO, 'README.md')).read()
    install = readme.split('## Install', 1)[1].split('\n## ', 1)[0]
    stated = re.search(r'Python 3\.(\d+)–3\.(\d+) on Linux', install)
    self.assertIsNotNone(stated, install[:400])
    self.assertEqual(stated.group(1), lowest)
    # The upper end: the newest Python TensorFlow 2.20 has wheels for.
    self.assertEqual(stated.group(2), '13')

  def test_pip_install_into_a_fresh_venv_imports_from_elsewhere(self):
    """A copy of the tracked tree (so that the build leaves nothing in the
    checkout) is pip-installed, without dependencies and offline (no build
    isolation), into a new venv. The venv sees the tested dependencies and
    build tools through a `.pth` line (a fresh download would take minutes);
    the package itself must come from the venv, imported from another
    directory, and its console command must run."""
    work = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, work, True)
    source = os.path.join(work, 'src')
    for path in _tracked_files():
      target = os.path.join(source, path)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      if os.path.isfile(os.path.join(pu.REPO, path)):
        shutil.copy(os.path.join(pu.REPO, path), target)
    venv = os.path.join(work, 'venv')
    subprocess.run([sys.executable, '-m', 'venv', venv], check=True,
                   timeout=300)
    python = os.path.join(venv, 'bin', 'python')
    site = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
        capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, 'tested_deps.pth'), 'w') as f:
      f.write(sysconfig.get_path('purelib') + '\n')
    proc = subprocess.run(
        [python, '-m', 'pip', 'install', '-q', '--no-deps',
         '--no-build-isolation', '--no-index', source],
        capture_output=True, text=True, timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
    elsewhere = os.path.join(work, 'elsewhere')
    os.makedirs(elsewhere)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['TF_CPP_MIN_LOG_LEVEL'] = '3'
    proc = subprocess.run(
        [python, '-c', 'import official_td, official_td.masking, '
         'official_td.layers, official_td.data.beam.pipeline; '
         'print(official_td.__file__)'],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertTrue(proc.stdout.strip().startswith(site), proc.stdout)
    # The console command is the entry point (its flags, its clean errors).
    proc = subprocess.run(
        [os.path.join(venv, 'bin', 'official-td-train'), '--gin_file=x.gin'],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    pu.assert_clean_error(self, proc, '--model_dir is required.')
    self.assertEqual(sorted(os.listdir(elsewhere)), [])


if __name__ == '__main__':
  tf.test.main()
