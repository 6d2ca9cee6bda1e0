"""Tests of the budgeted study (official_td.study), end to end."""

import collections
import csv
import glob
import hashlib
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import tensorflow as tf

from official_td import keep
from official_td.study import choice as choice_lib
from official_td.study import events
from official_td.study import freeze
from official_td.study import plan
from official_td.study import preregistration
from official_td.study import report as report_lib
from official_td.study import runner
from official_td.study import speedup as speedup_lib
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu


class PlanTest(tu.TestCase):

  def test_budget_steps_follow_the_measured_ratio(self):
    # Half the baseline's time at 0.8 of its step time: 0.625 of its steps.
    self.assertEqual(plan.budget_steps(0.5, 0.8, 1000), 625)
    self.assertEqual(plan.budget_steps(0.75, 0.75, 333), 333)
    self.assertEqual(plan.budget_steps(0.001, 0.9, 100), 1)

  def test_schedule_ratio_weights_phases_by_their_steps(self):
    # 80% of the steps at 0.6 s, 20% full (plain, 1.0 s): 0.68.
    self.assertAlmostEqual(
        keep.schedule_ratio(((0.0, 32), (0.8, 128)), {32: 0.6}, 1.0),
        0.68)

  def test_plan_scales_steps_and_warmup(self):
    ratios = {'td': dict(schedule_ratio=0.8)}
    runs = plan.plan([('td', ['encoder.keep_k = 8'])], [0.5], [7], ratios,
                        baseline_steps=1000, warmup_steps=100,
                        evals_per_run=4)
    # Interleaved by budget: the baseline and the arm at 0.5 back to back.
    self.assertEqual([r[0] for r in runs],
                     ['baseline_b0.50', 'td_b0.50', 'baseline'])
    short_base, td, base = runs
    self.assertIn('run.train_steps = 1000', base[4])
    self.assertIn('encoder.token_drop = False', base[4])
    # The baseline at the arm's budget: half its steps, its warmup scaled,
    # its schedule decayed within them.
    self.assertEqual(short_base[1:3], ('baseline', 0.5))
    self.assertIn('run.train_steps = 500', short_base[4])
    self.assertIn('optimizer.warmup_steps = 50', short_base[4])
    self.assertIn('encoder.token_drop = False', short_base[4])
    self.assertIn('run.train_steps = 625', td[4])
    self.assertIn('optimizer.warmup_steps = 62', td[4])
    self.assertIn('run.eval_interval = 157', td[4])
    self.assertIn('encoder.keep_k = 8', td[4])
    self.assertIn('run.seed = 7', td[4])

  def test_plan_trains_baseline_only_budgets_for_the_baseline_alone(self):
    ratios = {'td': dict(schedule_ratio=0.8)}
    runs = plan.plan([('td', [])], [0.5], [7, 8], ratios, baseline_steps=1000,
                     warmup_steps=100, evals_per_run=4,
                     baseline_budgets=[1.25])
    self.assertEqual([(r[0], r[3]) for r in runs], [
        (name, seed) for seed in (7, 8) for name in (
            'baseline_b0.50', 'td_b0.50', 'baseline', 'baseline_b1.25')])
    longer = runs[3]
    self.assertEqual(longer[1:3], ('baseline', 1.25))
    self.assertIn('run.train_steps = 1250', longer[4])
    self.assertIn('optimizer.warmup_steps = 125', longer[4])
    self.assertIn('encoder.token_drop = False', longer[4])
    # Without them, the plan of a study that never asked for any.
    self.assertEqual(
        [r[0] for r in plan.plan([('td', [])], [0.5], [7], ratios, 1000, 100,
                                 4)],
        ['baseline_b0.50', 'td_b0.50', 'baseline'])

  def test_baseline_budgets_measure_a_speedup_beyond_budget_one(self):
    # The arm at 1.0 (4.5) ends below the baseline's 1.0 (4.6): with the
    # baseline's curve ending there the speedup is only "> 1.00×"; with the
    # baseline at 1.25 too (4.4) it is measured: half-way, 1.125×.
    def row(arm, budget, loss):
      return dict(run=plan.run_name(arm, budget), arm=arm, budget=budget,
                  seed=42, eval_mlm_loss=loss, train_seconds=budget * 100,
                  steps=int(budget * 100), eval_mlm_accuracy=0.1,
                  finetune_accuracy=None)
    rows = [row('baseline', 0.5, 5.0), row('baseline', 1.0, 4.6),
            row('td', 1.0, 4.5)]
    ratios = {'td': dict(schedule_ratio=0.8, step_s={}, plain_step_s=1.0)}
    unigram = dict(unigram_nats=6.0, smoothing=0.5, eval_tokens=10,
                   uniform_nats=7.0)
    out = self.get_temp_dir()
    bounded = report_lib.summarize(out, rows, ['td'], ratios, unigram)
    (entry,) = bounded['arms']['td']['equal_quality']
    self.assertEqual((entry['speedup'], entry['speedup_kind']),
                     (1.0, 'above'))
    measured = report_lib.summarize(out, rows + [row('baseline', 1.25, 4.4)],
                                    ['td'], ratios, unigram)
    (entry,) = measured['arms']['td']['equal_quality']
    self.assertEqual(entry['speedup_kind'], 'interpolated')
    self.assertAlmostEqual(entry['speedup'], 1.125)
    self.assertEqual(entry['per_seed_text'], '1.12×')
    # The break-even still reads the full baseline (1.0): the arm's one
    # budget reaches it.
    self.assertEqual(measured['arms']['td']['break_even_kind'], 'at_most')
    self.assertIn('| baseline | 1.25 | 125 | 1 |',
                  open(os.path.join(out, 'study.md')).read())

  def test_baseline_budgets_may_be_added_to_a_study_and_nothing_else(self):
    out = os.path.join(self.get_temp_dir(), 'study')
    settings = dict(budgets=[0.6, 0.8], seeds=3)
    runner.check_settings(out, settings)
    runner.check_settings(out, dict(settings))  # the same: resumes.
    added = dict(settings, baseline_budgets=[1.25])
    # Not by a report (it changes nothing).
    with self.assertRaisesRegex(ValueError, r'other settings \(baseline_'
                                r'budgets differ\)'):
      runner.check_settings(out, added, extend=False)
    self.assertEqual(json.load(open(os.path.join(out, 'study.json'))),
                     settings)
    runner.check_settings(out, added)
    self.assertEqual(json.load(open(os.path.join(out, 'study.json'))), added)
    for other in (settings,  # removes one
                  dict(added, baseline_budgets=[1.5]),  # replaces one
                  dict(added, seeds=4, baseline_budgets=[1.25, 1.5])):
      with self.assertRaisesRegex(ValueError, 'holds a study with other '
                                  'settings'):
        runner.check_settings(out, other)
    self.assertEqual(json.load(open(os.path.join(out, 'study.json'))), added)

  def test_break_even_interpolates_between_budgets(self):
    budgets = [0.6, 0.7, 0.8]
    self.assertAlmostEqual(
        speedup_lib.break_even(budgets, [5.0, 4.6, 4.2], 4.4)[0], 0.75)
    self.assertEqual(speedup_lib.break_even(budgets, [4.0, 3.9, 3.8], 4.4),
                     (0.6, 'at_most'))
    self.assertEqual(speedup_lib.break_even(budgets, [5.0, 4.9, 4.8], 4.4),
                     (None, 'above'))
    # Unsorted input, and the smallest crossing wins.
    self.assertAlmostEqual(
        speedup_lib.break_even([0.8, 0.6, 0.7], [4.0, 5.0, 4.5], 4.75)[0], 0.65)

  def test_speedup_at_equal_quality_reads_the_baselines_curve(self):
    budgets, losses = [0.5, 1.0, 1.5], [5.0, 4.6, 4.4]
    # The arm at 0.5 reaches 4.8: the baseline needs 0.75 of its time.
    self.assertEqual(speedup_lib.equal_quality_speedup(budgets, losses, 4.8,
                                                       0.5),
                     (1.5, 'interpolated'))
    # Worse than the shortest baseline: at most 0.5 / 0.5.
    self.assertEqual(speedup_lib.equal_quality_speedup(budgets, losses, 5.2,
                                                       0.5), (1.0, 'at_most'))
    # Better than the longest: more than 1.5 / 0.5.
    self.assertEqual(speedup_lib.equal_quality_speedup(budgets, losses, 4.3,
                                                       0.5), (3.0, 'above'))
    self.assertEqual(speedup_lib.format_speedup(3.0, 'above'), '> 3.00×')

  def test_speedup_per_seed_reads_each_seeds_own_baseline(self):
    # Seed 1's baseline: 5.0 at 0.5, 4.6 at 1.0; seed 2's: 5.2, 4.4. The arm
    # at 0.5: 4.8 on seed 1 (half-way on its curve: 0.75 / 0.5 = 1.5×), 5.0
    # on seed 2 (a quarter of the way: 0.625 / 0.5 = 1.25×). On the mean
    # curve (5.1, 4.5) the mean arm loss 4.9 lies at a third: 1.33×.
    def row(arm, budget, seed, loss):
      return dict(arm=arm, budget=budget, seed=seed, eval_mlm_loss=loss,
                  train_seconds=budget * 100, steps=int(budget * 100),
                  eval_mlm_accuracy=0.1, finetune_accuracy=None)
    rows = [row('baseline', 0.5, 1, 5.0), row('baseline', 1.0, 1, 4.6),
            row('baseline', 0.5, 2, 5.2), row('baseline', 1.0, 2, 4.4),
            row('td', 0.5, 1, 4.8), row('td', 0.5, 2, 5.0)]
    table = report_lib.group_table(rows, ['td'])
    base_curve = [t for t in table if t['arm'] == 'baseline']
    (entry,) = report_lib.same_budget('td', table, base_curve, rows)
    self.assertAlmostEqual(entry['speedup'], (0.5 + 0.5 / 3) / 0.5)
    self.assertEqual([p['seed'] for p in entry['per_seed']], [1, 2])
    self.assertAlmostEqual(entry['per_seed'][0]['speedup'], 1.5)
    self.assertAlmostEqual(entry['per_seed'][1]['speedup'], 1.25)
    self.assertEqual(entry['per_seed_text'], '1.50×, 1.25×')
    lines = report_lib.same_budget_lines({'td': dict(equal_quality=[entry])},
                                         ['td'])
    self.assertIn('| 1.33× (per seed: 1.50×, 1.25×) |', '\n'.join(lines))

  def test_measured_axis_places_runs_at_their_own_seconds(self):
    """The speedup at equal quality on measured time reads the runs' seconds
    (train loops and their compilation), not their nominal budgets: here
    seed 2's short baseline ran slow (60 s for half its steps) and the arm
    fast."""
    def row(arm, budget, seed, loss, seconds):
      return dict(arm=arm, budget=budget, seed=seed, eval_mlm_loss=loss,
                  train_seconds=seconds, steps=int(budget * 100),
                  eval_mlm_accuracy=0.1, finetune_accuracy=None)
    rows = [row('baseline', 0.5, 1, 5.0, 50), row('baseline', 1.0, 1, 4.6, 100),
            row('baseline', 0.5, 2, 5.2, 60), row('baseline', 1.0, 2, 4.4, 100),
            row('td', 0.5, 1, 4.8, 45), row('td', 0.5, 2, 5.0, 40)]
    table = report_lib.group_table(rows, ['td'])
    base_curve = [t for t in table if t['arm'] == 'baseline']
    (entry,) = report_lib.same_budget('td', table, base_curve, rows)
    # Seed 1: curve (0.5, 5.0), (1.0, 4.6); the arm at 0.45 s-fraction
    # reaches 4.8, which the baseline reaches at 0.75: 0.75 / 0.45.
    # Seed 2: curve (0.6, 5.2), (1.0, 4.4); the arm at 0.40 reaches 5.0, the
    # baseline at 0.7: 0.7 / 0.4.
    self.assertEqual([p['seed'] for p in entry['per_seed_measured']], [1, 2])
    self.assertAlmostEqual(entry['per_seed_measured'][0]['speedup'],
                           0.75 / 0.45)
    self.assertAlmostEqual(entry['per_seed_measured'][1]['speedup'],
                           0.7 / 0.4)
    # The mean curve: (0.55, 5.1), (1.0, 4.5); the arm at 0.425 and 4.9,
    # reached at 0.55 + 0.2 / 0.6 * 0.45 = 0.70.
    self.assertAlmostEqual(entry['speedup_measured'], 0.70 / 0.425)
    self.assertAlmostEqual(entry['speedup'], (0.5 + 0.5 / 3) / 0.5)  # nominal
    # Paired differences, arm minus baseline at the same budget and seed.
    paired = entry['paired_difference']
    self.assertEqual([(d['seed'], round(d['difference'], 6))
                      for d in paired['per_seed']], [(1, -0.2), (2, -0.2)])
    self.assertAlmostEqual(paired['mean'], -0.2)
    lines = '\n'.join(report_lib.same_budget_lines(
        {'td': dict(equal_quality=[entry])}, ['td']))
    self.assertIn('| -0.2000 ± 0.0000 |', lines)
    self.assertIn('| 1.65× (per seed: 1.67×, 1.75×) |', lines)
    # Both drifts are warned of: the runs' ratio (0.81 of the baseline's
    # seconds per step) against a benchmark's 0.9, and the baseline's
    # seconds per step spread 1.0-1.2 (19%).
    entries = {'td': dict(
        schedule_ratio=0.9, measured_ratio=speedup_lib.measured_ratio(rows,
                                                                      'td'))}
    self.assertAlmostEqual(entries['td']['measured_ratio'], 0.85 / 1.05)
    warnings = report_lib.drift_lines(rows, ['td'], entries)
    self.assertIn("td's runs took 0.810 of the baseline's seconds per step, "
                  'the benchmark that set its steps 0.900 (-0.090)',
                  warnings[0])
    self.assertIn('vary by 19.0% across its runs', warnings[1])
    entries['td']['schedule_ratio'] = 0.82
    steady = [dict(r, train_seconds=r['budget'] * 100) if r['arm'] ==
              'baseline' else r for r in rows]
    self.assertEqual(report_lib.drift_lines(steady, ['td'], entries), [])
    # A schedule's compilations count on the measured axis: 10 s more for
    # seed 1's arm puts it at 0.55, where 0.75 / 0.55 is its speedup.
    compiled = [dict(r, compile_seconds=10.0) if r['arm'] == 'td' and
                r['seed'] == 1 else r for r in rows]
    table = report_lib.group_table(compiled, ['td'])
    (entry,) = report_lib.same_budget(
        'td', table, [t for t in table if t['arm'] == 'baseline'], compiled)
    self.assertAlmostEqual(entry['per_seed_measured'][0]['speedup'],
                           0.75 / 0.55)

  def test_bad_flags_raise(self):
    with self.assertRaisesRegex(ValueError, 'distinct fractions'):
      plan.parse_budgets(['0.5', '0.5'])
    with self.assertRaisesRegex(ValueError, 'fractions of the baseline'):
      plan.parse_budgets(['half'])
    with self.assertRaisesRegex(ValueError, 'not "baseline"'):
      plan.parse_arms(['baseline=encoder.keep_k = 8'])
    self.assertEqual(plan.parse_baseline_budgets([], [0.6]), [])
    self.assertEqual(plan.parse_baseline_budgets(['1.5', '1.25'], [0.6]),
                     [1.25, 1.5])
    with self.assertRaisesRegex(ValueError, r'--baseline_budgets=0.6,1: the '
                                r'baseline trains 0.6, 1 already'):
      plan.parse_baseline_budgets(['0.6', '1'], [0.6, 0.8])
    with self.assertRaisesRegex(ValueError, 'only the baseline trains'):
      plan.parse_baseline_budgets(['3'], [0.6])
    self.assertEqual(
        plan.parse_arms(['k8=encoder.keep_k = 8; run.seed = 1', 'plain']),
        [('k8', ['encoder.keep_k = 8', 'run.seed = 1']), ('plain', [])])


