"""The study's report: one row per run, means over seeds, and its two answers
(the arithmetic is `speedup`'s), written as study.csv and study.md."""

import csv
import math
import os
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from official_td import publish
from official_td import rundir
from official_td.study import pairs
from official_td.study import runner
from official_td.study.plan import BASELINE
from official_td.study.speedup import break_even
from official_td.study.speedup import equal_quality_speedup
from official_td.study.speedup import format_break_even
from official_td.study.speedup import format_speedup
from official_td.study.speedup import is_full_baseline
from official_td.study.speedup import mean_std
from official_td.study.speedup import measured_ratio
from official_td.study.speedup import paid_seconds
from official_td.study.speedup import paired_differences
from official_td.study.speedup import seed_curve
from official_td.study.speedup import seed_measured_speedups
from official_td.study.speedup import seed_speedups

# Past these, the report warns at its top (see `drift_lines`).
RATIO_TOLERANCE = 0.03
SPEED_TOLERANCE = 0.03


def plus_minus(value, digits: int = 4) -> str:
  """`mean ± std`, or `–` for a measure the study did not take."""
  mean, std = value
  if math.isnan(mean):
    return '–'
  return f'{mean:.{digits}f} ± {std:.{digits}f}'


def collect(out: str, runs, finetune: bool = True) -> List[Dict]:
  """One row per finished run (pretraining and, unless the study skips it,
  fine-tuning results; an empty fine-tuned accuracy without)."""
  rows = []
  for name, arm, budget, seed, _ in runs:
    model_dir, finetune_dir = runner.run_dirs(out, name, seed)
    pre = rundir.read_results(model_dir)
    fine = rundir.read_results(finetune_dir) if finetune else {
        'eval_accuracy': None}
    rows.append(dict(
        run=name, arm=arm, budget=budget, seed=seed, steps=pre['step'],
        train_seconds=pre['train_seconds'],
        compile_seconds=round(pre.get('compile_seconds', 0.0), 2),
        eval_mlm_loss=round(pre['eval_mlm_loss'], 5),
        eval_mlm_accuracy=round(pre['eval_mlm_accuracy'], 5),
        finetune_accuracy=(None if fine['eval_accuracy'] is None else
                           round(fine['eval_accuracy'], 5)),
        # What the selection did (runs with a table; empty for the others).
        **{key: pre['selection'].get(key) for key in SELECTION
           if 'selection' in pre}))
  if any(SELECTION[0] in r for r in rows):  # (studies recorded before the
    for r in rows:                          # figures keep their columns)
      for key in SELECTION:
        r.setdefault(key, None)
  return rows


# The selection figures of a run's results (`trainers/selection.py`) the
# report carries per run and averages per arm.
SELECTION = ('scored_slots', 'forced_slots', 'types_never_kept_fraction',
             'table_frequency_spearman')


def selection_lines(rows: List[Dict], arms: Sequence[str]) -> Tuple[
    List[str], Dict]:
  """Per arm, the mean over its runs of each selection figure: what the
  score decided beside the tiers, the types never kept, and how much the
  table is token frequency."""
  means, lines = {}, []
  for arm in arms:
    values = {k: [r[k] for r in rows
                  if r['arm'] == arm and r.get(k) not in (None, '')]
              for k in SELECTION}
    if not values['scored_slots']:
      continue
    means[arm] = {k: (round(statistics.fmean(v), 4) if v else None)
                  for k, v in values.items()}
    m = means[arm]
    rho = ('n/a' if m['table_frequency_spearman'] is None else
           f'{m["table_frequency_spearman"]:+.3f}')
    lines.append(
        f'- **{arm}**: of the kept slots per sequence, {m["scored_slots"]:.1f} '
        f'decided by the score and {m["forced_slots"]:.1f} by the tiers; '
        f'{100 * m["types_never_kept_fraction"]:.1f}% of the token types seen '
        f'never kept in the window; the table\'s rank correlation with '
        f'token frequency {rho}')
  if lines:
    lines = ['', 'What the selection did (mean over each arm\'s runs):',
             ''] + lines
  return lines, means


