"""The data benchmark's ratios, from its runs' figures (no flags: the
arithmetic is tested on its own)."""

from typing import Dict


def _past_start_up(numerator: float, seconds_past_1x: float):
  """`numerator / seconds_past_1x`, rounded; None where the larger run took
  no longer than its 1x run (start-up dominates both, so there is no rate
  to measure: the corpus is too small, and a division would be by <= 0)."""
  if seconds_past_1x <= 0:
    return None
  return round(numerator / seconds_past_1x, 3)


def ratios(runs: Dict[str, Dict], cores: int, seq_length: int,
           one_worker_8x: bool, one_file: bool) -> Dict:
  """The JSON result's ratios: memory 8x/1x, workers, marginal rates.

  `runs`: each run's figures by name (`beam_1x`, `beam_8x`, ...; the
  `--one_worker_8x` and `--one_file` runs when those are set).
  """
  result = dict(
      cores=cores, seq_length=seq_length, runs=runs,
      rss_8x_over_1x=round(runs['beam_8x']['peak_rss_total_mb'] /
                           runs['beam_1x']['peak_rss_total_mb'], 3),
      pss_8x_over_1x=round(runs['beam_8x']['peak_pss_total_mb'] /
                           runs['beam_1x']['peak_pss_total_mb'], 3),
      all_workers_over_one=round(runs['beam_1x']['mb_per_s'] /
                                 runs['beam_1x_one_worker']['mb_per_s'], 3))
  if one_worker_8x:
    result['all_workers_over_one_8x'] = round(
        runs['beam_8x']['mb_per_s'] / runs['beam_8x_one_worker']['mb_per_s'],
        3)
  marginal = {}
  for name, small_run, large_run in (
      ('all_workers', 'beam_1x', 'beam_8x'),
      ('one_worker', 'beam_1x_one_worker', 'beam_8x_one_worker')):
    a, b = runs.get(small_run), runs.get(large_run)
    if a and b:
      marginal[name] = _past_start_up(b['text_mb'] - a['text_mb'],
                                      b['seconds'] - a['seconds'])
  result['marginal_mb_per_s'] = marginal
  result['marginal_mb_per_s_per_core'] = (
      None if marginal['all_workers'] is None
      else round(marginal['all_workers'] / cores, 3))
  if None in marginal.values():
    result['marginal_note'] = (
        'a marginal rate is null where the larger run took no longer than '
        'the smaller: start-up dominates both; raise --size_mb to measure it')
  if one_file:
    one, single = runs['one_file'], runs['one_file_one_worker']
    result['one_file_all_workers_over_one'] = round(
        single['seconds'] / one['seconds'], 3)
    # Start-up excluded: each run's seconds past its worker count's 1x run.
    result['one_file_all_workers_over_one_past_1x'] = _past_start_up(
        single['seconds'] - runs['beam_1x_one_worker']['seconds'],
        one['seconds'] - runs['beam_1x']['seconds'])
  for scale in ('1x', '8x'):
    if f'model_garden_{scale}' in runs:
      result[f'beam_over_model_garden_{scale}'] = round(
          runs[f'model_garden_{scale}']['seconds'] /
          runs[f'beam_{scale}']['seconds'], 3)
  return result
