"""The pre-registered plan's rule, applied by the report to finished runs.

Report-only (official_td/study/freeze.py's REPORT_ONLY): no run reads it.
"""

import statistics
from typing import Dict, Optional, Sequence, Tuple

from official_td.study import freeze
from official_td.study import preregistration


def choose(plan: preregistration.Plan, arms_summary: Dict,
           records: Dict[Tuple[str, int], Optional[Dict]],
           pending: Sequence[str] = (), root: Optional[str] = None) -> Dict:
  """The plan's rule applied to the report's summary (`summary['arms']`).

  `records`: each run's plan record (`preregistration.read_records`);
  `root`: the repository whose history a freezing plan's records are
  checked against (default: this checkout's).

  Returns a dict: `choice` (None when refused), `scores` (candidate -> the
  rule's value), `tied`, `refused` (the runs not trained under this plan, or
  not from its code) and the report's `lines`.
  """
  head = (f'**Pre-registered choice** (plan `{plan.path}`, sha256 '
          f'{plan.sha256[:12]}…; {plan.question}): ')
  if pending:
    return dict(choice=None, scores={}, tied=[], refused=[], lines=[
        f'**No choice stated**: the plan `{plan.path}` decides on all its '
        f'{plan.seeds} seed(s); {len(pending)} run(s) are pending.', ''])
  foreign = sorted(f'{n} seed {s}' for (n, s), record in records.items()
                   if (record or {}).get('plan_sha256') != plan.sha256)
  if foreign:
    return dict(choice=None, scores={}, tied=[], refused=foreign, lines=[
        f'**No choice stated**: {len(foreign)} run(s) were not trained '
        f'under the plan `{plan.path}` (sha256 {plan.sha256[:12]}…): '
        f'{", ".join(foreign)}. Re-run them under it, or report without '
        '--plan.', ''])
  code_lines = []
  if plan.freeze:
    base, problems = freeze.record_problems(plan, records, root)
    if problems:
      return dict(choice=None, scores={}, tied=[], refused=list(problems),
                  lines=[
                      f'**No choice stated**: the plan `{plan.path}` fixes '
                      'its code, and not every run ran it: '
                      f'{"; ".join(problems)}.', ''])
    commits = sorted({e['commit'] for r in records.values()
                      for e in r['code']})
    code_lines = [
        f'Every run ran the plan\'s code: the {len(records)} runs\' records '
        f'name commit(s) {", ".join(c[:12] for c in commits)}, and nothing '
        'a run reads (official_td/, gin/) differs there from the plan\'s '
        f'commit {base[:12]}.', '']
  key = 'speedup' if plan.axis == 'budget' else 'speedup_measured'
  scores, kinds = {}, {}
  for name, _ in plan.candidates:
    entries = [e for e in arms_summary[name]['equal_quality']
               if e['budget'] in plan.budgets]
    scores[name] = statistics.fmean(e[key] for e in entries)
    kinds[name] = sorted({e[key + '_kind'] for e in entries} - {
        'interpolated'})
  best = max(scores.values())
  tied = [n for n, v in scores.items() if best - v <= plan.tie_margin]
  leader = max(scores, key=scores.get)
  choice = plan.tie_break if len(tied) > 1 and (
      plan.tie_break in tied) else leader
  bounds = [f'{n}: {", ".join(k)}' for n, k in kinds.items() if k]
  text = '; '.join(f'{n} {v:.3f}×' for n, v in scores.items())
  reason = (f'within {plan.tie_margin} of each other: {", ".join(tied)}; the '
            f'tie-break picks {choice}' if len(tied) > 1 else
            f'{choice} leads')
  return dict(choice=choice, scores=scores, tied=tied, refused=[], lines=[
      head + f'**{choice}**. The mean speedup at equal quality over budgets '
      f'{", ".join(f"{b:g}" for b in plan.budgets)} on the {plan.axis} axis: '
      f'{text} ({reason}).' + (f' Bounds, not values, for {"; ".join(bounds)}.'
                               if bounds else ''), ''] + code_lines)
