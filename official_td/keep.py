"""Every rule about how many tokens token dropping keeps, in one place.

- `keep_k_from_ratio`: a kept ratio becomes a count, `round(ratio * S)`;
- `check_keep_k`: a count must keep between 1 and `S - 1` tokens;
- `check_keep_setting`: the encoder's `keep_k` / `keep_ratio` pair;
- `default_drop_window` / `check_drop_window`: which layers see kept tokens;
- `encoder_keep_k`: what an `EncoderConfig` keeps of a sequence length;
- keep schedules: *phases*, `[(from_fraction, keep_k), ...]` in order, the
  first from 0.0, each holding until the next; `keep_k == seq_length` is a
  full-sequence phase (the plain step). `phase_steps` places them on a run of
  N steps. Each distinct k is one compiled train step (on a TPU, one
  compilation), so a schedule moves in a few discrete steps.

Pure Python: the configs, the encoder, the trainer and the benchmarks all
import it, and it imports nothing of theirs.
"""

from typing import Dict, List, Optional, Tuple

Phases = List[Tuple[float, int]]
# The paper's kept fraction (256 of 512), the encoder's default.
DEFAULT_KEEP_RATIO = 0.5
# What ranks the tokens: the paper's masked-LM loss, or its ablations.
IMPORTANCE_MODES = ('mlm_loss', 'frequency', 'random')


def keep_k_from_ratio(keep_ratio: float, seq_length: int) -> int:
  """Tokens kept of `seq_length` at `keep_ratio`: `round(ratio * S)`.

  The one place a kept ratio becomes a count; a ratio of 1.0 or more is the
  full sequence.
  """
  if keep_ratio >= 1.0:
    return seq_length
  return int(round(keep_ratio * seq_length))


def check_keep_k(keep_k: int, seq_length: int, what: str = 'keep_k',
                 fix: str = 'lower keep_k (or keep_ratio)',
                 length_name: str = '') -> int:
  """Returns `keep_k` if it keeps between 1 and `seq_length - 1` tokens.

  Args:
    keep_k: tokens kept in the drop window.
    seq_length: S.
    what: how the caller names the setting in the error.
    fix: what the user should change, for the error.
    length_name: the setting `seq_length` comes from, for the error.

  Raises:
    ValueError: naming `what`, the bounds and `fix`.
  """
  if not 0 < keep_k < seq_length:
    of = f' ({length_name})' if length_name else ''
    raise ValueError(
        f'{what} keeps {keep_k} of {seq_length} tokens{of}; token dropping '
        f'must keep between 1 and {seq_length - 1}: {fix}.')
  return keep_k


def check_keep_setting(keep_k: Optional[int], keep_ratio: Optional[float],
                       max_sequence_length: int):
  """Validates the encoder's `keep_k` / `keep_ratio` pair; returns them."""
  if (keep_k is None) == (keep_ratio is None):
    raise ValueError(
        'Set exactly one of keep_k (tokens kept) or keep_ratio (fraction '
        f'kept); got keep_k={keep_k}, keep_ratio={keep_ratio}.')
  if keep_k is not None:
    keep_k = check_keep_k(
        int(keep_k), max_sequence_length, f'keep_k={keep_k}',
        'the paper keeps half (e.g. 256 of 512)', 'max_sequence_length')
  else:
    keep_ratio = float(keep_ratio)
    if not 0.0 < keep_ratio < 1.0:
      raise ValueError(
          f'keep_ratio={keep_ratio} must be in (0, 1); the paper uses 0.5.')
  return keep_k, keep_ratio


def encoder_keep_k(config, seq_length: int) -> Optional[int]:
  """Tokens an `EncoderConfig` keeps of `seq_length` (None: no dropping)."""
  if not config.token_drop:
    return None
  if config.keep_k is not None:
    return config.keep_k
  return keep_k_from_ratio(config.keep_ratio, seq_length)


def default_drop_window(num_layers: int) -> Tuple[int, int]:
  """The paper's window `[L/2 - 1, L - 1)`, e.g. `[5, 11)` for 12 layers."""
  return num_layers // 2 - 1, num_layers - 1


def check_drop_window(num_layers: int, start: Optional[int],
                      end: Optional[int]) -> Tuple[int, int]:
  """Validates the drop window (None: the default's bound); returns it."""
  if num_layers < 2:
    raise ValueError(
        f'Token dropping needs at least 2 layers (a transition layer and a '
        f'full last layer); got num_layers={num_layers}.')
  default_start, default_end = default_drop_window(num_layers)
  start = default_start if start is None else int(start)
  end = default_end if end is None else int(end)
  if not 0 <= start < end <= num_layers - 1:
    raise ValueError(
        f'Invalid drop window [drop_start_layer={start}, drop_end_layer={end})'
        f' for {num_layers} layers: it needs 0 <= drop_start_layer < '
        f'drop_end_layer <= {num_layers - 1} (num_layers - 1), so that the '
        'window is non-empty and at least one full layer follows it. The '
        f"paper's window is [{default_start}, {default_end}).")
  return start, end


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
    if ratio != 1.0:
      check_keep_k(keep_k_from_ratio(ratio, seq_length), seq_length,
                   f'run.keep_schedule: keep ratio {ratio}',
                   'raise or lower the ratio, or use 1.0 (full sequences)')
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


# The per-sequence tie-break seeds of both trainers (`official_td.train`'s
# step and `official_td.keras_hub.train`'s batches): one formula.
DROP_SEED_STRIDE = 1000003


def drop_seeds(first_example, offsets, seed: int):
  """Each sequence's drop seed: its index in the run's stream of examples
  (`first_example + offsets`; the same after a restart and for any number
  of replicas) plus `seed * DROP_SEED_STRIDE`. Works on numbers and tensors
  alike."""
  return first_example + offsets + seed * DROP_SEED_STRIDE


SAMPLING_RANDOM_ERROR = (
    "importance_sampling_temperature with importance_mode='random': random "
    'scores have nothing to sample in proportion to; set the temperature to '
    "0, or use importance_mode='mlm_loss' (or 'frequency').")


SAMPLING_RANDOM_LTD_ERROR = (
    'importance_sampling_temperature with drop_mode=\'random_ltd\': '
    'random-LTD ranks nothing to sample from; set it to 0.')


def check_sampling_temperature(temperature, mode: str = 'mlm_loss') -> float:
  """`importance_sampling_temperature` as a float (0: the top-k by
  importance; τ > 0: a sample in proportion to importance^(1/τ)), or one
  clear error (both encoders' rule)."""
  temperature = float(temperature or 0.0)
  if not temperature >= 0.0 or temperature == float('inf'):
    raise ValueError(
        f'importance_sampling_temperature={temperature}: use 0 (the top-k by '
        'importance) or a finite positive temperature (1: sample in '
        'proportion to the importance).')
  if temperature and mode == 'random':
    raise ValueError(SAMPLING_RANDOM_ERROR)
  return temperature
