r"""Budgeted time-to-quality study: token dropping against the baseline.

  python -m official_td.compare --gin_file=gin/experiments/demo.gin \
      --output_dir=runs/study --budgets=0.6,0.7,0.8,0.9 --seeds=3

The question a user pays for is "the same quality for less wall-clock", so
the arms get budgets, not equal steps:

1. `official_td.benchmark` times the plain step and each arm's token-drop
   steps (every k of its keep schedule) side by side in one process; an arm's
   `schedule_ratio` is its mean step time over the plain step's. (Separate
   runs' clocks drift too much on a shared machine to set budgets.)
2. The baseline (`encoder.token_drop = False`) trains the config's
   `run.train_steps` (budget 1.0). An arm with budget b trains
   `round(b * steps / schedule_ratio)` steps, with its own full learning-rate
   schedule (warmup scaled by the same factor) and keep schedule.
3. Every run trains `--seeds` times (seeds run.seed, run.seed + 1, ...), each a
   subprocess with its own model dir, evaluating on the held-out data
   `--evals_per_run` times; each final checkpoint is fine-tuned on the same
   task (the embedded one by default) with the same seed.
4. The report, in --output_dir: `study.csv` (one row per run), `study.md`
   (per arm and budget: train-loop seconds, held-out MLM loss and accuracy on
   full sequences, fine-tuned accuracy, mean ± std over seeds; the break-even
   budget), `study_summary.json`, `loss_vs_time.png` (held-out loss against
   train-loop seconds, every run) and `loss_vs_budget.png`.

The break-even budget is the smallest fraction of the baseline's time at which
an arm's mean held-out loss is at or below the baseline's mean, interpolated
linearly between neighbouring budgets; its range comes from the same
computation per seed (each seed's arm against that seed's baseline).

A study takes hours: re-running the same command skips finished runs and
resumes an interrupted one from its checkpoint. Measured step times are
stored, so the steps never change within a study.

Arms: `--arm=NAME=BINDINGS` (gin bindings separated by `;`, on top of
--gin_file/--gin_bindings), repeatable; the default is one arm,
`token_drop`, with the config as it is.
"""

import os

# TensorFlow's C++ start-up chatter is not for the console unless asked for
# (the runs, subprocesses, inherit the setting).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import csv  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json  # pylint: disable=g-import-not-at-top
import math  # pylint: disable=g-import-not-at-top
import statistics  # pylint: disable=g-import-not-at-top
import subprocess  # pylint: disable=g-import-not-at-top
import sys  # pylint: disable=g-import-not-at-top
from typing import Dict, List, Optional, Sequence, Tuple  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td import configurables  # pylint: disable=g-import-not-at-top
from official_td import io_utils  # pylint: disable=g-import-not-at-top
from official_td import runtime  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_multi_string('gin_file', ['gin/experiments/demo.gin'],
                          'Pretraining gin files (shared by every run).')
flags.DEFINE_multi_string('gin_bindings', [], 'Pretraining bindings (all).')
flags.DEFINE_string('output_dir', None, 'Where runs and reports go.')
flags.DEFINE_list('budgets', ['0.6', '0.7', '0.8', '0.9'],
                  'Token-drop budgets, fractions of the baseline\'s time.')
flags.DEFINE_integer('seeds', 3, 'Runs per arm and budget (seeds).')
flags.DEFINE_multi_string(
    'arm', [], 'A token-drop arm: NAME=BINDING; BINDING (default: one arm, '
    '"token_drop", with the config as it is).')
flags.DEFINE_integer('evals_per_run', 5,
                     'Held-out evaluations per run (the curves).')
flags.DEFINE_integer('benchmark_steps', 10, 'Timed steps per step kind.')
flags.DEFINE_string('finetune_gin', 'gin/finetune/embedded_source.gin',
                    'Fine-tuning gin file.')
flags.DEFINE_multi_string('finetune_bindings', [], 'Fine-tuning bindings.')
flags.DEFINE_bool('embedded_task', True,
                  'Create the embedded classification task in OUTPUT/task and '
                  'fine-tune on it.')

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


def run_name(arm: str, budget: float) -> str:
  return BASELINE if arm == BASELINE else f'{arm}_b{budget:.2f}'


# ---------------------------------------------------------------- running
class RunFailed(ValueError):
  """A subprocess of the study failed (its own output says why)."""


