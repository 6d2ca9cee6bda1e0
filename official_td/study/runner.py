"""Running the study: benchmarks and training runs as resumable subprocesses.

Every run is `python -m official_td.train` (then `official_td.finetune`) in
its own directory. A finished run (`rundir.is_finished`) is skipped; an
interrupted pretraining run resumes from its checkpoint (the trainer's own
resume); an interrupted fine-tuning, which is short, is redone. Measured
step times are stored, so a resumed study keeps its steps.
"""

import json
import os
import subprocess
import sys
from typing import Dict, List, Tuple

import tensorflow as tf

from official_td import publish
from official_td import rundir


# ---------------------------------------------------------------- running
class RunFailed(ValueError):
  """A subprocess of the study failed (its own output says why)."""


def run_module(args: List[str]):
  """Runs `python -m ARGS`; a failure raises RunFailed."""
  print('$ python -m ' + ' '.join(args), flush=True)
  proc = subprocess.run([sys.executable, '-m'] + args, check=False)
  if proc.returncode:
    raise RunFailed(f'`python -m {args[0]}` failed (exit code '
                    f'{proc.returncode}); its output is above. Re-running '
                    'the study resumes where it stopped.')


def adds_baseline_budgets(stored: Dict, settings: Dict) -> bool:
  """Whether `settings` are `stored` with baseline budgets added (runs that
  change none of the study's finished ones)."""
  key = 'baseline_budgets'
  others_equal = ({k: v for k, v in stored.items() if k != key} ==
                  {k: v for k, v in settings.items() if k != key})
  old, new = set(stored.get(key, [])), set(settings.get(key, []))
  return others_equal and old < new


def check_settings(out: str, settings: Dict, extend: bool = True):
  """Records the study's settings; a re-run must use the same ones, or (with
  `extend`) add baseline budgets to them."""
  path = os.path.join(out, 'study.json')
  if tf.io.gfile.exists(path):
    stored = publish.read_json(path)
    if extend and adds_baseline_budgets(stored, settings):
      print(f'Adding baseline budgets to the study in {out}: '
            f'{settings["baseline_budgets"]}', flush=True)
      publish.write_json(path, settings)
    elif stored != settings:
      changed = sorted(k for k in set(stored) | set(settings)
                       if stored.get(k) != settings.get(k))
      raise ValueError(
          f'{out} holds a study with other settings ({", ".join(changed)} '
          'differ). Re-run it with its own flags (see study.json) to resume '
          'it, or choose a new --output_dir.')
  else:
    tf.io.gfile.makedirs(out)
    publish.write_json(path, settings)


def measure_ratios(out: str, pretrain_flags: List[str],
                   arms: List[Tuple[str, List[str]]],
                   steps: int, measure: bool = True) -> Dict[str, Dict]:
  """The benchmark of each arm (stored: a resumed study keeps its steps).
  With `measure` False, only stored ones (a report changes nothing)."""
  results = {}
  for name, bindings in arms:
    path = os.path.join(out, 'step_times', f'{name}.json')
    if not measure and not tf.io.gfile.exists(path):
      raise ValueError(
          f'The study in {out} has not measured the step time of arm '
          f'{name!r} yet, so no run has finished: nothing to report. Run '
          'the study (the same command without --report_only) first.')
    if not tf.io.gfile.exists(path):
      # Each timed call runs the config's run.steps_per_loop steps, as
      # training's loops do.
      args = ['official_td.benchmarks.step_time', f'--steps={steps}',
              '--warmup_steps=1'] + pretrain_flags + [f'--gin_bindings={b}' for b in bindings]
      print('$ python -m ' + ' '.join(args), flush=True)
      proc = subprocess.run([sys.executable, '-m'] + args, check=False,
                            capture_output=True, text=True)
      if proc.returncode:
        raise RunFailed(f'The step-time benchmark of arm {name!r} failed:'
                           f'\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}')
      result = json.loads(proc.stdout.strip().splitlines()[-1])
      tf.io.gfile.makedirs(os.path.dirname(path))
      publish.write_json(path, result)
    results[name] = publish.read_json(path)
    print(f'{name}: token-drop step time / plain step time = '
          f'{results[name]["schedule_ratio"]:.3f} (measured side by side)',
          flush=True)
  return results


def run_dirs(out: str, name: str, seed: int) -> Tuple[str, str]:
  """A run's pretraining and fine-tuning directories."""
  return (os.path.join(out, 'runs', name, f'seed{seed}'),
          os.path.join(out, 'finetune', name, f'seed{seed}'))


def is_finished(out: str, name: str, seed: int, finetune: bool) -> bool:
  """Whether a run has its results (and, if the study fine-tunes, its
  fine-tuning's)."""
  dirs = run_dirs(out, name, seed)[:2 if finetune else 1]
  return all(rundir.is_finished(d) for d in dirs)


def finished_seeds(out: str, runs, finetune: bool):
  """The runs of the seeds whose every run has finished, and the names of
  the runs still pending (a report on a study run in parts: a seed counts
  whole or not at all, so every mean is over the same seeds)."""
  unfinished = [(name, seed) for name, _, _, seed, _ in runs
                if not is_finished(out, name, seed, finetune)]
  pending = [f'{name} seed {seed}' for name, seed in unfinished]
  complete = [r for r in runs if r[3] not in {s for _, s in unfinished}]
  if not complete:
    raise ValueError(
        f'No seed of the study in {out} has finished all its runs yet '
        f'({len(pending)} of {len(runs)} runs pending, the first: '
        f'{pending[0]}). --report_only reports whole seeds only; run the '
        'study (the same command without --report_only) to finish one.')
  return complete, pending


def run_one(out, name, seed, bindings, pretrain_flags, finetune_flags):
  """Pretrains (or resumes) and fine-tunes one run unless it is finished
  (`finetune_flags` None: no fine-tuning)."""
  model_dir, finetune_dir = run_dirs(out, name, seed)
  if rundir.is_finished(model_dir):
    print(f'[finished] {model_dir}', flush=True)
  else:
    run_module(['official_td.train', f'--model_dir={model_dir}'] +
               pretrain_flags + [f'--gin_bindings={b}' for b in bindings])
  if finetune_flags is None:
    return
  if rundir.is_finished(finetune_dir):
    print(f'[finished] {finetune_dir}', flush=True)
    return
  if tf.io.gfile.exists(finetune_dir):
    # The study's own fine-tuning, interrupted before its results: redo it.
    print(f'Removing the interrupted fine-tuning {finetune_dir}', flush=True)
    tf.io.gfile.rmtree(finetune_dir)
  run_module(['official_td.finetune', f'--model_dir={finetune_dir}'] +
             finetune_flags + [f"--gin_bindings=finetune.pretrained_dir = "
                               f"'{model_dir}'",
                               f'--gin_bindings=finetune.seed = {seed}'])