def write_csv(out: str, rows: List[Dict]):
  with tf.io.gfile.GFile(os.path.join(out, 'study.csv'), 'w') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def group_table(rows: List[Dict], arms: Sequence[str]) -> List[Dict]:
  """Per (arm, budget): steps, seeds and (mean, std) of every measure; the
  baseline's budgets first."""
  base_seconds = statistics.fmean(paid_seconds(r) for r in rows
                                  if is_full_baseline(r))
  order = [BASELINE] + list(arms)
  groups = sorted({(r['arm'], r['budget']) for r in rows},
                  key=lambda g: (order.index(g[0]), g[1]))
  table = []
  for arm, budget in groups:
    group = [r for r in rows if r['arm'] == arm and r['budget'] == budget]
    seconds = mean_std([r['train_seconds'] for r in group])
    compile_s = mean_std([r.get('compile_seconds', 0.0) for r in group])
    table.append(dict(
        arm=arm, budget=budget, steps=group[0]['steps'], seeds=len(group),
        train_seconds=seconds, compile_seconds=compile_s,
        time_fraction=statistics.fmean(paid_seconds(r) for r in group) /
        base_seconds,
        **{key: mean_std([r[key] for r in group]) for key in (
            'eval_mlm_loss', 'eval_mlm_accuracy', 'finetune_accuracy')}))
  return table


def table_lines(table: List[Dict]) -> List[str]:
  lines = [
      '| arm | budget | steps | seeds | train-loop s | compile s | '
      'time / baseline (loops + compile) | held-out MLM loss | '
      'held-out MLM accuracy | fine-tuned accuracy |',
      '|---|---|---|---|---|---|---|---|---|---|']
  for t in table:
    seconds, loss = t['train_seconds'], t['eval_mlm_loss']
    accuracy, finetune = t['eval_mlm_accuracy'], t['finetune_accuracy']
    lines.append(
        f'| {t["arm"]} | {t["budget"]:.2f} | {t["steps"]} | {t["seeds"]} | '
        f'{seconds[0]:.1f} ± {seconds[1]:.1f} | '
        f'{t["compile_seconds"][0]:.1f} | {t["time_fraction"]:.3f} | '
        f'{loss[0]:.4f} ± {loss[1]:.4f} | '
        f'{accuracy[0]:.4f} ± {accuracy[1]:.4f} | {plus_minus(finetune)} |')
  return lines


def arm_break_even(arm: str, rows: List[Dict], table: List[Dict],
                   target: float) -> Dict:
  """The arm's break-even on both axes, and per seed."""
  entries = [t for t in table if t['arm'] == arm]
  budgets = [t['budget'] for t in entries]
  losses = [t['eval_mlm_loss'][0] for t in entries]
  value, kind = break_even(budgets, losses, target)
  per_seed = []
  for r in rows:
    if not is_full_baseline(r):
      continue
    seed_rows = seed_curve(rows, arm, r['seed'])
    if seed_rows:
      per_seed.append(break_even([b for b, _ in seed_rows],
                                 [l for _, l in seed_rows],
                                 r['eval_mlm_loss']))
  # The same crossing on the axis of measured time (loops + compile).
  fractions = [t['time_fraction'] for t in entries]
  measured, measured_kind = break_even(fractions, losses, target)
  return dict(
      break_even=value, break_even_kind=kind,
      break_even_text=format_break_even(value, kind, budgets),
      break_even_measured_time=measured,
      break_even_measured_time_kind=measured_kind,
      break_even_measured_time_text=format_break_even(
          measured, measured_kind, fractions),
      per_seed=[dict(break_even=v, kind=k,
                     text=format_break_even(v, k, budgets))
                for v, k in per_seed])


def same_budget(arm: str, table: List[Dict], base_curve: List[Dict],
                rows: List[Dict]) -> List[Dict]:
  """Per budget of `arm`: its and the same-budget baseline's measures, and
  the speedup at equal quality on the baseline's (mean) curve and per
  seed."""
  by_budget = {t['budget']: t for t in base_curve}
  budgets = [t['budget'] for t in base_curve]
  losses = [t['eval_mlm_loss'][0] for t in base_curve]
  out = []
  for t in table:
    if t['arm'] != arm:
      continue
    base = by_budget.get(t['budget'])
    speedup, kind = equal_quality_speedup(budgets, losses,
                                          t['eval_mlm_loss'][0], t['budget'])
    per_seed = seed_speedups(arm, t['budget'], rows)
    # The same on the axis of measured train-loop seconds (mean curve).
    measured, measured_kind = equal_quality_speedup(
        [b['time_fraction'] for b in base_curve], losses,
        t['eval_mlm_loss'][0], t['time_fraction'])
    measured_per_seed = seed_measured_speedups(arm, t['budget'], rows)
    paired = paired_differences(arm, t['budget'], rows)
    out.append(dict(
        speedup_measured=measured, speedup_measured_kind=measured_kind,
        speedup_measured_text=format_speedup(measured, measured_kind),
        per_seed_measured=measured_per_seed,
        per_seed_measured_text=', '.join(p['text']
                                         for p in measured_per_seed),
        paired_difference=paired,
        budget=t['budget'], eval_mlm_loss=t['eval_mlm_loss'],
        finetune_accuracy=t['finetune_accuracy'],
        baseline_eval_mlm_loss=base['eval_mlm_loss'] if base else None,
        baseline_finetune_accuracy=(base['finetune_accuracy'] if base
                                    else None),
        speedup=speedup, speedup_kind=kind,
        speedup_text=format_speedup(speedup, kind), per_seed=per_seed,
        per_seed_text=', '.join(p['text'] for p in per_seed)))
  return out