def recompute_break_even(rows, arm):
  """From study.csv alone: (break-even, kind), independent of compare."""
  base = statistics.fmean(float(r['eval_mlm_loss']) for r in rows
                          if r['arm'] == 'baseline' and
                          float(r['budget']) == 1.0)
  by_budget = {}
  for r in rows:
    if r['arm'] == arm:
      by_budget.setdefault(float(r['budget']), []).append(
          float(r['eval_mlm_loss']))
  curve = sorted((b, statistics.fmean(v)) for b, v in by_budget.items())
  previous = None
  for budget, loss in curve:
    if loss <= base:
      if previous is None:
        return budget, 'at_most'
      b0, l0 = previous
      return b0 + (budget - b0) * (l0 - base) / (l0 - loss), 'interpolated'
    previous = (budget, loss)
  return None, 'above'


def _reach(curve, target):
  """The first position on `curve` ((position, loss), ascending) whose loss
  is at or below `target`, linear between it and the point before; None
  when no point reaches it."""
  for i, (x, loss) in enumerate(curve):
    if loss <= target:
      if i == 0:
        return x
      x0, l0 = curve[i - 1]
      return x0 + (l0 - target) / (l0 - loss) * (x - x0)
  return None


def recompute_equal_quality(rows, arm):
  """From study.csv's rows alone, independent of the report's code: per
  budget of `arm`, the speedup at equal quality on the budget axis (the mean
  curve and each seed's own), on the measured axis (every run placed at its
  train-loop plus compile seconds over its seed's full baseline's; the mean
  curve at the mean seconds over the full baseline's mean) and the paired
  arm-minus-baseline loss per seed."""
  def loss(r):
    return float(r['eval_mlm_loss'])
  def paid(r):
    return float(r['train_seconds']) + float(r['compile_seconds'] or 0)
  def pick(name, budget=None, seed=None):
    return [r for r in rows if r['arm'] == name and
            (budget is None or float(r['budget']) == budget) and
            (seed is None or int(r['seed']) == seed)]
  def speedup(curve, target, at):
    reached = _reach(sorted(curve), target)
    return (max(x for x, _ in curve) if reached is None else reached) / at
  base_budgets = sorted({float(r['budget']) for r in pick('baseline')})
  full_mean = statistics.fmean(paid(r) for r in pick('baseline', 1.0))
  out = {}
  for budget in sorted({float(r['budget']) for r in pick(arm)}):
    mean_curve = [(b, statistics.fmean(loss(r) for r in pick('baseline', b)))
                  for b in base_budgets]
    measured_curve = [(statistics.fmean(paid(r) for r in pick('baseline', b))
                       / full_mean, l) for b, l in mean_curve]
    arm_rows = pick(arm, budget)
    arm_loss = statistics.fmean(loss(r) for r in arm_rows)
    entry = dict(
        speedup=speedup(mean_curve, arm_loss, budget),
        measured=speedup(measured_curve, arm_loss, statistics.fmean(
            paid(r) for r in arm_rows) / full_mean),
        per_seed={}, measured_per_seed={}, paired={})
    for r in arm_rows:
      seed = int(r['seed'])
      base = {b: pick('baseline', b, seed)[0] for b in base_budgets}
      full = paid(base[1.0])
      entry['per_seed'][seed] = speedup(
          [(b, loss(x)) for b, x in base.items()], loss(r), budget)
      entry['measured_per_seed'][seed] = speedup(
          [(paid(x) / full, loss(x)) for x in base.values()], loss(r),
          paid(r) / full)
      if budget in base:
        entry['paired'][seed] = loss(r) - loss(base[budget])
    out[budget] = entry
  return out


