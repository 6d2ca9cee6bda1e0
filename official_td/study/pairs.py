"""What the report gives beside each arm's comparison with the baseline:
every other arm against the first, seed by seed, and how many times each
run read the training data.

The first arm is the reference (a plan's first candidate: the method as it
stands); each other arm's held-out loss and fine-tuned accuracy at a budget
minus the reference's at the same budget and seed. The passes over the data
are a run's steps times the global batch over the training sequences; those
two facts are kept in OUTPUT/data.json the first time a report finds the data
(a report from a copy of the records, without the data, reads them there).
Report-only (official_td/study/freeze.py's REPORT_ONLY): no run reads it.
"""

import os
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from official_td import publish
from official_td import rundir
from official_td.study.plan import BASELINE
from official_td.study.speedup import paired_differences

DATA_FACTS = 'data.json'


def _per_seed(paired: Dict, digits: int) -> str:
  return ', '.join(f'{d["seed"]}: {d["difference"]:+.{digits}f}'
                   for d in paired['per_seed']) or '–'


def against_first(rows: List[Dict], arms: Sequence[str]) -> Tuple[
    List[str], Dict]:
  """Each arm after the first minus the first, paired by seed at each
  budget: the report's lines and {arm: {budget: {loss, finetune}}}."""
  if len(arms) < 2:
    return [], {}
  first, entries = arms[0], {}
  lines = ['', f'Against {first} at the same budget and seed (arm − {first}; '
           'held-out MLM loss, and fine-tuned accuracy in points):', '',
           '| arm | budget | loss, mean ± std | per seed | fine-tuned, '
           'mean ± std | per seed |', '|---|---|---|---|---|---|']
  for arm in arms[1:]:
    for budget in sorted({r['budget'] for r in rows if r['arm'] == arm}):
      loss = paired_differences(arm, budget, rows, against=first)
      tuned = paired_differences(arm, budget, rows, against=first,
                                 key='finetune_accuracy')
      entries.setdefault(arm, {})[f'{budget:g}'] = dict(loss=loss,
                                                        finetune=tuned)
      points = dict(tuned, per_seed=[dict(d, difference=100 * d['difference'])
                                     for d in tuned['per_seed']])
      lines.append(
          f'| {arm} | {budget:.2f} | {loss["mean"]:+.4f} ± {loss["std"]:.4f} '
          f'| {_per_seed(loss, 4)} | '
          + (f'{100 * tuned["mean"]:+.1f} ± {100 * tuned["std"]:.1f} | '
             if tuned['per_seed'] else '– | ')
          + f'{_per_seed(points, 1)} |')
  return lines, entries


def data_facts(out: str, train_data: str,
               global_batch_size: int) -> Optional[Dict]:
  """The training sequences and global batch the passes are counted from:
  OUTPUT/data.json, written from the data's summaries when they are here;
  None when neither is (a copy of the records without the data)."""
  path = os.path.join(out, DATA_FACTS)
  if tf.io.gfile.exists(path):
    return publish.read_json(path)
  directories = sorted({os.path.dirname(p.strip())
                        for p in train_data.split(',') if p.strip()})
  try:
    summaries = [rundir.read_data_summary(d) for d in directories]
  except (ValueError, tf.errors.OpError):  # (not here, or not readable)
    return None
  sequences = [s.get('train', {}).get('sequences') for s in summaries]
  if not sequences or None in sequences:
    return None  # (data made before the summaries counted sequences)
  facts = dict(train_sequences=sum(sequences),
               global_batch_size=global_batch_size)
  publish.write_json(path, facts)
  return facts


def passes_lines(rows: List[Dict], arms: Sequence[str],
                 facts: Optional[Dict]) -> Tuple[List[str], Dict]:
  """Passes over the training data of each (arm, budget)'s runs."""
  if not facts:
    return [], {}
  passes = {}
  for arm in [BASELINE] + list(arms):
    for budget in sorted({r['budget'] for r in rows if r['arm'] == arm}):
      steps = next(r['steps'] for r in rows
                   if r['arm'] == arm and r['budget'] == budget)
      passes.setdefault(arm, {})[f'{budget:g}'] = round(
          steps * facts['global_batch_size'] / facts['train_sequences'], 3)
  text = '; '.join(f'{arm} ' + ', '.join(f'{b}: {p:.2f}' for b, p in
                                         by_budget.items())
                   for arm, by_budget in passes.items())
  return ['', f'Passes over the {facts["train_sequences"]:,} training '
          f'sequences (steps × the global batch of '
          f'{facts["global_batch_size"]}, per budget): {text}.'], passes