def same_budget_lines(entries: Dict, arms: Sequence[str]) -> List[str]:
  """The same-budget table and what each answer supports."""
  lines = [
      '', 'At the same budget (the baseline trained for that fraction of '
      'its time, its schedule fully decayed), and the speedup at equal '
      'quality (the baseline budget that reaches the arm\'s loss, '
      'interpolated on the baseline\'s mean curve, over the arm\'s budget; '
      'per seed: the same on each seed\'s own runs):', '',
      '| arm | budget | baseline loss | arm loss | arm − baseline, paired '
      '| baseline fine-tuned | arm fine-tuned | speedup at equal quality | '
      'on measured time (loops + compile) |',
      '|---|---|---|---|---|---|---|---|---|']
  for arm in arms:
    for e in entries[arm]['equal_quality']:
      base_loss, base_ft = (e['baseline_eval_mlm_loss'],
                            e['baseline_finetune_accuracy'])
      lines.append(
          f'| {arm} | {e["budget"]:.2f} | '
          + (f'{base_loss[0]:.4f} ± {base_loss[1]:.4f}' if base_loss else '–')
          + f' | {e["eval_mlm_loss"][0]:.4f} ± {e["eval_mlm_loss"][1]:.4f} | '
          + _paired_text(e['paired_difference']) + ' | '
          + (plus_minus(base_ft) if base_ft else '–')
          + f' | {plus_minus(e["finetune_accuracy"])} | '
          f'{e["speedup_text"]} (per seed: {e["per_seed_text"]}) | '
          f'{e["speedup_measured_text"]} (per seed: '
          f'{e["per_seed_measured_text"]}) |')
  lines += [
      '', 'The break-even budget measures the arm against the fully trained '
      'baseline; the speedup at equal quality measures it against a '
      'baseline given the same shorter time. Where they differ, the speedup '
      'at equal quality is the saving that belongs to token dropping; the '
      'break-even also counts what a shorter, fully decayed schedule gives '
      'by itself.']
  return lines


def _paired_text(paired: Dict) -> str:
  if not paired['per_seed']:
    return '–'
  return f'{paired["mean"]:+.4f} ± {paired["std"]:.4f}'


def drift_lines(rows: List[Dict], arms: Sequence[str],
                entries: Dict) -> List[str]:
  """Warnings for the top of the report: an arm whose runs' step-time ratio
  is off the benchmark's (which set its steps) by more than 0.03, and a
  baseline whose seconds per step vary by more than 3% across its runs."""
  lines = []
  for arm in arms:
    gap = entries[arm]['measured_ratio'] - entries[arm]['schedule_ratio']
    if abs(gap) > RATIO_TOLERANCE:
      lines.append(
          f'**Warning**: {arm}\'s runs took {entries[arm]["measured_ratio"]:.3f}'
          f' of the baseline\'s seconds per step, the benchmark that set its '
          f'steps {entries[arm]["schedule_ratio"]:.3f} ({gap:+.3f}): the '
          'budget axis and the measured axis disagree; read the measured '
          'one.')
  per_step = [r['train_seconds'] / r['steps'] for r in rows
              if r['arm'] == BASELINE]
  spread = (max(per_step) - min(per_step)) / statistics.fmean(per_step)
  if spread > SPEED_TOLERANCE:
    lines.append(
        f'**Warning**: the baseline\'s seconds per step vary by '
        f'{100 * spread:.1f}% across its runs ({min(per_step):.4f}–'
        f'{max(per_step):.4f} s): the machine\'s speed moved during the '
        'study.')
  return lines + [''] if lines else []


def unigram_lines(unigram: Dict, base_loss: float) -> List[str]:
  """What the baseline learned beyond token frequencies (study/unigram.py)."""
  gap = unigram['unigram_nats'] - base_loss
  return [
      '', f'Unigram cross-entropy of the held-out masked tokens (their '
      f'training frequencies, add-{unigram["smoothing"]} smoothing, '
      f'{unigram["eval_tokens"]} tokens): {unigram["unigram_nats"]:.4f} nats '
      + _per_seed_unigram(unigram) +
      f'(uniform over the vocab: {unigram["uniform_nats"]:.4f}). The full '
      f'baseline ends at {base_loss:.4f}: {gap:.3f} nats below it'
      + (' — it has learned context.' if gap >= 1.0 else
         ' — less than 1 nat: a model at this scale has learned little '
         'beyond token frequencies, and the comparison says little about '
         'BERT-size models.')]