def _run(args: List[str]):
  print('$ python -m ' + ' '.join(args), flush=True)
  proc = subprocess.run([sys.executable, '-m'] + args, check=False)
  if proc.returncode:
    raise RunFailed(f'`python -m {args[0]}` failed (exit code '
                       f'{proc.returncode}); its output is above. Re-running '
                       'the study resumes where it stopped.')


def _read_json(path):
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def check_settings(out: str, settings: Dict):
  """Records the study's settings; a re-run must use the same ones."""
  path = os.path.join(out, 'study.json')
  if tf.io.gfile.exists(path):
    stored = _read_json(path)
    if stored != settings:
      changed = sorted(k for k in set(stored) | set(settings)
                       if stored.get(k) != settings.get(k))
      raise ValueError(
          f'{out} holds a study with other settings ({", ".join(changed)} '
          'differ). Re-run it with its own flags (see study.json) to resume '
          'it, or choose a new --output_dir.')
  else:
    tf.io.gfile.makedirs(out)
    io_utils.write_json(path, settings)


def measure_ratios(out: str, pretrain_flags: List[str],
                   arms: List[Tuple[str, List[str]]],
                   steps: int) -> Dict[str, Dict]:
  """The benchmark of each arm (stored: a resumed study keeps its steps)."""
  results = {}
  for name, bindings in arms:
    path = os.path.join(out, 'step_times', f'{name}.json')
    if not tf.io.gfile.exists(path):
      args = ['official_td.benchmark', f'--steps={steps}', '--warmup_steps=2'
             ] + pretrain_flags + [f'--gin_bindings={b}' for b in bindings]
      print('$ python -m ' + ' '.join(args), flush=True)
      proc = subprocess.run([sys.executable, '-m'] + args, check=False,
                            capture_output=True, text=True)
      if proc.returncode:
        raise RunFailed(f'The step-time benchmark of arm {name!r} failed:'
                           f'\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}')
      result = json.loads(proc.stdout.strip().splitlines()[-1])
      tf.io.gfile.makedirs(os.path.dirname(path))
      io_utils.write_json(path, result)
    results[name] = _read_json(path)
    print(f'{name}: token-drop step time / plain step time = '
          f'{results[name]["schedule_ratio"]:.3f} (measured side by side)',
          flush=True)
  return results


def plan(arms, budgets, seeds: List[int], ratios: Dict[str, Dict],
         baseline_steps: int, warmup_steps: int, evals_per_run: int):
  """Every run of the study: (run name, arm, budget, seed, bindings)."""
  runs = []
  for seed in seeds:
    specs = [(BASELINE, 1.0, list(BASELINE_BINDINGS), baseline_steps)]
    for arm, bindings in arms:
      ratio = ratios[arm]['schedule_ratio']
      for budget in budgets:
        specs.append((arm, budget, bindings,
                      budget_steps(budget, ratio, baseline_steps)))
    for arm, budget, bindings, steps in specs:
      warmup = int(round(warmup_steps * steps / baseline_steps))
      bindings = bindings + [
          f'run.seed = {seed}', f'run.train_steps = {steps}',
          f'optimizer.warmup_steps = {warmup}',
          f'run.eval_interval = {max(1, math.ceil(steps / evals_per_run))}']
      runs.append((run_name(arm, budget), arm, budget, seed, bindings))
  return runs


def run_one(out, name, seed, bindings, pretrain_flags, finetune_flags):
  """Pretrains (or resumes) and fine-tunes one run unless it is finished."""
  model_dir = os.path.join(out, 'runs', name, f'seed{seed}')
  finetune_dir = os.path.join(out, 'finetune', name, f'seed{seed}')
  if tf.io.gfile.exists(os.path.join(model_dir, 'results.json')):
    print(f'[finished] {model_dir}', flush=True)
  else:
    _run(['official_td.train', f'--model_dir={model_dir}'] + pretrain_flags +
         [f'--gin_bindings={b}' for b in bindings])
  if tf.io.gfile.exists(os.path.join(finetune_dir, 'results.json')):
    print(f'[finished] {finetune_dir}', flush=True)
    return
  if tf.io.gfile.exists(finetune_dir):
    # The study's own fine-tuning, interrupted before its results: redo it.
    print(f'Removing the interrupted fine-tuning {finetune_dir}', flush=True)
    tf.io.gfile.rmtree(finetune_dir)
  _run(['official_td.finetune', f'--model_dir={finetune_dir}'] +
       finetune_flags + [f"--gin_bindings=finetune.pretrained_dir = "
                         f"'{model_dir}'", f'--gin_bindings=finetune.seed = '
                         f'{seed}'])


