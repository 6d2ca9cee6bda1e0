"""The study's arithmetic: its two answers, on both axes and per seed.

- The break-even budget: the smallest fraction of the full baseline's time
  (budget 1.0) at which an arm's mean held-out loss is at or below the
  baseline's mean, interpolated linearly between neighbouring budgets; its
  range comes from the same computation per seed (each seed's arm against
  that seed's baseline). It is given on the planned-budget axis and on the
  axis of measured train-loop seconds.
- The speedup at equal quality: at each budget b, the baseline budget b*
  whose loss (interpolated on the baseline's own curve, every budget trained
  with its schedule fully decayed) equals the arm's loss at b, over b. It
  credits token dropping only with what a shorter baseline schedule does not
  already give. Its spread: the same per seed (each seed's arm on that
  seed's own baseline curve).

The budget axis places each run at its planned budget; the measured axis at
its train-loop and compile seconds over its seed's full baseline's.
"""

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from official_td.study.plan import BASELINE


def break_even(budgets: Sequence[float], losses: Sequence[float],
               target: float) -> Tuple[Optional[float], str]:
  """Smallest budget whose loss is at or below `target`, interpolated.

  Returns:
    `(budget, kind)`: kind 'interpolated' (between two budgets, linear in the
    loss), 'at_most' (already at the smallest budget: the break-even is at or
    below it) or 'above' (no budget reaches the target; budget None).
  """
  points = sorted(zip(budgets, losses))
  for i, (budget, loss) in enumerate(points):
    if loss <= target:
      if i == 0:
        return budget, 'at_most'
      b0, l0 = points[i - 1]
      return b0 + (l0 - target) / (l0 - loss) * (budget - b0), 'interpolated'
  return None, 'above'


def equal_quality_speedup(baseline_budgets: Sequence[float],
                          baseline_losses: Sequence[float], arm_loss: float,
                          budget: float) -> Tuple[Optional[float], str]:
  """The baseline budget that reaches `arm_loss`, over `budget`.

  `break_even` on the baseline's own curve, with the arm's loss as target.

  Returns:
    `(speedup, kind)`: 'interpolated'; 'at_most' (the baseline's smallest
    budget already reaches the arm's loss: the speedup is at most the value
    given); 'above' (no baseline budget reaches it: the speedup exceeds the
    value given, the largest budget over `budget`).
  """
  reach, kind = break_even(baseline_budgets, baseline_losses, arm_loss)
  if kind == 'above':
    return max(baseline_budgets) / budget, 'above'
  return reach / budget, kind


def format_speedup(value: float, kind: str) -> str:
  prefix = {'at_most': '≤ ', 'above': '> '}.get(kind, '')
  return f'{prefix}{value:.2f}×'


def format_break_even(value: Optional[float], kind: str,
                      budgets: Sequence[float]) -> str:
  if kind == 'above':
    return f'> {max(budgets):.2f}'
  return ('≤ ' if kind == 'at_most' else '') + f'{value:.3f}'


def mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return float('nan'), float('nan')
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return statistics.fmean(values), std


def paid_seconds(row: Dict) -> float:
  """What a run cost a user: its train loops and their compilation (a keep
  schedule compiles one loop per k: extra seconds the measured axis counts)."""
  return row['train_seconds'] + row.get('compile_seconds', 0.0)


def is_full_baseline(row: Dict) -> bool:
  return row['arm'] == BASELINE and row['budget'] == 1.0


def seed_curve(rows: List[Dict], arm: str, seed) -> List[Tuple[float, float]]:
  """One seed's (budget, held-out loss) points of `arm`, by budget."""
  return sorted((r['budget'], r['eval_mlm_loss']) for r in rows
                if r['arm'] == arm and r['seed'] == seed)


def measured_ratio(rows: List[Dict], arm: str) -> float:
  """The runs' own step-time ratio: the arm's mean train-loop seconds per
  step over the baseline's (every budget and seed); the benchmark's ratio,
  which set the budgets' steps, should be close (a gap is the machine's
  drift, or a benchmark that does not time what training runs)."""
  def per_step(name):
    return statistics.fmean(r['train_seconds'] / r['steps'] for r in rows
                            if r['arm'] == name)
  return per_step(arm) / per_step(BASELINE)


def _per_seed_speedups(arm: str, budget: float, rows: List[Dict],
                       position) -> List[Dict]:
  """The speedup at equal quality per seed on one axis: each seed's arm run
  at `budget` on that seed's own baseline curve, every run placed at
  `position(run)` (None: the seed has no place on this axis)."""
  out = []
  for seed in sorted({r['seed'] for r in rows if r['arm'] == arm and
                      r['budget'] == budget}):
    curve = sorted((position(r), r['eval_mlm_loss']) for r in rows
                   if r['arm'] == BASELINE and r['seed'] == seed)
    if not curve or any(x is None for x, _ in curve):
      continue
    row = next(r for r in rows if r['arm'] == arm and r['budget'] == budget
               and r['seed'] == seed)
    value, kind = equal_quality_speedup(
        [x for x, _ in curve], [l for _, l in curve], row['eval_mlm_loss'],
        position(row))
    out.append(dict(seed=seed, speedup=value, kind=kind,
                    text=format_speedup(value, kind)))
  return out


def seed_speedups(arm: str, budget: float, rows: List[Dict]) -> List[Dict]:
  """The speedup at equal quality per seed on the budget axis (the spread
  beside the mean's)."""
  return _per_seed_speedups(arm, budget, rows, lambda r: r['budget'])


def _seconds(rows: List[Dict], arm: str, budget: float, seed) -> Optional[
    float]:
  for r in rows:
    if r['arm'] == arm and r['budget'] == budget and r['seed'] == seed:
      return paid_seconds(r)
  return None


def seed_measured_speedups(arm: str, budget: float, rows: List[Dict]
                           ) -> List[Dict]:
  """The speedup at equal quality on the measured axis, per seed: the
  baseline's curve and the arm's run placed at their seconds (train loops and
  their compilation) as fractions of that seed's full baseline's."""
  def fraction(row):
    full = _seconds(rows, BASELINE, 1.0, row['seed'])
    return paid_seconds(row) / full if full else None
  return _per_seed_speedups(arm, budget, rows, fraction)


def paired_differences(arm: str, budget: float, rows: List[Dict],
                       against: str = BASELINE,
                       key: str = 'eval_mlm_loss') -> Dict:
  """Arm minus `against` (the baseline) at the same budget, seed by seed, of
  `key` (the held-out loss); seeds without a value on either side left
  out."""
  diffs = []
  for r in sorted(rows, key=lambda r: r['seed']):
    if r['arm'] != arm or r['budget'] != budget or r.get(key) is None:
      continue
    base = next((b[key] for b in rows if b['arm'] == against
                 and b['budget'] == budget and b['seed'] == r['seed']), None)
    if base is not None:
      diffs.append(dict(seed=r['seed'], difference=r[key] - base))
  mean, std = mean_std([d['difference'] for d in diffs])
  return dict(per_seed=diffs, mean=mean, std=std)
