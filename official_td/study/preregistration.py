"""A study's plan, fixed before its runs: what it compares, on what, and the
rule that makes its choice.

A plan is a JSON file, committed before any of the study's runs
(`python -m official_td.study --plan=PLAN.json --output_dir=...`):

  {
    "question": "which keep schedule to carry to other text",
    "gin_file": ["gin/experiments/scale_study.gin"],   # the corpus and model
    "gin_bindings": [],
    "candidates": {"k64": ["encoder.keep_k = 64"],
                   "k32_schedule": ["encoder.keep_k = 32", "..."]},
    "others": {"random_ltd": ["encoder.drop_mode = 'random_ltd'"]},
    "budgets": [0.6, 0.8], "baseline_budgets": [1.3], "seeds": 2,
    "finetune": false,
    "rule": "mean_speedup", "axis": "measured",
    "tie_margin": 0.03, "tie_break": "k64"
  }

With `"finetune": true` (the default) the plan fixes the task too:
`finetune_gin` (default `gin/finetune/embedded_source.gin`),
`finetune_bindings` and `embedded_task` (default true: the embedded task,
created in OUTPUT/task), as the study's flags of those names would.

`candidates` are the arms the rule chooses among; `others` are arms run and
reported beside them (e.g. a rival method) that the rule does not choose.
The rule `mean_speedup`: each candidate's speedup at equal quality on
`axis` (`budget`: the nominal budgets; `measured`: the runs' own train-loop
and compilation seconds), averaged over the plan's budgets; the highest
wins, unless another is within `tie_margin` of it, and then `tie_break`
(which must be among the tied) does.

`data_command` (optional) is the command that makes the data the plan's
bindings read, committed with it. `"freeze": true` fixes the code too: the
study refuses to train unless the plan is committed and this checkout runs
that commit's code (nothing a run reads changed since, committed or not;
official_td/study/freeze.py).

The plan's sha256 is recorded for every run the study trains under it
(`OUTPUT/plan_records/RUN/seedN.json`), with the commit each part of the run
ran from. The report (official_td/study/choice.py) states the choice only
when every run it reads was trained under this very file, and, for a
freezing plan, from its commit's code; otherwise it says which runs were
not, and chooses nothing.
"""

import dataclasses
import hashlib
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from official_td import publish

RULES = ('mean_speedup',)
AXES = ('budget', 'measured')
RECORDS = 'plan_records'
REQUIRED = ('question', 'gin_file', 'candidates', 'budgets', 'seeds', 'rule',
            'axis', 'tie_margin', 'tie_break')
OPTIONAL = ('gin_bindings', 'others', 'baseline_budgets', 'finetune',
            'finetune_gin', 'finetune_bindings', 'embedded_task', 'freeze',
            'data_command')
# The study's flags a plan sets (passing one beside a plan is refused).
PLAN_FLAGS = ('arm', 'budgets', 'baseline_budgets', 'seeds', 'finetune',
              'gin_file', 'gin_bindings', 'finetune_gin', 'finetune_bindings',
              'embedded_task')
DEFAULT_FINETUNE_GIN = 'gin/finetune/embedded_source.gin'


@dataclasses.dataclass(frozen=True)
class Plan:
  path: str
  sha256: str
  question: str
  candidates: Tuple[Tuple[str, Tuple[str, ...]], ...]
  others: Tuple[Tuple[str, Tuple[str, ...]], ...]
  budgets: Tuple[float, ...]
  baseline_budgets: Tuple[float, ...]
  seeds: int
  rule: str
  axis: str
  tie_margin: float
  tie_break: str
  gin_file: Tuple[str, ...] = ()
  gin_bindings: Tuple[str, ...] = ()
  finetune: bool = True
  finetune_gin: str = DEFAULT_FINETUNE_GIN
  finetune_bindings: Tuple[str, ...] = ()
  embedded_task: bool = True
  freeze: bool = False
  data_command: str = ''

  @property
  def arms(self) -> List[Tuple[str, List[str]]]:
    """Every arm the study trains: the candidates, then the others."""
    return [(n, list(b)) for n, b in self.candidates + self.others]