# ---------------------------------------------------------------- report
def loss_curve(model_dir):
  """(seconds since the first summary, step, mlm_loss) of the training."""
  points = []
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'mlm_loss':
          points.append((event.wall_time, event.step, _scalar(value)))
  points.sort()
  if not points:
    return []
  start = points[0][0]
  return [(t - start, s, l) for t, s, l in points]


def eval_curve(model_dir) -> List[Tuple[float, int, float]]:
  """(train-loop seconds, step, held-out MLM loss) of each evaluation.

  A step evaluated twice (a run resumed from an earlier checkpoint) keeps
  its latest record.
  """
  latest = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'eval', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag in ('mlm_loss', 'train_seconds'):
          key = (event.step, value.tag)
          if key not in latest or latest[key][0] <= event.wall_time:
            latest[key] = (event.wall_time, _scalar(value))
  steps = sorted({step for step, tag in latest if tag == 'mlm_loss'})
  return [(latest[(s, 'train_seconds')][1], s, latest[(s, 'mlm_loss')][1])
          for s in steps if (s, 'train_seconds') in latest]


def _scalar(value) -> float:
  return (value.simple_value if value.HasField('simple_value') else
          float(tf.make_ndarray(value.tensor)))


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


def format_break_even(value: Optional[float], kind: str,
                      budgets: Sequence[float]) -> str:
  if kind == 'above':
    return f'> {max(budgets):.2f}'
  return ('≤ ' if kind == 'at_most' else '') + f'{value:.3f}'


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return float('nan'), float('nan')
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return statistics.fmean(values), std


def collect(out: str, runs) -> List[Dict]:
  """One row per finished run (pretraining and fine-tuning results)."""
  rows = []
  for name, arm, budget, seed, _ in runs:
    model_dir = os.path.join(out, 'runs', name, f'seed{seed}')
    pre = _read_json(os.path.join(model_dir, 'results.json'))
    fine = _read_json(os.path.join(out, 'finetune', name, f'seed{seed}',
                                   'results.json'))
    rows.append(dict(
        run=name, arm=arm, budget=budget, seed=seed, steps=pre['step'],
        train_seconds=pre['train_seconds'],
        eval_mlm_loss=round(pre['eval_mlm_loss'], 5),
        eval_mlm_accuracy=round(pre['eval_mlm_accuracy'], 5),
        finetune_accuracy=round(fine['eval_accuracy'], 5)))
  return rows