def _per_seed_unigram(unigram: Dict) -> str:
  """Each seed's value when the seeds' masks differ (dynamic masking)."""
  values = unigram.get('per_seed', {})
  if len(set(values.values())) < 2:
    return ''
  return '(mean over seeds; ' + ', '.join(
      f'seed {s}: {v:.4f}' for s, v in sorted(values.items())) + ') '


def pending_lines(rows: List[Dict], pending: Sequence[str]) -> List[str]:
  """A partial report's first lines: which seeds it covers, what is left."""
  if not pending:
    return []
  seeds = ', '.join(str(s) for s in sorted({r['seed'] for r in rows}))
  return [f'**Partial report**: seeds {seeds} (every run of each); '
          f'{len(pending)} run{"" if len(pending) == 1 else "s"} pending: '
          f'{", ".join(pending)}.', '']


def summarize(out: str, rows: List[Dict], arms: Sequence[str],
              ratios: Dict[str, Dict], unigram: Dict,
              pending: Sequence[str] = (), choose=None,
              data: Optional[Dict] = None) -> Dict:
  """Writes study.csv, study.md, study_summary.json; returns the summary
  (`pending`: the runs a partial report leaves out; `choose`: a
  pre-registered plan's rule, `choice.choose` on the arms' summary, stated
  at the report's top; `data`: the training sequences and global batch the
  passes over the data are counted from, `pairs.data_facts`)."""
  write_csv(out, rows)
  table = group_table(rows, arms)
  base = next(t for t in table if t['arm'] == BASELINE and t['budget'] == 1.0)
  base_loss = base['eval_mlm_loss'][0]
  base_curve = [t for t in table if t['arm'] == BASELINE]
  summary = dict(baseline_eval_mlm_loss=base_loss,
                 baseline_train_seconds=base['train_seconds'][0],
                 unigram=unigram,
                 baseline_below_unigram=unigram['unigram_nats'] - base_loss,
                 pending_runs=list(pending), arms={})
  lines = pending_lines(rows, pending) + table_lines(table) + unigram_lines(
      unigram, base_loss) + [
      '', 'Break-even budget (smallest fraction of the baseline\'s time at '
      'which the mean held-out MLM loss is at or below the baseline\'s '
      f'{base_loss:.4f}; range: the same per seed):', '']
  for arm in arms:
    entry = arm_break_even(arm, rows, table, base_loss)
    entry.update(schedule_ratio=ratios[arm]['schedule_ratio'],
                 step_s=ratios[arm]['step_s'],
                 plain_step_s=ratios[arm]['plain_step_s'],
                 measured_ratio=measured_ratio(rows, arm))
    entry['equal_quality'] = same_budget(arm, table, base_curve, rows)
    summary['arms'][arm] = entry
    rounds = ratios[arm].get('schedule_ratio_rounds')
    if rounds:  # benchmarks before per-round ratios were recorded have none
      entry['schedule_ratio_rounds'] = rounds
    spread = (f'; its rounds {min(rounds):.3f}–{max(rounds):.3f}'
              if rounds else '')
    seeds = ', '.join(s['text'] for s in entry['per_seed'])
    lines.append(
        f'- **{arm}**: {entry["break_even_text"]} (per seed: {seeds}); '
        f'step-time ratio {entry["schedule_ratio"]:.3f} (benchmark{spread}) '
        f'and {entry["measured_ratio"]:.3f} (the runs\' train-loop seconds per '
        'step over the baseline\'s); on the measured time axis (train loops '
        'and their compilation): '
        f'{entry["break_even_measured_time_text"]}')
  lines += same_budget_lines(summary['arms'], arms)
  first, summary['against_first'] = pairs.against_first(rows, arms)
  selection, summary['selection'] = selection_lines(rows, arms)
  passes, summary['passes'] = pairs.passes_lines(rows, arms, data)
  lines += first + selection + passes
  # The drifts, at the top (below a partial report's first line).
  warnings = drift_lines(rows, arms, summary['arms'])
  summary['warnings'] = [w for w in warnings if w]
  head = len(pending_lines(rows, pending))
  if choose is not None:
    summary['choice'] = choose(summary['arms'])
    warnings = summary['choice']['lines'] + warnings
  lines = lines[:head] + warnings + lines[head:]
  publish.write_json(os.path.join(out, 'study_summary.json'), summary)
  with tf.io.gfile.GFile(os.path.join(out, 'study.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return summary
