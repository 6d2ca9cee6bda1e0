"""BUILD covers every module and test, and names only files that exist."""

import glob
import os

from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_build():
  """Evaluates BUILD with stub rules; returns {name: attributes}."""
  targets = {}

  def rule(kind):
    def add(**kwargs):
      if kwargs['name'] in targets:
        raise ValueError(f'duplicate target {kwargs["name"]}')
      targets[kwargs['name']] = dict(kwargs, kind=kind)
    return add

  def glob_(patterns):
    return sorted(p for pattern in patterns
                  for p in glob.glob(os.path.join(REPO, pattern),
                                     recursive=True))

  env = dict(
      load=lambda *a: None, package=lambda **k: None,
      licenses=lambda *a: None, requirement=lambda n: '@pip//' + n,
      glob=glob_, py_library=rule('py_library'), py_binary=rule('py_binary'),
      py_test=rule('py_test'))
  with open(os.path.join(REPO, 'BUILD')) as f:
    exec(compile(f.read(), 'BUILD', 'exec'), env)  # pylint: disable=exec-used
  return targets


class BuildTest(tu.TestCase):

  def test_every_module_and_test_has_a_target(self):
    targets = load_build()
    covered = {src for t in targets.values() for src in t.get('srcs', [])}
    files = sorted(
        os.path.relpath(p, REPO)
        for d in ('official_td', 'tests')
        for p in glob.glob(os.path.join(REPO, d, '**', '*.py'),
                           recursive=True))
    self.assertEqual([f for f in files if f not in covered], [])

  def test_sources_and_deps_exist(self):
    targets = load_build()
    for name, target in targets.items():
      for src in target.get('srcs', []):
        self.assertTrue(os.path.exists(os.path.join(REPO, src)),
                        f'{name}: {src}')
      for dep in target.get('deps', []):
        if dep.startswith(':'):
          self.assertIn(dep[1:], targets, f'{name}: {dep}')
      if target['kind'] == 'py_test':
        self.assertTrue(target['srcs'][0].startswith('tests/test_'), name)

  def test_every_test_file_is_a_py_test(self):
    targets = load_build()
    test_srcs = {t['srcs'][0] for t in targets.values()
                 if t['kind'] == 'py_test'}
    files = {os.path.relpath(p, REPO)
             for p in glob.glob(os.path.join(REPO, 'tests', 'test_*.py'))}
    self.assertEqual(files - test_srcs, set())