def assert_equal_quality_recomputes(test, rows, summary, arm):
  """The report's speedups on both axes and its paired differences equal
  `recompute_equal_quality` on its own study.csv."""
  expected = recompute_equal_quality(rows, arm)
  entries = summary['arms'][arm]['equal_quality']
  test.assertEqual(sorted(e['budget'] for e in entries), sorted(expected))
  for e in entries:
    want = expected[e['budget']]
    test.assertAlmostEqual(e['speedup'], want['speedup'], places=6, msg=e)
    test.assertAlmostEqual(e['speedup_measured'], want['measured'], places=6,
                           msg=e)
    for key, got in (('per_seed', e['per_seed']),
                     ('measured_per_seed', e['per_seed_measured'])):
      test.assertEqual(sorted(p['seed'] for p in got), sorted(want[key]))
      for p in got:
        test.assertAlmostEqual(p['speedup'], want[key][p['seed']], places=6,
                               msg=(key, p))
    paired = {d['seed']: d['difference']
              for d in e['paired_difference']['per_seed']}
    test.assertEqual(sorted(paired), sorted(want['paired']))
    for seed, difference in paired.items():
      test.assertAlmostEqual(difference, want['paired'][seed], places=6)


class PreregistrationTest(tu.TestCase):
  """The plan's rule and its refusals, on hand-made summaries."""

  def write_plan(self, **changes):
    plan = dict(question='which schedule', gin_file=['gin/experiments/demo.gin'],
                candidates={'a': ['encoder.keep_k = 64'],
                            'b': ['encoder.keep_k = 32']},
                others={'rival': ["encoder.drop_mode = 'random_ltd'"]},
                budgets=[0.6, 0.8], seeds=2, rule='mean_speedup',
                axis='measured', tie_margin=0.03, tie_break='b')
    plan.update(changes)
    path = os.path.join(self.get_temp_dir(), 'plan.json')
    with open(path, 'w') as f:
      json.dump({k: v for k, v in plan.items() if v is not None}, f)
    return path

  @staticmethod
  def summary(measured, nominal):
    """Per arm, per budget (0.6, 0.8): the report's equal-quality entries."""
    return {arm: dict(equal_quality=[
        dict(budget=b, speedup=n, speedup_kind='interpolated',
             speedup_measured=m, speedup_measured_kind='interpolated')
        for b, m, n in zip((0.6, 0.8), measured[arm], nominal[arm])])
                 for arm in measured}

  def test_rule_picks_the_best_mean_on_its_axis_and_breaks_ties(self):
    measured = dict(a=[1.30, 1.34], b=[1.29, 1.31], rival=[2.0, 2.0])
    nominal = dict(a=[1.0, 1.0], b=[1.5, 1.5], rival=[2.0, 2.0])
    runs = {('a_b0.60', 42): None}
    for margin, axis, expected in ((0.01, 'measured', 'a'),
                                   (0.03, 'measured', 'b'),
                                   (0.01, 'budget', 'b')):
      plan_ = preregistration.load(self.write_plan(tie_margin=margin,
                                                   axis=axis))
      records = {k: dict(plan_sha256=plan_.sha256) for k in runs}
      choice = choice_lib.choose(plan_, self.summary(measured, nominal),
                                 records)
      self.assertEqual(choice['choice'], expected, (margin, axis))
      # The rival is reported, never chosen.
      self.assertEqual(sorted(choice['scores']), ['a', 'b'])
    self.assertAlmostEqual(choice['scores']['a'], 1.0)
    self.assertEqual([n for n, _ in plan_.arms], ['a', 'b', 'rival'])

  def test_runs_of_another_plan_or_pending_runs_get_no_choice(self):
    plan_ = preregistration.load(self.write_plan())
    summary = self.summary(dict(a=[1.3, 1.3], b=[1.2, 1.2]),
                           dict(a=[1.3, 1.3], b=[1.2, 1.2]))
    records = {('a_b0.60', 42): dict(plan_sha256=plan_.sha256),
               ('b_b0.60', 43): dict(plan_sha256='f' * 64),
               ('baseline', 43): None}
    choice = choice_lib.choose(plan_, summary, records)
    self.assertIsNone(choice['choice'])
    self.assertEqual(choice['refused'], ['b_b0.60 seed 43', 'baseline seed 43'])
    self.assertIn('No choice stated', choice['lines'][0])
    pending = choice_lib.choose(
        plan_, summary, {('a_b0.60', 42): dict(plan_sha256=plan_.sha256)},
        ['a_b0.80 seed 43'])
    self.assertIsNone(pending['choice'])
    # An edit of one byte is another plan.
    with open(plan_.path, 'a') as f:
      f.write(' ')
    self.assertNotEqual(preregistration.load(plan_.path).sha256, plan_.sha256)

  def test_the_committed_plans_load(self):
    for path in glob.glob(os.path.join(pu.REPO, 'docs', 'studies', 'plans',
                                       '*.json')):
      plan_ = preregistration.load(path)
      self.assertIn(plan_.tie_break, dict(plan_.candidates), path)
      self.assertGreaterEqual(plan_.seeds, 2, path)

  def test_bad_plans_and_flags_beside_a_plan_are_refused(self):
    for changes, message in (
        (dict(tie_break='rival'), '"tie_break" names a candidate'),
        (dict(axis='steps'), '"axis" is one of'),
        (dict(rule=None), "missing ['rule']"),
        (dict(seeds=0), '"seeds" is a number of seeds'),
        (dict(others={'a': []}), 'both a candidate and another arm')):
      with self.assertRaisesRegex(ValueError, re.escape(message)):
        preregistration.load(self.write_plan(**changes))
    plan_ = preregistration.load(self.write_plan())
    with self.assertRaisesRegex(ValueError, 'drop --arm, --seeds'):
      preregistration.settings_overrides(plan_, ['arm', 'seeds', 'output_dir'])
    with self.assertRaisesRegex(ValueError, '"finetune_bindings" is a list'):
      preregistration.load(self.write_plan(finetune_bindings='x = 1'))

  def test_the_plan_fixes_the_finetuning_task(self):
    default = preregistration.settings_overrides(
        preregistration.load(self.write_plan()), ['output_dir'])
    self.assertEqual((default['finetune_gin'], default['finetune_bindings'],
                      default['embedded_task']),
                     ('gin/finetune/embedded_source.gin', [], True))
    plan_ = preregistration.load(self.write_plan(
        finetune_gin='gin/finetune/email_spam.gin',
        finetune_bindings=['finetune.epochs = 2'], embedded_task=False))
    fixed = preregistration.settings_overrides(plan_, ['output_dir'])
    self.assertEqual((fixed['finetune_gin'], fixed['finetune_bindings'],
                      fixed['embedded_task']),
                     ('gin/finetune/email_spam.gin', ['finetune.epochs = 2'],
                      False))
    # The task's flags beside a plan would change what the plan fixed.
    for flag in ('finetune_gin', 'finetune_bindings', 'embedded_task'):
      with self.assertRaisesRegex(ValueError, f'drop --{flag}'):
        preregistration.settings_overrides(plan_, [flag])


