r"""Budgeted time-to-quality study: token dropping against the baseline.

  python -m official_td.study --gin_file=gin/experiments/demo.gin \
      --output_dir=runs/study --budgets=0.6,0.7,0.8,0.9 --seeds=3

The question a user pays for is "the same quality for less wall-clock", so
the arms get budgets, not equal steps:

1. `official_td.benchmarks.step_time` times the trainer's compiled loops,
   the baseline's and each arm's (every k of its keep schedule), side by side
   in one process; an arm's `schedule_ratio` is its mean step time over the
   plain step's. (Separate runs' clocks drift too much on a shared machine to
   set budgets.)
2. The baseline (`encoder.token_drop = False`) trains the config's
   `run.train_steps` (budget 1.0), and `round(b * steps)` steps at every
   other budget b (and at each of `--baseline_budgets`, e.g. 1.25, which the
   baseline alone trains), its schedule decayed within them. An arm with
   budget b trains `round(b * steps / schedule_ratio)` steps, with its own
   full learning-rate schedule (warmup scaled by the same factor) and keep
   schedule.
3. Every run trains `--seeds` times (seeds run.seed, run.seed + 1, ...), each a
   subprocess with its own model dir, evaluating on the held-out data
   `--evals_per_run` times; each final checkpoint is fine-tuned on the same
   task (the embedded one by default) with the same seed.
4. The report, in --output_dir: `study.csv` (one row per run), `study.md`
   (per arm and budget: train-loop seconds, held-out MLM loss and accuracy on
   full sequences, fine-tuned accuracy, mean ± std over seeds; the held-out
   masked tokens' unigram cross-entropy beside the baseline's loss
   (official_td.study.unigram: has the model learned context?); each arm
   against the same-budget baseline; the break-even budget and the speedup
   at equal quality), `study_summary.json`, `loss_vs_time.png` (held-out loss
   against train-loop seconds, every run) and `loss_vs_budget.png` (both
   curves).

The break-even budget is the smallest fraction of the full baseline's time
at which an arm's mean held-out loss is at or below the baseline's mean,
interpolated linearly between neighbouring budgets; its range comes from the
same computation per seed. The speedup at equal quality at budget b is the
baseline budget whose loss (on the baseline's own curve) equals the arm's at
b, over b: the saving that belongs to token dropping, not to a shorter
schedule (official_td.study.speedup).

Distribution flags (`--strategy`, `--tpu`, `--num_gpus`, `--cpu_replicas`)
are passed to every run, its fine-tuning and the step-time benchmark.

A study takes hours: re-running the same command skips finished runs and
resumes an interrupted one from its checkpoint. Measured step times are
stored, so the steps never change within a study. The same command with
`--report_only` writes the report on the seeds finished so far (every run
of a seed, or none of it) and trains nothing; study.md lists the runs still
pending.

Arms: `--arm=NAME=BINDINGS` (gin bindings separated by `;`, on top of
--gin_file/--gin_bindings), repeatable; the default is one arm,
`token_drop`, with the config as it is.

A choice among arms is pre-registered: `--plan=PLAN.json` (committed before
the study runs; official_td/study/preregistration.py) sets the arms, the
budgets, the seeds, the config and the rule; every run the study trains
records the plan's sha256, and the report states the rule's choice at its
top only when every run it reads was trained under that very file.
"""

import os

# TensorFlow's C++ start-up chatter is not for the console unless asked for
# (the runs, subprocesses, inherit the setting).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')


from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import configurables  # pylint: disable=g-import-not-at-top
from official_td import publish  # pylint: disable=g-import-not-at-top
# (Before any gin file is parsed: see official_td/train.py.)
from official_td import train_lib  # pylint: disable=g-import-not-at-top
from official_td.input import pretrain_dataloader  # pylint: disable=g-import-not-at-top
from official_td.study import choice  # pylint: disable=g-import-not-at-top
from official_td.study import freeze  # pylint: disable=g-import-not-at-top
from official_td.study import pairs  # pylint: disable=g-import-not-at-top
from official_td.study import plan as plan_lib  # pylint: disable=g-import-not-at-top
from official_td.study import plots  # pylint: disable=g-import-not-at-top
from official_td.study import preregistration  # pylint: disable=g-import-not-at-top
from official_td.study import report  # pylint: disable=g-import-not-at-top
from official_td.study import runner  # pylint: disable=g-import-not-at-top
from official_td.study import unigram  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_multi_string('gin_file', ['gin/experiments/demo.gin'],
                          'Pretraining gin files (shared by every run).')