def load(path: str) -> Plan:
  """Reads and checks the plan at `path` (any `tf.io.gfile` path)."""
  if not tf.io.gfile.exists(path):
    raise ValueError(f'--plan={path}: no such file. Write the plan (JSON, '
                     'see official_td/study/preregistration.py) and commit '
                     'it before the study runs.')
  with tf.io.gfile.GFile(path, 'rb') as f:
    content = f.read()
  try:
    raw = json.loads(content)
  except ValueError as e:
    raise ValueError(f'--plan={path} is not JSON: {e}') from None

  def bad(what):
    return ValueError(f'--plan={path}: {what} (see the format in '
                      'official_td/study/preregistration.py).')

  if not isinstance(raw, dict):
    raise bad('the plan is a JSON object')
  missing = [k for k in REQUIRED if k not in raw]
  unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
  if missing or unknown:
    raise bad(f'missing {missing}, unknown {unknown}')

  def arms(key):
    value = raw.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(b, list) for b in value.values()):
      raise bad(f'"{key}" maps arm names to lists of gin bindings')
    return tuple((n, tuple(b)) for n, b in value.items())

  candidates, others = arms('candidates'), arms('others')
  names = [n for n, _ in candidates + others]
  if not candidates:
    raise bad('"candidates" names at least one arm')
  if len(set(names)) != len(names):
    raise bad('an arm is both a candidate and another arm')
  if raw['rule'] not in RULES:
    raise bad(f'"rule" is one of {RULES}')
  if raw['axis'] not in AXES:
    raise bad(f'"axis" is one of {AXES}')
  if raw['tie_break'] not in dict(candidates):
    raise bad('"tie_break" names a candidate')
  if not isinstance(raw['seeds'], int) or raw['seeds'] < 1:
    raise bad('"seeds" is a number of seeds, at least 1')
  if not isinstance(raw['tie_margin'], (int, float)) or raw['tie_margin'] < 0:
    raise bad('"tie_margin" is a speedup difference, at least 0')
  if not isinstance(raw.get('finetune_bindings', []), list):
    raise bad('"finetune_bindings" is a list of gin bindings')
  if not isinstance(raw.get('freeze', False), bool):
    raise bad('"freeze" is true or false')
  if not isinstance(raw.get('data_command', ''), str):
    raise bad('"data_command" is the command that makes the data, a string')
  return Plan(
      path=path, sha256=hashlib.sha256(content).hexdigest(),
      question=str(raw['question']), candidates=candidates, others=others,
      budgets=tuple(float(b) for b in raw['budgets']),
      baseline_budgets=tuple(float(b) for b in raw.get('baseline_budgets',
                                                       [])),
      seeds=raw['seeds'], rule=raw['rule'], axis=raw['axis'],
      tie_margin=float(raw['tie_margin']), tie_break=raw['tie_break'],
      gin_file=tuple(raw.get('gin_file', ())),
      gin_bindings=tuple(raw.get('gin_bindings', ())),
      finetune=bool(raw.get('finetune', True)),
      finetune_gin=str(raw.get('finetune_gin', DEFAULT_FINETUNE_GIN)),
      finetune_bindings=tuple(raw.get('finetune_bindings', ())),
      embedded_task=bool(raw.get('embedded_task', True)),
      freeze=raw.get('freeze', False),
      data_command=raw.get('data_command', ''))


def _record_path(out: str, name: str, seed: int) -> str:
  return os.path.join(out, RECORDS, name, f'seed{seed}.json')


def record_run(out: str, name: str, seed: int, plan: Plan,
               code: Optional[Dict] = None):
  """Records that the study trains run `name`/`seed` under `plan`; `code`
  (the commit it runs from, `freeze.code_entry`) is appended to the
  record's entries, one per part of a study run in parts."""
  path = _record_path(out, name, seed)
  tf.io.gfile.makedirs(os.path.dirname(path))
  record = dict(plan=plan.path, plan_sha256=plan.sha256)
  if code is not None:
    old = publish.read_json(path) if tf.io.gfile.exists(path) else {}
    same_plan = old.get('plan_sha256') == plan.sha256
    record['code'] = (old.get('code', []) if same_plan else []) + [code]
  publish.write_json(path, record)


def read_records(out: str, runs) -> Dict[Tuple[str, int], Optional[Dict]]:
  """Each run's plan record (None: no record)."""
  records = {}
  for name, _, _, seed, _ in runs:
    path = _record_path(out, name, seed)
    records[(name, seed)] = (publish.read_json(path)
                             if tf.io.gfile.exists(path) else None)
  return records


def settings_overrides(plan: Plan, explicit: Sequence[str]) -> Dict:
  """What the plan sets of the study's flags; refuses a flag given beside
  it (`explicit`: the flags the user passed)."""
  clash = sorted(set(explicit) & set(PLAN_FLAGS))
  if clash:
    raise ValueError(
        f'--plan={plan.path} sets the study\'s arms, budgets, seeds, '
        f'fine-tuning task and config; drop --{", --".join(clash)} (or edit '
        'the plan before any run).')
  return dict(arms=plan.arms, budgets=list(plan.budgets),
              baseline_budgets=list(plan.baseline_budgets), seeds=plan.seeds,
              finetune=plan.finetune, gin_file=list(plan.gin_file),
              gin_bindings=list(plan.gin_bindings),
              finetune_gin=plan.finetune_gin,
              finetune_bindings=list(plan.finetune_bindings),
              embedded_task=plan.embedded_task)