def summarize(out: str, rows: List[Dict], arms: Sequence[str],
              ratios: Dict[str, Dict]) -> Dict:
  """Writes study.csv, study.md, study_summary.json; returns the summary."""
  with tf.io.gfile.GFile(os.path.join(out, 'study.csv'), 'w') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

  base = [r for r in rows if r['arm'] == BASELINE]
  base_seconds = statistics.fmean(r['train_seconds'] for r in base)
  base_loss = _mean_std([r['eval_mlm_loss'] for r in base])
  base_by_seed = {r['seed']: r['eval_mlm_loss'] for r in base}
  groups = [(BASELINE, 1.0)] + sorted(
      {(r['arm'], r['budget']) for r in rows if r['arm'] != BASELINE},
      key=lambda g: (list(arms).index(g[0]), g[1]))
  lines = [
      '| arm | budget | steps | seeds | train-loop s | time / baseline | '
      'held-out MLM loss | held-out MLM accuracy | fine-tuned accuracy |',
      '|---|---|---|---|---|---|---|---|---|']
  table = []
  for arm, budget in groups:
    group = [r for r in rows if r['arm'] == arm and r['budget'] == budget]
    seconds = _mean_std([r['train_seconds'] for r in group])
    loss = _mean_std([r['eval_mlm_loss'] for r in group])
    accuracy = _mean_std([r['eval_mlm_accuracy'] for r in group])
    finetune = _mean_std([r['finetune_accuracy'] for r in group])
    table.append(dict(arm=arm, budget=budget, steps=group[0]['steps'],
                      seeds=len(group), train_seconds=seconds[0],
                      time_fraction=seconds[0] / base_seconds,
                      eval_mlm_loss=loss, eval_mlm_accuracy=accuracy,
                      finetune_accuracy=finetune))
    lines.append(
        f'| {arm} | {budget:.2f} | {group[0]["steps"]} | {len(group)} | '
        f'{seconds[0]:.1f} ± {seconds[1]:.1f} | '
        f'{seconds[0] / base_seconds:.3f} | {loss[0]:.4f} ± {loss[1]:.4f} | '
        f'{accuracy[0]:.4f} ± {accuracy[1]:.4f} | '
        f'{finetune[0]:.4f} ± {finetune[1]:.4f} |')

  summary = dict(baseline_eval_mlm_loss=base_loss[0],
                 baseline_train_seconds=base_seconds, arms={})
  lines += ['', 'Break-even budget (smallest fraction of the baseline\'s '
            'time at which the mean held-out MLM loss is at or below the '
            f'baseline\'s {base_loss[0]:.4f}; range: the same per seed):', '']
  for arm in arms:
    entries = [t for t in table if t['arm'] == arm]
    budgets = [t['budget'] for t in entries]
    value, kind = break_even(budgets, [t['eval_mlm_loss'][0] for t in entries],
                             base_loss[0])
    per_seed = []
    for seed, target in sorted(base_by_seed.items()):
      seed_rows = sorted((r['budget'], r['eval_mlm_loss']) for r in rows
                         if r['arm'] == arm and r['seed'] == seed)
      if seed_rows:
        per_seed.append(break_even([b for b, _ in seed_rows],
                                   [l for _, l in seed_rows], target))
    seed_text = ', '.join(format_break_even(v, k, budgets)
                          for v, k in per_seed)
    # The same crossing on the axis of measured train-loop time (the
    # budgets come from bare step times; the loop adds its own overhead).
    fractions = [t['time_fraction'] for t in entries]
    measured, measured_kind = break_even(
        fractions, [t['eval_mlm_loss'][0] for t in entries], base_loss[0])
    summary['arms'][arm] = dict(
        break_even=value, break_even_kind=kind,
        break_even_measured_time=measured,
        break_even_measured_time_kind=measured_kind,
        per_seed=[dict(break_even=v, kind=k) for v, k in per_seed],
        schedule_ratio=ratios[arm]['schedule_ratio'],
        step_s=ratios[arm]['step_s'],
        plain_step_s=ratios[arm]['plain_step_s'])
    lines.append(
        f'- **{arm}**: {format_break_even(value, kind, budgets)} '
        f'(per seed: {seed_text}); measured step-time ratio '
        f'{ratios[arm]["schedule_ratio"]:.3f}; on the measured train-loop '
        f'time axis: {format_break_even(measured, measured_kind, fractions)}')
  io_utils.write_json(os.path.join(out, 'study_summary.json'), summary)
  with tf.io.gfile.GFile(os.path.join(out, 'study.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return summary


def plot(out: str, rows: List[Dict], arms: Sequence[str]):
  """loss_vs_time.png (every run) and loss_vs_budget.png (means ± std)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  colors = plt.get_cmap('tab10')
  fig, ax = plt.subplots(figsize=(7, 4.5))
  labelled = set()
  for r in rows:
    curve = eval_curve(os.path.join(out, 'runs', r['run'], f'seed{r["seed"]}'))
    if not curve:
      continue
    label = r['run'] if r['run'] not in labelled else None
    labelled.add(r['run'])
    index = 0 if r['arm'] == BASELINE else 1 + list(arms).index(r['arm'])
    alpha = 0.35 + 0.65 * min(r['budget'], 1.0)
    ax.plot([c[0] for c in curve], [c[2] for c in curve], marker='.',
            color=colors(index), alpha=alpha, label=label,
            linewidth=2 if r['arm'] == BASELINE else 1)
  ax.set_xlabel('train-loop seconds')
  ax.set_ylabel('held-out MLM loss (full sequences)')
  ax.set_title('Held-out loss against wall-clock, every run')
  ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, os.path.join(out, 'loss_vs_time.png'))
  plt.close(fig)

  fig, ax = plt.subplots(figsize=(6, 4))
  base = _mean_std([r['eval_mlm_loss'] for r in rows if r['arm'] == BASELINE])
  ax.axhspan(base[0] - base[1], base[0] + base[1], color='grey', alpha=0.2)
  ax.axhline(base[0], color='black', label='baseline (1.0)')
  for i, arm in enumerate(arms):
    budgets = sorted({r['budget'] for r in rows if r['arm'] == arm})
    stats = [_mean_std([r['eval_mlm_loss'] for r in rows
                        if r['arm'] == arm and r['budget'] == b])
             for b in budgets]
    ax.errorbar(budgets, [s[0] for s in stats], yerr=[s[1] for s in stats],
                marker='o', capsize=3, color=colors(i + 1), label=arm)
  ax.set_xlabel('budget (fraction of the baseline\'s train-loop time)')
  ax.set_ylabel('held-out MLM loss (mean ± std)')
  ax.legend()
  fig.tight_layout()
  _save(fig, os.path.join(out, 'loss_vs_budget.png'))
  plt.close(fig)


def _save(fig, path):
  with tf.io.gfile.GFile(path, 'wb') as f:
    fig.savefig(f, format='png', dpi=100)


# ------------------------------------------------------------------ main
def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise ValueError('--output_dir is required (a new directory, or the one '
                     'of a study to resume).')
  if FLAGS.seeds < 1 or FLAGS.evals_per_run < 1:
    raise ValueError('--seeds and --evals_per_run must be at least 1.')
  out = FLAGS.output_dir
  arms = parse_arms(FLAGS.arm)
  budgets = parse_budgets(FLAGS.budgets)
  # Each arm's config, checked before any work; then the shared one.
  for _, bindings in arms + [(BASELINE, [])]:
    gin.clear_config()
    runtime.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings + bindings)
  run_config = configurables.run()
  warmup_steps = configurables.optimizer().warmup_steps
  settings = dict(gin_file=FLAGS.gin_file, gin_bindings=FLAGS.gin_bindings,
                  arms=[[a, b] for a, b in arms], budgets=budgets,
                  seeds=FLAGS.seeds, evals_per_run=FLAGS.evals_per_run,
                  finetune_gin=FLAGS.finetune_gin,
                  finetune_bindings=FLAGS.finetune_bindings,
                  embedded_task=FLAGS.embedded_task)
  check_settings(out, settings)

  finetune_bindings = list(FLAGS.finetune_bindings)
  if FLAGS.embedded_task:
    task = os.path.join(out, 'task')
    if not tf.io.gfile.exists(os.path.join(task, 'eval.csv')):
      from official_td.data import corpus  # pylint: disable=g-import-not-at-top
      corpus.embedded_classification_task(task)
    finetune_bindings += [f"finetune.train_file = '{task}/train.csv'",
                          f"finetune.eval_file = '{task}/eval.csv'"]
  pretrain_flags = [f'--gin_file={g}' for g in FLAGS.gin_file]
  pretrain_flags += [f'--gin_bindings={b}' for b in FLAGS.gin_bindings]
  finetune_flags = [f'--gin_file={FLAGS.finetune_gin}'] + [
      f'--gin_bindings={b}' for b in finetune_bindings]

  ratios = measure_ratios(out, pretrain_flags, arms, FLAGS.benchmark_steps)
  seeds = [run_config.seed + i for i in range(FLAGS.seeds)]
  runs = plan(arms, budgets, seeds, ratios, run_config.train_steps,
              warmup_steps, FLAGS.evals_per_run)
  for i, (name, _, _, seed, bindings) in enumerate(runs):
    print(f'--- run {i + 1}/{len(runs)}: {name}, seed {seed}', flush=True)
    run_one(out, name, seed, bindings, pretrain_flags, finetune_flags)

  rows = collect(out, runs)
  arm_names = [a for a, _ in arms]
  summarize(out, rows, arm_names, ratios)
  plot(out, rows, arm_names)
  logging.info('study written to %s', out)
  with tf.io.gfile.GFile(os.path.join(out, 'study.md')) as f:
    print(f.read())
  print(f'Wrote {out}/study.md, study.csv, study_summary.json, '
        'loss_vs_time.png, loss_vs_budget.png')


if __name__ == '__main__':
  # (No --verbose flag here: the notebook imports this module beside
  # entry points that define one.)
  app.run(runtime.main_with_clean_errors(main))
