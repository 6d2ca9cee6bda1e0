"""A freezing plan's code: refused before runs, checked again by the report.

The repositories here are small Git repositories made by the test (a file
per part of the layout that matters: a module a run reads, a report-only
module, a gin file, docs, the plan), so each change is one commit or one
edit away; the real checkout's own wiring is checked through the study's
entry point.
"""

import glob
import hashlib
import json
import os
import subprocess
import sys

from official_td.study import choice as choice_lib
from official_td.study import freeze
from official_td.study import preregistration
from official_td.study import runner
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu


def git(root, *args):
  return subprocess.run(
      ['git', '-C', root, '-c', 'user.name=t', '-c', 'user.email=t@t',
       '-c', 'commit.gpgsign=false'] + list(args),
      check=True, capture_output=True, text=True).stdout.strip()


def write(root, path, text):
  path = os.path.join(root, path)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


def commit(root, message='c'):
  git(root, 'add', '-A')
  git(root, 'commit', '-q', '-m', message)
  return git(root, 'rev-parse', 'HEAD')


PLAN = dict(question='q', gin_file=['gin/a.gin'], candidates={'a': []},
            budgets=[0.6], seeds=2, rule='mean_speedup', axis='budget',
            tie_margin=0.03, tie_break='a', freeze=True,
            data_command='python -m official_td.data.create_pretraining_data')


class FreezeTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    self.repo = self.create_tempdir().full_path
    git(self.repo, 'init', '-q')
    write(self.repo, 'official_td/train.py', 'steps = 1\n')
    write(self.repo, 'official_td/study/report.py', 'width = 1\n')
    write(self.repo, 'official_td/keras_hub/backbone.py', 'x = 1\n')
    write(self.repo, 'gin/a.gin', 'run.train_steps = 10\n')
    write(self.repo, 'README.md', 'readme\n')
    self.first = commit(self.repo)
    self.plan_path = os.path.join(self.repo, 'docs', 'plan.json')
    write(self.repo, 'docs/plan.json', json.dumps(PLAN))
    self.plan = preregistration.load(self.plan_path)

  def refused(self, message):
    with self.assertRaisesRegex(freeze.FreezeError, message):
      freeze.check_before_runs(self.plan, self.repo)

  def test_runs_start_only_from_the_plan_s_commit_s_code(self):
    self.assertTrue(self.plan.freeze)
    self.assertIn('create_pretraining_data', self.plan.data_command)
    # Not committed yet: no run may start.
    self.refused('is in no commit of')
    base = commit(self.repo, 'the plan')
    self.assertEqual(freeze.check_before_runs(self.plan, self.repo), base)
    # What no run reads may change, committed or not.
    write(self.repo, 'README.md', 'the results\n')
    write(self.repo, 'official_td/study/report.py', 'width = 2\n')
    write(self.repo, 'official_td/keras_hub/backbone.py', 'x = 2\n')
    commit(self.repo, 'report')
    write(self.repo, 'README.md', 'more results\n')
    self.assertEqual(freeze.check_before_runs(self.plan, self.repo), base)
    # An edit, a new file or a later commit of what a run reads: refused.
    write(self.repo, 'official_td/train.py', 'steps = 2\n')
    self.refused(r'uncommitted changes to official_td/train\.py')
    git(self.repo, 'checkout', '-q', '--', 'official_td/train.py')
    write(self.repo, 'official_td/new.py', '')
    self.refused(r'uncommitted changes to official_td/new\.py')
    os.remove(os.path.join(self.repo, 'official_td', 'new.py'))
    write(self.repo, 'gin/a.gin', 'run.train_steps = 20\n')
    after = commit(self.repo, 'gin')
    self.refused(rf'gin/a\.gin changed between the plan\'s commit '
                 rf'{base[:12]} and its {after[:12]}')
    # A plan edited after its commit is another plan, in no commit.
    git(self.repo, 'reset', '-q', '--hard', base)
    write(self.repo, 'docs/plan.json', json.dumps(dict(PLAN, seeds=3)))
    self.plan = preregistration.load(self.plan_path)
    self.refused('is in no commit of')
    # Outside a Git checkout nothing can be checked.
    elsewhere = self.create_tempdir().full_path
    with self.assertRaisesRegex(freeze.FreezeError, 'is not a git checkout'):
      freeze.check_before_runs(self.plan, elsewhere)

  def test_the_report_chooses_only_when_every_part_of_every_run_ran_it(self):
    base = commit(self.repo, 'the plan')
    write(self.repo, 'official_td/study/report.py', 'width = 2\n')
    report_fix = commit(self.repo, 'a report-only change')
    write(self.repo, 'official_td/train.py', 'steps = 2\n')
    moved = commit(self.repo, 'a change a run reads')
    out = self.create_tempdir().full_path
    good = dict(commit=base, uncommitted=[])
    # record_run appends one entry per part; another plan starts afresh.
    preregistration.record_run(out, 'a_b0.60', 42, self.plan, good)
    preregistration.record_run(out, 'a_b0.60', 42, self.plan,
                               dict(commit=report_fix, uncommitted=[]))
    runs = [('a_b0.60', 'a', 0.6, 42, []), ('baseline', 'baseline', 1.0, 42,
                                             [])]
    preregistration.record_run(out, 'baseline', 42, self.plan, good)
    records = preregistration.read_records(out, runs)
    self.assertLen(records[('a_b0.60', 42)]['code'], 2)
    summary = {'a': dict(equal_quality=[dict(
        budget=0.6, speedup=1.25, speedup_kind='interpolated',
        speedup_measured=1.2, speedup_measured_kind='interpolated')])}
    chosen = choice_lib.choose(self.plan, summary, records, root=self.repo)
    self.assertEqual(chosen['choice'], 'a')
    self.assertIn(f"Every run ran the plan's code: the 2 runs' records name "
                  f'commit(s) ', chosen['lines'][2])
    self.assertIn(f'plan\'s commit {base[:12]}', chosen['lines'][2])

    for bad, why in (
        (dict(commit=moved, uncommitted=[]),
         rf'official_td/train\.py changed between the plan\'s commit '
         rf'{base[:12]} and its {moved[:12]}'),
        (dict(commit=base, uncommitted=['gin/a.gin']),
         r'ran with uncommitted changes to gin/a\.gin'),
        (dict(commit='f' * 40, uncommitted=[]),
         r'is not in this repository\'s history'),
        (dict(commit=self.first, uncommitted=[]),
         rf'does not descend from the plan\'s {base[:12]}'),
        ({}, r'no commit recorded')):
      # A later part of one run is enough to refuse.
      spoiled = dict(records)
      spoiled[('baseline', 42)] = dict(
          records[('baseline', 42)],
          code=records[('baseline', 42)]['code'] + [bad])
      refused = choice_lib.choose(self.plan, summary, spoiled, root=self.repo)
      self.assertIsNone(refused['choice'], why)
      self.assertRegex(refused['refused'][0],
                       r'^baseline seed 42: (its commit \w+ )?' + why)
      self.assertIn('No choice stated', refused['lines'][0])
    # A record from before commits were recorded cannot show the code.
    older = dict(records)
    older[('baseline', 42)] = dict(plan_sha256=self.plan.sha256)
    self.assertIsNone(choice_lib.choose(self.plan, summary, older,
                                        root=self.repo)['choice'])
    # A plan without "freeze" checks the plan's sha256 only, as before.
    loose = preregistration.load(self._unfrozen_plan())
    self.assertFalse(loose.freeze)
    self.assertEqual(choice_lib.choose(
        loose, summary, {k: dict(plan_sha256=loose.sha256)
                         for k in older}, root=self.repo)['choice'], 'a')

  def _unfrozen_plan(self):
    path = os.path.join(self.create_tempdir().full_path, 'plan.json')
    with open(path, 'w') as f:
      json.dump({k: v for k, v in PLAN.items() if k != 'freeze'}, f)
    return path