flags.DEFINE_multi_string('gin_bindings', [], 'Pretraining bindings (all).')
flags.DEFINE_string('output_dir', None, 'Where runs and reports go.')
flags.DEFINE_list('budgets', ['0.6', '0.7', '0.8', '0.9'],
                  'Token-drop budgets, fractions of the baseline\'s time.')
flags.DEFINE_list('baseline_budgets', [],
                  'Budgets the baseline alone trains besides 1.0 and '
                  '--budgets (e.g. 1.25): where an arm ends below the '
                  'baseline\'s whole curve, its speedup at equal quality is '
                  'measured instead of bounded. May be added to a study '
                  'already run.')
flags.DEFINE_integer('seeds', 3, 'Runs per arm and budget (seeds).')
flags.DEFINE_multi_string(
    'arm', [], 'A token-drop arm: NAME=BINDING; BINDING (default: one arm, '
    '"token_drop", with the config as it is).')
flags.DEFINE_integer('evals_per_run', 5,
                     'Held-out evaluations per run (the curves).')
flags.DEFINE_integer('benchmark_steps', 5, 'Timed rounds of the step-time '
                     'benchmark (each runs every loop run.steps_per_loop '
                     'steps).')
flags.DEFINE_string('finetune_gin', preregistration.DEFAULT_FINETUNE_GIN,
                    'Fine-tuning gin file.')
flags.DEFINE_multi_string('finetune_bindings', [], 'Fine-tuning bindings.')
flags.DEFINE_bool('finetune', True,
                  "Fine-tune every run's final checkpoint; --nofinetune "
                  'reports the held-out MLM loss only (half the processes).')
flags.DEFINE_bool('embedded_task', True,
                  'Create the embedded classification task in OUTPUT/task and '
                  'fine-tune on it.')
flags.DEFINE_string(
    'plan', None, 'A pre-registered plan (JSON, committed before the runs; '
    'official_td/study/preregistration.py): it sets the arms, budgets, seeds, '
    'config and fine-tuning, every run records its sha256, and the report '
    'applies its rule.')
flags.DEFINE_bool('report_only', False,
                  'Write the report on the seeds whose runs have all '
                  'finished, and train, measure and fine-tune nothing (a '
                  'study run in parts, read before it ends).')
cli.define_strategy_flags()
cli.define_dry_run_flag()


