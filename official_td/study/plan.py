"""The study's plan: arms, budgets, and the steps each run trains.

The baseline (`encoder.token_drop = False`) trains the config's
`run.train_steps` (budget 1.0), and every other budget b too:
`round(b * steps)` steps, its learning-rate schedule fully decayed within
them (the control of Kaddour et al., "No Train No Gain", NeurIPS 2023: a
shorter schedule alone buys part of any saving). An arm with budget b trains
`round(b * steps / schedule_ratio)` steps, with its own full learning-rate
schedule (warmup scaled by the same factor) and keep schedule; the ratio is
the step-time benchmark's, measured on the trainer's own compiled loops.

The baseline may train budgets of its own besides (`baseline_budgets`, e.g.
1.25): an arm that ends below the baseline's whole curve then gets a measured
speedup at equal quality instead of only a lower bound.
"""

import math
from typing import Dict, List, Sequence, Tuple


BASELINE = 'baseline'


BASELINE_BINDINGS = ('encoder.token_drop = False',)


# --------------------------------------------------------------- the plan
def budget_steps(budget: float, ratio: float, baseline_steps: int) -> int:
  """Steps that take `budget` of the baseline's time at `ratio` its step time.

  E.g. budget 0.5 at a measured ratio of 0.8: 0.625 of the baseline's steps.
  """
  return max(1, int(round(budget * baseline_steps / ratio)))


def parse_arms(specs: Sequence[str]) -> List[Tuple[str, List[str]]]:
  """`NAME=BINDING; BINDING` flags -> [(name, bindings)]."""
  arms = []
  for spec in specs or ['token_drop']:
    name, _, bindings = spec.partition('=')
    name = name.strip()
    if not name or not name.replace('_', '').replace('-', '').isalnum() or (
        name == BASELINE):
      raise ValueError(
          f'--arm={spec!r}: start with a name of letters, digits, _ or - '
          f'(not "{BASELINE}"), e.g. --arm="k32=encoder.keep_k = 32".')
    if name in (a for a, _ in arms):
      raise ValueError(f'--arm name {name!r} is used twice.')
    arms.append((name, [b.strip() for b in bindings.split(';') if b.strip()]))
  return arms


def parse_budgets(values: Sequence[str]) -> List[float]:
  try:
    budgets = sorted(float(v) for v in values)
  except ValueError:
    raise ValueError(f'--budgets={",".join(values)}: give fractions of the '
                     'baseline\'s time, e.g. --budgets=0.6,0.7,0.8') from None
  if not budgets or any(not 0 < b <= 2 for b in budgets) or len(
      set(budgets)) != len(budgets):
    raise ValueError(f'--budgets={",".join(values)}: give distinct fractions '
                     'in (0, 2], e.g. --budgets=0.6,0.7,0.8')
  return budgets


def parse_baseline_budgets(values: Sequence[str],
                           budgets: Sequence[float]) -> List[float]:
  """`--baseline_budgets`: budgets the baseline alone trains (none: [])."""
  if not values:
    return []
  flag = f'--baseline_budgets={",".join(values)}'
  try:
    extra = parse_budgets(values)
  except ValueError:
    raise ValueError(f'{flag}: give distinct fractions of the baseline\'s '
                     'time in (0, 2] that only the baseline trains, e.g. '
                     '--baseline_budgets=1.25') from None
  shared = sorted(set(extra) & (set(budgets) | {1.0}))
  if shared:
    raise ValueError(
        f'{flag}: the baseline trains {", ".join(f"{b:g}" for b in shared)} '
        'already (1.0 always, and every --budgets value); give budgets only '
        'the baseline trains, e.g. --baseline_budgets=1.25')
  return extra


def run_name(arm: str, budget: float) -> str:
  if arm == BASELINE and budget == 1.0:
    return BASELINE
  return f'{arm}_b{budget:.2f}'


def plan(arms, budgets, seeds: List[int], ratios: Dict[str, Dict],
         baseline_steps: int, warmup_steps: int, evals_per_run: int,
         baseline_budgets: Sequence[float] = ()):
  """Every run of the study: (run name, arm, budget, seed, bindings).

  The baseline trains 1.0, every budget of the arms and `baseline_budgets`.
  Within a seed the runs are interleaved by budget: the baseline and every
  arm at a budget back to back, so that runs compared with each other run
  on the machine at nearly the same time (its speed drifts over hours).
  """
  runs = []
  for seed in seeds:
    specs = []
    for budget in sorted(set(budgets) | set(baseline_budgets) | {1.0}):
      specs.append((BASELINE, budget, list(BASELINE_BINDINGS),
                    budget_steps(budget, 1.0, baseline_steps)))
      if budget not in budgets:
        continue
      for arm, bindings in arms:
        specs.append((arm, budget, bindings, budget_steps(
            budget, ratios[arm]['schedule_ratio'], baseline_steps)))
    for arm, budget, bindings, steps in specs:
      warmup = int(round(warmup_steps * steps / baseline_steps))
      bindings = bindings + [
          f'run.seed = {seed}', f'run.train_steps = {steps}',
          f'optimizer.warmup_steps = {warmup}',
          f'run.eval_interval = {max(1, math.ceil(steps / evals_per_run))}']
      runs.append((run_name(arm, budget), arm, budget, seed, bindings))
  return runs