class WhatARunReadsTest(tu.TestCase):

  def test_no_process_of_a_run_imports_a_report_only_module(self):
    # Pretraining (with the study's planning), fine-tuning and the step-time
    # benchmark, each imported as its own process imports it (each defines
    # its flags: one process each).
    repo = os.path.realpath(pu.REPO) + os.sep
    read = set()
    for modules in (['official_td.train', 'official_td.study.plan',
                     'official_td.study.runner', 'official_td.study.unigram',
                     'official_td.study.preregistration'],
                    ['official_td.finetune'],
                    ['official_td.benchmarks.step_time']):
      code = (f'import sys, {", ".join(modules)}\n'
              'print("\\n".join(getattr(m, "__file__", None) or "" '
              'for m in list(sys.modules.values())))')
      proc = subprocess.run([sys.executable, '-c', code], cwd=pu.REPO,
                            env=pu.env(), capture_output=True, text=True)
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
      read |= {os.path.relpath(os.path.realpath(f), repo)
               for f in proc.stdout.splitlines()
               if os.path.realpath(f).startswith(repo + 'official_td')}
    self.assertGreater(len(read), 40, read)  # the trainers' modules.
    self.assertEqual(sorted(f for f in read if not freeze.is_read(f)), [])
    # Each entry of REPORT_ONLY exists (a renamed module is caught here).
    for path in freeze.REPORT_ONLY:
      self.assertTrue(os.path.exists(os.path.join(pu.REPO, path)), path)
    self.assertFalse(freeze.is_read('official_td/study/report.py'))
    self.assertTrue(freeze.is_read('official_td/study/plan.py'))
    self.assertTrue(freeze.is_read('gin/experiments/scale_study.gin'))
    self.assertFalse(freeze.is_read('docs/results.md'))

  def test_the_study_refuses_a_freezing_plan_outside_any_commit(self):
    root = self.create_tempdir().full_path
    plan = os.path.join(root, 'plan.json')
    with open(plan, 'w') as f:
      json.dump(dict(PLAN, gin_file=['gin/experiments/ci_tiny.gin']), f)
    out = os.path.join(root, 'study')
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.study', f'--plan={plan}',
         f'--output_dir={out}'], cwd=pu.REPO, env=pu.env(),
        capture_output=True, text=True, timeout=300)
    pu.assert_clean_error(self, proc, 'is in no commit of')
    self.assertFalse(os.path.exists(out))


class KeptRecordsTest(tu.TestCase):

  def test_corpus_c_s_kept_runs_ran_under_its_plan_and_its_code(self):
    """docs/studies/scale_pick_c, the study kept part by part: each kept
    run has its pretraining's and fine-tuning's results and a plan record
    with the plan file's sha256 (hashed here), and every code entry of every
    record passes the report's check against this repository's history
    (descends from the plan's commit, nothing a run reads changed)."""
    kept = os.path.join(pu.REPO, 'docs', 'studies', 'scale_pick_c')
    plan_path = os.path.join(pu.REPO, 'docs', 'studies', 'plans',
                             'scale_pick_c.json')
    with open(plan_path, 'rb') as f:
      sha = hashlib.sha256(f.read()).hexdigest()
    records = {}
    for path in sorted(glob.glob(os.path.join(kept, 'plan_records', '*',
                                              'seed*.json'))):
      name = os.path.basename(os.path.dirname(path))
      seed = int(os.path.basename(path)[len('seed'):-len('.json')])
      # Finished as the study counts it: pretraining and fine-tuning.
      self.assertTrue(runner.is_finished(kept, name, seed, True), path)
      with open(path) as f:
        records[(name, seed)] = json.load(f)
    self.assertNotEmpty(records)
    self.assertLen(glob.glob(os.path.join(kept, 'runs', '*', 'seed*')),
                   len(records))
    self.assertEqual({r['plan_sha256'] for r in records.values()}, {sha})
    self.assertTrue(all(r['code'] for r in records.values()))
    base, problems = freeze.record_problems(
        preregistration.load(plan_path), records, pu.REPO)
    self.assertEqual(problems, [])
    self.assertIsNotNone(base)