# ------------------------------------------------------------------ main
def main(argv):
  del argv
  if not FLAGS.output_dir:
    raise ValueError('--output_dir is required (a new directory, or the one '
                     'of a study to resume).')
  if FLAGS.seeds < 1 or FLAGS.evals_per_run < 1:
    raise ValueError('--seeds and --evals_per_run must be at least 1.')
  out = FLAGS.output_dir
  plan = preregistration.load(FLAGS.plan) if FLAGS.plan else None
  code = None  # the commit the runs run from, in each run's record
  if plan and not (FLAGS.report_only or FLAGS.dry_run):
    if plan.freeze:
      freeze.check_before_runs(plan)  # (before any work)
    code = freeze.code_entry(freeze.package_root())
  if plan:
    fixed = preregistration.settings_overrides(
        plan, [n for n in FLAGS if FLAGS[n].present])
    arms = fixed['arms']
    budgets = plan_lib.parse_budgets([str(b) for b in fixed['budgets']])
    baseline_budgets = plan_lib.parse_baseline_budgets(
        [str(b) for b in fixed['baseline_budgets']], budgets)
    gin_files, gin_bindings = fixed['gin_file'], fixed['gin_bindings']
    num_seeds, finetune = fixed['seeds'], fixed['finetune']
    finetune_gin, finetune_bindings = (fixed['finetune_gin'],
                                       fixed['finetune_bindings'])
    embedded_task = fixed['embedded_task']
  else:
    arms = plan_lib.parse_arms(FLAGS.arm)
    budgets = plan_lib.parse_budgets(FLAGS.budgets)
    baseline_budgets = plan_lib.parse_baseline_budgets(
        FLAGS.baseline_budgets, budgets)
    gin_files, gin_bindings = FLAGS.gin_file, FLAGS.gin_bindings
    num_seeds, finetune = FLAGS.seeds, FLAGS.finetune
    finetune_gin, finetune_bindings = (FLAGS.finetune_gin,
                                       list(FLAGS.finetune_bindings))
    embedded_task = FLAGS.embedded_task
  # Each arm's config, checked before any work; then the shared one.
  for _, bindings in arms + [(plan_lib.BASELINE, [])]:
    gin.clear_config()
    cli.parse_gin(gin_files, gin_bindings + bindings)
  run_config = configurables.run()
  warmup_steps = configurables.optimizer().warmup_steps
  settings = dict(gin_file=gin_files, gin_bindings=gin_bindings,
                  arms=[[a, b] for a, b in arms], budgets=budgets,
                  seeds=num_seeds, evals_per_run=FLAGS.evals_per_run,
                  finetune_gin=finetune_gin,
                  finetune_bindings=finetune_bindings,
                  embedded_task=embedded_task,
                  # (Recorded only when set: older studies resume as before.)
                  **({} if finetune else {'finetune': False}),
                  **({'baseline_budgets': baseline_budgets}
                     if baseline_budgets else {}),
                  **({'devices': cli.strategy_args()} if cli.strategy_args()
                     else {}),
                  **({'plan': plan.path, 'plan_sha256': plan.sha256}
                     if plan else {}))
  if FLAGS.dry_run:
    if finetune:  # (first: it takes a moment, the runs' dry runs minutes)
      _dry_run_finetune(out, finetune_gin, finetune_bindings, embedded_task)
      gin.clear_config()  # the study's own configuration again.
      cli.parse_gin(gin_files, gin_bindings)
    _dry_run(out, arms, run_config, gin_files, gin_bindings)
    return
  if FLAGS.report_only and not tf.io.gfile.exists(
      os.path.join(out, 'study.json')):
    raise ValueError(
        f'{out} holds no study to report on (no study.json). Run the study '
        '(the same command without --report_only) first.')
  runner.check_settings(out, settings, extend=not FLAGS.report_only)

  finetune_bindings = list(finetune_bindings)
  if embedded_task and finetune and not FLAGS.report_only:
    task = os.path.join(out, 'task')
    if not tf.io.gfile.exists(os.path.join(task, 'eval.csv')):
      from official_td.data.text import corpus  # pylint: disable=g-import-not-at-top
      corpus.embedded_classification_task(task)
    finetune_bindings += [f"finetune.train_file = '{task}/train.csv'",
                          f"finetune.eval_file = '{task}/eval.csv'"]
  # Every run, its fine-tuning and the step-time benchmark on the same
  # devices: the user's --strategy / --tpu / --num_gpus / --cpu_replicas.
  pretrain_flags = [f'--gin_file={g}' for g in gin_files]
  pretrain_flags += [f'--gin_bindings={b}' for b in gin_bindings]
  pretrain_flags += cli.strategy_args()
  finetune_flags = [f'--gin_file={finetune_gin}'] + [
      f'--gin_bindings={b}' for b in finetune_bindings] + cli.strategy_args()
  if not finetune:
    finetune_flags = None

  # The held-out masked tokens' unigram cross-entropy per seed (stored).
  seeds = [run_config.seed + i for i in range(num_seeds)]
  unigram_path = os.path.join(out, 'unigram.json')
  if not tf.io.gfile.exists(unigram_path) and FLAGS.report_only:
    raise ValueError(f'The study in {out} has no finished run yet: nothing '
                     'to report. Run it without --report_only first.')
  stored = (publish.read_json(unigram_path)
            if tf.io.gfile.exists(unigram_path) else {})
  unigram_seeds = unigram.per_seed(
      lambda: pretrain_dataloader.resolve_data(configurables.data())[0],
      seeds, stored, compute=not FLAGS.report_only)
  if unigram_seeds != stored and not FLAGS.report_only:
    publish.write_json(unigram_path, unigram_seeds)
  ratios = runner.measure_ratios(out, pretrain_flags, arms,
                                 FLAGS.benchmark_steps,
                                 measure=not FLAGS.report_only)
  runs = plan_lib.plan(arms, budgets, seeds, ratios, run_config.train_steps,
                       warmup_steps, FLAGS.evals_per_run, baseline_budgets)
  pending = []
  if FLAGS.report_only:
    runs, pending = runner.finished_seeds(out, runs, finetune)
  else:
    for i, (name, _, _, seed, bindings) in enumerate(runs):
      print(f'--- run {i + 1}/{len(runs)}: {name}, seed {seed}', flush=True)
      if plan and not runner.is_finished(out, name, seed, finetune):
        preregistration.record_run(out, name, seed, plan, code)
      runner.run_one(out, name, seed, bindings, pretrain_flags,
                     finetune_flags)

  rows = report.collect(out, runs, finetune)
  unigram_ce = unigram.mean_over(unigram_seeds,
                                 sorted({r['seed'] for r in rows}))
  arm_names = [a for a, _ in arms]
  choose = None
  if plan:
    records = preregistration.read_records(out, runs)
    choose = lambda arms_summary: choice.choose(  # pylint: disable=g-long-lambda
        plan, arms_summary, records, pending)
  data = pairs.data_facts(out, configurables.data().train_data,
                          run_config.global_batch_size)
  report.summarize(out, rows, arm_names, ratios, unigram_ce, pending, choose,
                   data)
  plots.plot(out, rows, arm_names)
  logging.info('study written to %s', out)
  with tf.io.gfile.GFile(os.path.join(out, 'study.md')) as f:
    print(f.read())
  print(f'Wrote {out}/study.md, study.csv, study_summary.json, '
        'loss_vs_time.png, loss_vs_budget.png')