class StudyEndToEndTest(pu.TinyDataTestCase):

  def command(self, out, budgets=(0.5, 1.5), baseline_budgets=()):
    """The study under a plan (written here, before any run): the arm, the
    budgets, two seeds, the config; the held-out MLM loss only (the README's
    study command runs the fine-tuning of a study's runs)."""
    plan = os.path.join(self.root, f'plan_{len(budgets)}_'
                        f'{len(baseline_budgets)}.json')
    with open(plan, 'w') as f:
      json.dump(dict(
          question='does token dropping reach the baseline sooner',
          gin_file=['gin/experiments/ci_tiny.gin'],
          gin_bindings=list(self.bindings), candidates={'token_drop': []},
          budgets=list(budgets), seeds=2, finetune=False,
          finetune_gin='gin/finetune/email_spam.gin', embedded_task=False,
          baseline_budgets=list(baseline_budgets),
          rule='mean_speedup', axis='measured', tie_margin=0.03,
          tie_break='token_drop'), f)
    return [sys.executable, '-m', 'official_td.study', f'--plan={plan}',
            f'--output_dir={out}', '--evals_per_run=2',
            '--benchmark_steps=5', '--cpu_replicas=2']

  def test_study_runs_resumes_and_reports_a_recomputable_break_even(self):
    out = os.path.join(self.root, 'study')
    # Interrupt the study (and its runs: the whole process group) in the
    # middle of its run of token_drop at budget 1.5 (~60
    # steps), once that run has written its first checkpoint (at step 10).
    killed = os.path.join(out, 'runs', 'token_drop_b1.50', 'seed42')
    # The study's runs are forked by a relay of its own (its shim is their
    # python): the kill takes the study and the shims, the relay the runs
    # they asked for, and no run is left once the relay is closed.
    with entry_points.Relay() as relay:
      proc = entry_points.Popen(self.command(out), cwd=pu.REPO, env=pu.env(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True, relay=relay)
      deadline = time.time() + 600
      while (not tf.train.latest_checkpoint(killed) and proc.poll() is None
             and time.time() < deadline):
        time.sleep(0.01)  # polling interval, not synchronization.
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
    killed_at = tf.train.latest_checkpoint(killed)
    self.assertIsNotNone(killed_at, 'the third run never checkpointed')
    self.assertFalse(os.path.exists(os.path.join(killed, 'results.json')),
                     'the third run finished before it could be killed')
    self.assertFalse(os.path.exists(os.path.join(out, 'study.csv')))
    finished = {}
    for root, _, files in os.walk(os.path.join(out, 'runs')):
      if 'results.json' in files:
        path = os.path.join(root, 'results.json')
        finished[path] = open(path, 'rb').read()

    # A report before any seed has finished all its runs says so, and
    # changes nothing.
    early = entry_points.run(self.command(out) + ['--report_only'],
                           cwd=pu.REPO, env=pu.env(), capture_output=True,
                           text=True, timeout=300)
    pu.assert_clean_error(self, early, 'No seed of the study in')
    self.assertIn('6 of 10 runs pending, the first: token_drop_b1.50 seed '
                  '42', early.stderr)
    self.assertFalse(os.path.exists(os.path.join(out, 'study.csv')))

    # A different study in the same directory is refused before any work.
    other = entry_points.run(self.command(out, budgets=(0.6,)), cwd=pu.REPO,
                           env=pu.env(), capture_output=True, text=True,
                           timeout=300)
    pu.assert_clean_error(
        self, other, 'holds a study with other settings (budgets, plan, '
        'plan_sha256 differ)')

    # The same command finishes the study without redoing finished runs.
    rerun = entry_points.run(self.command(out), cwd=pu.REPO, env=pu.env(),
                             capture_output=True, text=True, timeout=1200,
                             relay=entry_points.shared_relay())
    self.assertEqual(rerun.returncode, 0, rerun.stdout[-3000:] +
                     rerun.stderr[-5000:])
    for path, content in finished.items():
      self.assertEqual(open(path, 'rb').read(), content, path)
      self.assertIn(f'[finished] {os.path.dirname(path)}', rerun.stdout)
      self.assertNotIn(f'--model_dir={os.path.dirname(path)} ', rerun.stdout)
    # The baselines at 1.0, 0.5 and 1.5, and the arm at 0.5.
    self.assertLen(finished, 4)
    self.assertNotIn('official_td.benchmarks', rerun.stdout)  # stored.
    # The killed run resumed from its checkpoint instead of starting over.
    resumed = json.load(open(os.path.join(killed, 'results.json')))
    self.assertGreater(resumed['resumed_from_step'], 0)
    self.assertEqual(resumed['resumed_from_step'],
                     int(killed_at.rsplit('-', 1)[1]))

    with open(os.path.join(out, 'study.csv')) as f:
      rows = list(csv.DictReader(f))
    # (the baseline at 1.0 and at both budgets + the arm at both) x 2 seeds.
    self.assertLen(rows, 10)
    # Steps from the side-by-side step times, stored by the study.
    timing = json.load(open(os.path.join(out, 'step_times',
                                         'token_drop.json')))
    ratio = keep.schedule_ratio(
        [tuple(p) for p in timing['keep_phases']],
        {int(k): v for k, v in timing['step_s'].items()},
        timing['plain_step_s'])
    self.assertAlmostEqual(ratio, timing['schedule_ratio'], places=3)
    # Beside it the report prints how far the benchmark's rounds (5) moved.
    rounds = timing['schedule_ratio_rounds']
    self.assertLen(rounds, 5)
    self.assertIn(f'{timing["schedule_ratio"]:.3f} (benchmark; its rounds '
                  f'{min(rounds):.3f}–{max(rounds):.3f})',
                  open(os.path.join(out, 'study.md')).read())
    # The step times were measured on the same two replicas.
    self.assertEqual((timing['strategy'], timing['replicas']),
                     ('MirroredStrategy', 2))
    for r in rows:
      budget = float(r['budget'])
      expected = round(budget * 40) if r['arm'] == 'baseline' else round(
          budget * 40 / timing['schedule_ratio'])
      self.assertEqual(int(r['steps']), expected, r)
      results = json.load(open(os.path.join(
          out, 'runs', r['run'], f'seed{r["seed"]}', 'results.json')))
      self.assertEqual(results['step'], expected)
      # Every run on the devices the study was given: two replicas.
      self.assertEqual((results['strategy'], results['replicas']),
                       ('MirroredStrategy', 2), r)
      self.assertAlmostEqual(float(r['eval_mlm_loss']),
                             results['eval_mlm_loss'], places=4)
    self.assertEqual(sorted({r['seed'] for r in rows}), ['42', '43'])
    # Without fine-tuning: no fine-tuning run, an empty column.
    self.assertFalse(os.path.exists(os.path.join(out, 'finetune')))
    self.assertNotIn('official_td.finetune', rerun.stdout)
    self.assertEqual({r['finetune_accuracy'] for r in rows}, {''})
    # The study's settings are the plan's, its fine-tuning task included.
    settings = json.load(open(os.path.join(out, 'study.json')))
    self.assertEqual((settings['finetune_gin'], settings['embedded_task']),
                     ('gin/finetune/email_spam.gin', False))

    value, kind = recompute_break_even(rows, 'token_drop')
    # 1.5 of the baseline's time trains ~60 steps against its 40: the
    # break-even lies between the two budgets.
    self.assertEqual(kind, 'interpolated')
    summary = json.load(open(os.path.join(out, 'study_summary.json')))
    arm = summary['arms']['token_drop']
    self.assertEqual(arm['break_even_kind'], kind)
    self.assertAlmostEqual(arm['break_even'], value, places=3)
    self.assertLen(arm['per_seed'], 2)
    self.assertIn(arm['break_even_measured_time_kind'],
                  ('interpolated', 'at_most', 'above'))
    # The speedup at equal quality on both axes and the paired differences,
    # recomputed from study.csv (the arm at 1.5 may end above the baseline's
    # curve: a bound).
    assert_equal_quality_recomputes(self, rows, summary, 'token_drop')
    self.assertEqual([p['seed'] for p in arm['equal_quality'][0]['per_seed']],
                     [42, 43])
    # The runs' own step-time ratio, beside the benchmark's.
    def per_step(name):
      return statistics.fmean(float(r['train_seconds']) / int(r['steps'])
                              for r in rows if r['arm'] == name)
    self.assertAlmostEqual(arm['measured_ratio'],
                           per_step('token_drop') / per_step('baseline'),
                           places=6)
    # The unigram cross-entropy, recomputed from the records themselves:
    # masked-token counts of the training records, add-1/2 smoothing, scored
    # on the held-out records' masked tokens.
    vocab_size = len(open(os.path.join(self.data_dir, 'vocab.txt')).read()
                     .splitlines())
    def masked(pattern):
      ids = []
      for path in sorted(tf.io.gfile.glob(pattern)):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
          example = tf.train.Example.FromString(record).features.feature
          weights = example['masked_lm_weights'].float_list.value
          ids += [i for i, w in zip(example['masked_lm_ids'].int64_list.value,
                                    weights) if w > 0]
      return ids
    counts = collections.Counter(masked(os.path.join(self.data_dir,
                                                     'train-*')))
    train_total = sum(counts.values())
    held_out = masked(os.path.join(self.data_dir, 'eval-*'))
    unigram_nats = -statistics.fmean(
        math.log((counts[i] + 0.5) / (train_total + 0.5 * vocab_size))
        for i in held_out)
    self.assertAlmostEqual(summary['unigram']['unigram_nats'], unigram_nats,
                           places=6)
    self.assertEqual(summary['unigram']['eval_tokens'], len(held_out))
    self.assertAlmostEqual(summary['baseline_below_unigram'],
                           unigram_nats - summary['baseline_eval_mlm_loss'],
                           places=6)
    report = open(os.path.join(out, 'study.md')).read()
    self.assertIn(f'{unigram_nats:.4f} nats', report)
    # What the selection did, per run and per arm: the arm's runs carry the
    # figures of their results.json, the baseline's are empty.
    for r in rows:
      results = json.load(open(os.path.join(
          out, 'runs', r['run'], f'seed{r["seed"]}', 'results.json')))
      if r['arm'] == 'baseline':
        self.assertEqual(r['scored_slots'], '')
      else:
        self.assertAlmostEqual(float(r['scored_slots']),
                               results['selection']['scored_slots'])
    scored = statistics.fmean(float(r['scored_slots']) for r in rows
                              if r['arm'] == 'token_drop')
    self.assertAlmostEqual(summary['selection']['token_drop']['scored_slots'],
                           scored, places=4)
    self.assertIn('What the selection did', report)
    # Passes over the data: steps × the global batch over the training
    # sequences of the data's own summary (kept beside the records).
    batch = int(next(l for l in open(os.path.join(
        pu.REPO, 'gin', 'experiments', 'ci_tiny.gin')) if l.startswith(
            'run.global_batch_size')).split('=')[1])
    sequences = self.summary['train']['sequences']
    for r in rows:
      self.assertAlmostEqual(
          summary['passes'][r['arm']][f'{float(r["budget"]):g}'],
          int(r['steps']) * batch / sequences, places=3)
    self.assertEqual(json.load(open(os.path.join(out, 'data.json'))),
                     dict(train_sequences=sequences, global_batch_size=batch))
    self.assertIn(f'Passes over the {sequences:,} training sequences', report)
    # Every run recorded the plan's sha256; the report applied its rule on
    # the measured axis: the mean over the budgets of the per-budget speedup.
    sha = hashlib.sha256(open(self.command(out)[3][len('--plan='):],
                              'rb').read()).hexdigest()
    self.assertEqual(summary['choice']['choice'], 'token_drop')
    self.assertAlmostEqual(
        summary['choice']['scores']['token_drop'],
        statistics.fmean(e['speedup_measured']
                         for e in arm['equal_quality']), places=9)
    self.assertIn('**Pre-registered choice** (plan ', report)
    records = glob.glob(os.path.join(out, 'plan_records', '*', '*.json'))
    self.assertLen(records, 10)
    self.assertEqual({json.load(open(r))['plan_sha256'] for r in records},
                     {sha})
    # Each part of each run stored the checkout's commit: the killed run
    # two parts, the others one.
    here = freeze.code_entry(pu.REPO)
    self.assertIsNotNone(here['commit'])
    parts = {os.path.relpath(r, os.path.join(out, 'plan_records')):
             json.load(open(r))['code'] for r in records}
    self.assertEqual(parts.pop(os.path.join('token_drop_b1.50',
                                            'seed42.json')), [here, here])
    for path, code in parts.items():
      self.assertEqual(code, [here], path)
    # A run not trained under the plan: the report states no choice.
    os.remove(os.path.join(out, 'plan_records', 'token_drop_b0.50',
                           'seed43.json'))
    refused = entry_points.run(self.command(out) + ['--report_only'],
                             cwd=pu.REPO, env=pu.env(), capture_output=True,
                             text=True, timeout=300)
    self.assertEqual(refused.returncode, 0, refused.stderr[-3000:])
    self.assertIn('**No choice stated**: 1 run(s) were not trained under '
                  'the plan', refused.stdout)
    self.assertIn('token_drop_b0.50 seed 43', refused.stdout)
    self.assertIsNone(json.load(open(os.path.join(
        out, 'study_summary.json')))['choice']['choice'])
    self.assertIn('| token_drop | 0.50 | ', report)
    self.assertIn('speedup at equal quality', report)
    self.assertIn(f'- **token_drop**: {value:.3f} (per seed: ', report)
    self.assertRegex(report, r'\| baseline \| 1\.00 \| 40 \| 2 \|.* \| – \|\n')
    for name in ('loss_vs_time.png', 'loss_vs_budget.png'):
      self.assertGreater(os.path.getsize(os.path.join(out, name)), 1000)
    # Every run's held-out curve has its evaluations with train-loop time.
    curve = events.eval_curve(os.path.join(out, 'runs', 'baseline',
                                            'seed42'))
    self.assertEqual([c[1] for c in curve], [20, 40])
    self.assertTrue(all(c[0] > 0 for c in curve))
    self.assertLess(curve[0][0], curve[1][0])
    self.assertRegex(report, r'\| token_drop \| 1\.50 \| \d+ \| 2 \|')
    self.assertNotIn('Partial report', report)
    self.assertEqual(summary['pending_runs'], [])
    # A report does not add baseline budgets to the study (it would leave
    # every seed pending); the flag reaches the recorded settings.
    stored = open(os.path.join(out, 'study.json')).read()
    added = entry_points.run(
        self.command(out, baseline_budgets=(2,)) + ['--report_only'],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=300)
    pu.assert_clean_error(self, added, 'holds a study with other settings '
                          '(baseline_budgets, plan, plan_sha256 differ)')
    self.assertEqual(open(os.path.join(out, 'study.json')).read(), stored)

    # --report_only on a copy with one run of seed 43 unfinished: the report
    # covers seed 42 alone, names the pending run, and trains nothing.
    partial = os.path.join(self.root, 'partial_study')
    shutil.copytree(out, partial)
    unfinished = os.path.join(partial, 'runs', 'token_drop_b0.50', 'seed43')
    os.remove(os.path.join(unfinished, 'results.json'))
    before = sorted(os.listdir(unfinished))
    proc = entry_points.run(self.command(partial) + ['--report_only'],
                          cwd=pu.REPO, env=pu.env(), capture_output=True,
                          text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-5000:])
    self.assertNotIn('official_td.train', proc.stdout)
    self.assertNotIn('official_td.benchmarks', proc.stdout)
    self.assertEqual(sorted(os.listdir(unfinished)), before)
    with open(os.path.join(partial, 'study.csv')) as f:
      partial_rows = list(csv.DictReader(f))
    self.assertEqual(partial_rows, [r for r in rows if r['seed'] == '42'])
    partial_report = open(os.path.join(partial, 'study.md')).read()
    self.assertTrue(partial_report.startswith(
        '**Partial report**: seeds 42 (every run of each); 1 run pending: '
        'token_drop_b0.50 seed 43.'), partial_report[:300])
    partial_summary = json.load(open(os.path.join(partial,
                                                  'study_summary.json')))
    self.assertEqual(partial_summary['pending_runs'],
                     ['token_drop_b0.50 seed 43'])
    self.assertLen(partial_summary['arms']['token_drop']['per_seed'], 1)



