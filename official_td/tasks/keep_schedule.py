"""Keep schedules: how many tokens the drop window keeps over training.

One representation serves training, the step-time benchmark and the study:
*phases*, `[(from_fraction, keep_k), ...]` in order, the first from 0.0, each
holding until the next; `keep_k == seq_length` is a full-sequence phase (the
plain step). `phase_steps` places them on a run of N steps. Each distinct k
is one compiled train step (on a TPU, one compilation), so a schedule moves
in a few discrete steps.
"""

from typing import Dict, List, Optional, Tuple

from official_td.networks import keep_k_from_ratio

Phases = List[Tuple[float, int]]

_EXAMPLE = 'e.g. run.keep_schedule = ((0.0, 0.25), (0.5, 0.5), (0.9, 1.0))'


def check_keep_schedule(run, seq_length: int):
  """Raises ValueError unless `run.keep_schedule` is a usable schedule.

  Args:
    run: a `RunConfig` (its `keep_schedule` and `full_sequence_fraction`).
    seq_length: S.
  """
  schedule = run.keep_schedule
  try:
    phases = [(float(f), float(r)) for f, r in schedule]
  except (TypeError, ValueError):
    raise ValueError(
        f'run.keep_schedule={schedule!r} must be pairs (from_fraction, '
        f'keep_ratio); {_EXAMPLE}.') from None
  if not phases or phases[0][0] != 0.0:
    raise ValueError(f'run.keep_schedule={schedule!r} must start at fraction '
                     f'0.0; {_EXAMPLE}.')
  fractions = [f for f, _ in phases]
  if fractions != sorted(set(fractions)) or fractions[-1] >= 1.0:
    raise ValueError(
        f'run.keep_schedule={schedule!r}: the fractions must increase and stay '
        f'below 1.0; {_EXAMPLE}.')
  for _, ratio in phases:
    k = keep_k_from_ratio(ratio, seq_length)
    if ratio != 1.0 and not 0 < k < seq_length:
      raise ValueError(
          f'run.keep_schedule: keep ratio {ratio} keeps {k} of {seq_length} '
          f'tokens; a ratio must keep between 1 and {seq_length - 1} tokens, '
          'or be 1.0 (full sequences).')
  if run.full_sequence_fraction:
    raise ValueError(
        'Set either run.keep_schedule or run.full_sequence_fraction, not '
        'both: end the schedule with (1 - fraction, 1.0) instead.')


def keep_phases(run, seq_length: int, keep_k: Optional[int]) -> Phases:
  """The run's keep schedule as phases `[(from_fraction, keep_k), ...]`.

  Args:
    run: a `RunConfig`: its `keep_schedule`, or else `full_sequence_fraction`
      (the two-phase case: the encoder's k, then full sequences).
    seq_length: S; a phase keeping S tokens runs full sequences.
    keep_k: the encoder's kept tokens (None: a model without dropping, one
      full-sequence phase).

  Returns:
    Phases in order, the first at 0.0; consecutive phases with the same k are
    merged, and of two phases starting at the same fraction the later wins.
  """
  if keep_k is None:
    return [(0.0, seq_length)]
  if run.keep_schedule is None:
    schedule = [(0.0, keep_k)]
    if run.full_sequence_fraction:
      schedule.append((1.0 - run.full_sequence_fraction, seq_length))
  else:
    schedule = [(float(f), keep_k_from_ratio(r, seq_length))
                for f, r in run.keep_schedule]
  return _merge(schedule)


def phase_steps(phases: Phases, train_steps: int) -> List[Tuple[int, int]]:
  """Phases placed on a run: `[(first_step, keep_k), ...]`.

  A phase starts at `round(fraction * train_steps)`; phases left without
  steps disappear and equal neighbours merge.
  """
  placed = []
  for fraction, k in phases:
    start = int(round(train_steps * fraction))
    if start >= train_steps and placed:
      continue
    placed.append((start, k))
  return _merge(placed)


def _merge(phases):
  merged = []
  for start, k in phases:
    if merged and merged[-1][0] == start:
      merged[-1] = (start, k)
      if len(merged) > 1 and merged[-2][1] == k:
        merged.pop()
    elif not merged or merged[-1][1] != k:
      merged.append((start, k))
  return merged


def schedule_ratio(phases: Phases, step_s: Dict[int, float],
                   plain_s: float) -> float:
  """Mean step time of a keep schedule over the plain step's.

  Args:
    phases: `[(from_fraction, keep_k), ...]`; keep_k = S runs a plain step.
    step_s: seconds per step for each dropping keep_k.
    plain_s: seconds per plain (full-sequence) step.
  """
  ends = [f for f, _ in phases[1:]] + [1.0]
  total = sum((end - start) * step_s.get(k, plain_s)
              for (start, k), end in zip(phases, ends))
  return total / plain_s