def _dry_run(out, arms, run_config, gin_files, gin_bindings):
  """The study's checks without its work: the held-out data the report
  scores against, then the dry run of `official_td.train --dry_run` for the
  baseline and every arm, each with its own bindings, on the study's
  devices (in this process: one strategy, no start-up per arm). Writes
  nothing."""
  strategy = cli.strategy_from_flags()  # (before anything starts the runtime)
  data, _ = pretrain_dataloader.resolve_data(configurables.data())
  unigram_ce = unigram.unigram_cross_entropy(data, run_config.seed)
  print(f'Held-out data: unigram cross-entropy {unigram_ce["unigram_nats"]:.3f}',
        flush=True)
  for name, bindings in [(plan_lib.BASELINE, plan_lib.BASELINE_BINDINGS)] + [
      (a, b) for a, b in arms]:
    gin.clear_config()
    tf_keras.backend.clear_session()
    try:
      cli.parse_gin(gin_files, list(gin_bindings) + list(bindings))
    except ValueError as e:
      raise ValueError(f'arm {name!r}: {e}') from None
    run = configurables.run(
        model_dir=os.path.join(out, 'runs', name, 'dry_run'))
    result = train_lib.dry_run(strategy, configurables.encoder(),
                               configurables.data(), configurables.optimizer(),
                               run, configurables.bound_encoder_fields())
    print(f'{name}: {train_lib.dry_run_line(result)}', flush=True)
  print(f'Dry run: the baseline and {len(arms)} arm(s) checked; nothing '
        f'trained or written ({out} untouched).')


def _dry_run_finetune(out, finetune_gin, finetune_bindings, embedded_task):
  """The fine-tuning settings every run's fine-tuning gets: its gin file
  and bindings parse (with what the study sets itself: each run's
  directory, and the embedded task's files), and its data is read (unless
  the study makes the embedded task). Writes nothing."""
  from official_td.tasks import classification  # pylint: disable=g-import-not-at-top
  study_sets = [f"finetune.pretrained_dir = '{out}/runs/RUN'"]
  if embedded_task:
    study_sets += [f"finetune.train_file = '{out}/task/train.csv'",
                   f"finetune.eval_file = '{out}/task/eval.csv'"]
  gin.clear_config()
  try:
    cli.parse_gin([finetune_gin], list(finetune_bindings) + study_sets)
  except ValueError as e:
    raise ValueError(f'--finetune_gin={finetune_gin!r}: {e}') from None
  config = configurables.finetune()
  if not embedded_task:
    train, evaluation = classification.load_data(config)
    print(f'Fine-tuning data: {len(train.labels)} training and '
          f'{len(evaluation.labels)} evaluation examples, '
          f'{len(train.label_names)} labels.', flush=True)
  print(f'Fine-tuning settings: {finetune_gin} checked.', flush=True)


def run():
  """The console entry point (see pyproject.toml)."""
  # (No --verbose flag here: the notebook imports this module beside
  # entry points that define one.)
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