class CommittedStudyTest(tu.TestCase):
  """`--report_only` on the records committed under docs/studies/."""

  def report(self, name, flags):
    """`official_td.study --report_only FLAGS` on a copy of
    docs/studies/NAME: nothing trains, and the records give back the
    committed study.csv. Returns the command's stdout, the csv's rows, the
    summary and the copy."""
    committed = os.path.join(pu.REPO, 'docs', 'studies', name)
    out = os.path.join(self.get_temp_dir(), name)
    shutil.copytree(committed, out)
    if os.path.exists(os.path.join(out, 'README.md')):
      os.remove(os.path.join(out, 'README.md'))
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.study', '--report_only',
         f'--output_dir={out}'] + flags,
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-5000:])
    self.assertNotIn('official_td.train', proc.stdout)  # nothing trained.
    self.assertEqual(open(os.path.join(out, 'study.csv')).read(),
                     open(os.path.join(committed, 'study.csv')).read())
    with open(os.path.join(out, 'study.csv')) as f:
      rows = list(csv.DictReader(f))
    summary = json.load(open(os.path.join(out, 'study_summary.json')))
    return proc.stdout, rows, summary, out

  def assert_pre_registered(self, name, runs, pick):
    """docs/studies/NAME, reported under its committed plan
    docs/studies/plans/NAME.json: every one of its RUNS records carries the
    plan file's sha256; every arm's speedups on both axes and its paired
    differences recompute from study.csv and are printed; the choice is the
    plan's rule applied here to study.csv, and equals PICK (as
    docs/results.md states it)."""
    plan_path = f'docs/studies/plans/{name}.json'
    stdout, rows, summary, out = self.report(name, [f'--plan={plan_path}'])
    plan_bytes = open(os.path.join(pu.REPO, plan_path), 'rb').read()
    plan_ = json.loads(plan_bytes)
    arms = list(plan_['candidates']) + list(plan_.get('others', {}))
    budgets = len(plan_['budgets'])
    self.assertLen(rows, runs)
    self.assertEqual(runs, plan_['seeds'] * (
        budgets * (1 + len(arms)) + 1 + len(plan_['baseline_budgets'])))
    sha = hashlib.sha256(plan_bytes).hexdigest()
    records = glob.glob(os.path.join(out, 'plan_records', '*', '*.json'))
    self.assertLen(records, runs)
    self.assertEqual({json.load(open(r))['plan_sha256'] for r in records},
                     {sha})
    for arm in arms:
      assert_equal_quality_recomputes(self, rows, summary, arm)
      # Both axes and the paired differences are in the printed report.
      for entry in summary['arms'][arm]['equal_quality']:
        self.assertIn(entry['speedup_measured_text'], stdout)
        self.assertIn(entry['per_seed_measured_text'], stdout)
        paired = entry['paired_difference']
        self.assertLen(paired['per_seed'], plan_['seeds'])
        self.assertIn(f'{paired["mean"]:+.4f} ± {paired["std"]:.4f}',
                      stdout)
    # Every arm after the first against the first, seed by seed, from the
    # csv: held-out loss and fine-tuned accuracy (points).
    def value(arm, budget, seed, key):
      return float(next(r[key] for r in rows if r['arm'] == arm and float(
          r['budget']) == budget and r['seed'] == seed))
    for arm in arms[1:]:
      for budget in plan_['budgets']:
        entry = summary['against_first'][arm][f'{budget:g}']
        seeds = sorted({r['seed'] for r in rows})
        if not plan_['finetune']:
          self.assertEqual(entry['finetune']['per_seed'], [])
        for key, got in (('eval_mlm_loss', entry['loss']),
                         ('finetune_accuracy', entry['finetune']))[
                             :1 + plan_['finetune']]:
          want = [value(arm, budget, s, key) - value(arms[0], budget, s, key)
                  for s in seeds]
          self.assertEqual([str(d['seed']) for d in got['per_seed']], seeds)
          for d, w in zip(got['per_seed'], want):
            self.assertAlmostEqual(d['difference'], w, places=9)
          self.assertAlmostEqual(got['mean'], statistics.fmean(want),
                                 places=9)
        self.assertIn(f'| {arm} | {budget:.2f} | '
                      f'{entry["loss"]["mean"]:+.4f} ± ', stdout)
    # The rule: the best mean over the plan's budgets of the speedup on its
    # axis, the tie-break's arm when within the margin of the best.
    self.assertEqual(plan_['axis'], 'measured')
    scores = {arm: statistics.fmean(
        recompute_equal_quality(rows, arm)[b]['measured']
        for b in plan_['budgets']) for arm in plan_['candidates']}
    best = max(scores, key=scores.get)
    tie_break = plan_['tie_break']
    choice = (tie_break if scores[best] - scores[tie_break] <=
              plan_['tie_margin'] else best)
    self.assertEqual(summary['choice']['choice'], choice)
    self.assertEqual(choice, pick)
    self.assertIn(f'**Pre-registered choice** (plan `{plan_path}`, sha256 '
                  f'{sha[:12]}…', stdout)

  def test_pre_registered_choice_follows_from_its_plan_and_records(self):
    """The corpus-A choice: k64 against k32_schedule, two seeds."""
    self.assert_pre_registered('scale_choice_a', 16, 'k32_schedule')

  def test_pre_registered_pick_on_corpus_b_recomputes_on_both_axes(self):
    """The pick carried to corpus B beside random importance and
    random-LTD, three seeds."""
    self.assert_pre_registered('scale_pick_b', 30, 'k32_schedule')
