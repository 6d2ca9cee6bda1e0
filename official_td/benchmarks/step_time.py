r"""Times the trainer's own train step: plain BERT against token dropping.

Both sides are `official_td.trainers.pretrainer.Pretrainer`s, built by the
code that trains from the same configs: the token-drop trainer from the
config as it is, the baseline from the same config with
`encoder.token_drop = False`. What is timed is each trainer's compiled train
loop (`Pretrainer.train_loop(k)`): the input pipeline, the replicated step
with its explicit all-reduce and gradient clipping, the importance update
with the seeded tie-breaks, the metric sums. One loop per kept-token count
of the keep schedule (its full-sequence phases too, as the token-drop run
runs them) and the baseline's, interleaved round by round so that all see
the same machine state; each loop's one-off compilation is done first and
not timed (training reports it as `compile_seconds`). Each timed call runs
`run.steps_per_loop` steps, as training's loops do: with shorter calls a
trainer's input pipeline refills its prefetch buffers while the other
trainers' loops run, which hides the input's cost (measured on the demo:
ratio 0.642 in calls of 10 steps, 0.675 from `Pretrainer.train(50)`, 0.696
in calls of 50). The last line printed
is one JSON object:

  plain_step_s, token_drop_step_s (medians, seconds per step), measured_ratio,
  flop_ratio (`official_td.benchmarks.flops`), importance_s (scores,
  selection and table update alone), step_s (per k, as training runs it:
  with the consistency loss, one consistency step in every
  `run.consistency_every`; each loop's own time in loop_step_s) and
  schedule_ratio (the schedule's mean step time over the plain step's, from
  the same phases as training: `official_td.keep`); beside them each round's
  own: schedule_ratio_rounds and round_step_s. On a shared 2-core machine one
  round's ratio moves by several hundredths from the next (the machine's
  speed drifts within minutes), so a study that must tell schedules a few
  percent apart needs more rounds (`official_td.study --benchmark_steps`).

From a pretraining config (its data, or synthetic records of its shapes):

  python -m official_td.benchmarks.step_time --gin_file=gin/experiments/demo.gin \
      --gin_bindings="run.keep_schedule = ((0.0, 0.25), (0.8, 1.0))"

From shape flags (synthetic records), e.g. BERT-base, the paper's shape:

  python -m official_td.benchmarks.step_time --seq_length=512 --keep_k=256 \
      --batch_size=4 --steps=5

`official_td.study` derives its budgets' steps from `schedule_ratio`.
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import dataclasses  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json  # pylint: disable=g-import-not-at-top
import statistics  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top
from typing import Dict, List  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import configurables  # pylint: disable=g-import-not-at-top
from official_td import keep  # pylint: disable=g-import-not-at-top
from official_td import train_lib  # pylint: disable=g-import-not-at-top
from official_td import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
from official_td.benchmarks import flops  # pylint: disable=g-import-not-at-top
from official_td.benchmarks import shapes  # pylint: disable=g-import-not-at-top,unused-import
from official_td.benchmarks import synthetic  # pylint: disable=g-import-not-at-top
from official_td.configs import encoders  # pylint: disable=g-import-not-at-top
from official_td.configs import pretraining  # pylint: disable=g-import-not-at-top
from official_td.trainers.pretrainer import Pretrainer  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_bool('jit_compile', False, 'Compile the steps with XLA.')
flags.DEFINE_enum('precision', 'float32', ['float32', 'mixed_bfloat16',
                                            'mixed_float16'],
                  'Keras mixed-precision policy.')
flags.DEFINE_multi_string('gin_file', [], 'Take everything from these '
                          'pretraining gin files (the shape flags above are '
                          'then unused).')
flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
flags.DEFINE_bool('synthetic_data', False, 'With --gin_file: random records '
                  'of the config\'s shapes instead of its data.')
flags.DEFINE_integer('steps', 5, 'Timed rounds (each loop once per round).')
flags.DEFINE_integer('steps_per_timing', None, 'Train steps per timed loop '
                     'call (default: the config\'s run.steps_per_loop, as '
                     'training runs them).')
flags.DEFINE_integer('warmup_steps', 1, 'Untimed rounds after compilation.')
cli.define_strategy_flags()


@dataclasses.dataclass
class Setup:
  """The configs both trainers are built from."""
  encoder: encoders.EncoderConfig
  data: pretraining.DataConfig
  optimizer: pretraining.OptimizerConfig
  run: pretraining.RunConfig


def setup_from_flags(work_dir: str) -> Setup:
  """A config of the flags' shape over synthetic records."""
  synthetic.check_shape(FLAGS.seq_length, FLAGS.keep_k, FLAGS.max_predictions)
  # The vocab size comes from the synthetic records' vocab.
  encoder = dataclasses.replace(shapes.encoder_config(), vocab_size=None)
  data = pretraining.DataConfig(seq_length=FLAGS.seq_length,
                                max_predictions_per_seq=FLAGS.max_predictions)
  run = pretraining.RunConfig(
      global_batch_size=FLAGS.batch_size, mixed_precision=FLAGS.precision,
      jit_compile=FLAGS.jit_compile, steps_per_loop=1)
  return with_synthetic_data(
      Setup(encoder, data, pretraining.OptimizerConfig(), run),
      FLAGS.vocab_size, work_dir)


def setup_from_gin(gin_files, gin_bindings, work_dir: str,
                   synthetic_data: bool) -> Setup:
  """The pretraining run these gin files configure."""
  cli.parse_gin(gin_files, gin_bindings)
  setup = Setup(configurables.encoder(), configurables.data(),
                configurables.optimizer(), configurables.run())
  if synthetic_data:
    vocab_size = setup.encoder.vocab_size
    if vocab_size is None:
      vocab_size = len(vocab_lib.load_vocab(setup.data.vocab_file))
    setup = with_synthetic_data(setup, vocab_size, work_dir)
  return setup


def with_synthetic_data(setup: Setup, vocab_size: int, work_dir: str) -> Setup:
  data, batch = setup.data, setup.run.global_batch_size
  train, evaluation, vocab = synthetic.write_data(
      os.path.join(work_dir, 'data'), vocab_size, data.seq_length,
      data.max_predictions_per_seq, num_train=8 * batch, num_eval=batch)
  data = dataclasses.replace(data, train_data=train, eval_data=evaluation,
                             vocab_file=vocab, require_summary=False,
                             masking='static')
  return dataclasses.replace(setup, data=data)


def build_trainers(setup: Setup, work_dir: str, strategy=None):
  """`(token_drop_trainer, baseline_trainer)` from one config, under
  `strategy` (default: the default strategy, one device)."""
  run = dataclasses.replace(setup.run, model_dir=os.path.join(work_dir, 'run'))
  encoder, data, _ = train_lib.prepare(setup.encoder, setup.data, run)
  if not encoder.token_drop:
    raise ValueError('encoder.token_drop is False: there is no token-drop '
                     'step to compare with the baseline.')
  tf_keras.mixed_precision.set_global_policy(run.mixed_precision)
  strategy = strategy or tf.distribute.get_strategy()
  drop = Pretrainer(strategy, encoder, data, setup.optimizer, run)
  if all(k >= data.seq_length for _, k in drop.phase_fractions):
    raise ValueError('The configuration drops no tokens (the schedule keeps '
                     'full sequences): nothing to compare.')
  plain = Pretrainer(strategy, dataclasses.replace(encoder, token_drop=False),
                     data, setup.optimizer, run)
  return drop, plain


def time_loop(trainer: Pretrainer, keep_k: int, steps: int,
              consistency: bool = False) -> float:
  """Seconds per step of `steps` steps of the trainer's loop for `keep_k`
  (with `consistency`: its consistency steps' loop)."""
  start = time.perf_counter()
  trainer.train_loop(keep_k, consistency)(trainer.train_iterator,
                                          tf.constant(steps))
  trainer.global_step.numpy()  # waits for the work to finish.
  return (time.perf_counter() - start) / steps


def time_importance(trainer: Pretrainer, keep_k: int, rounds: int) -> float:
  """Median seconds of scores, selection and table update alone (0.0 for
  random-LTD, which has no table)."""
  encoder, importance = trainer.encoder, trainer.importance
  if importance is None:
    return 0.0
  token_drop = encoder._token_drop  # pylint: disable=protected-access
  features = next(iter(trainer.strategy.experimental_local_results(
      next(trainer.train_iterator))))

  @tf.function(jit_compile=trainer.run.jit_compile)
  def step(features):
    ids = features['input_word_ids']
    selection = token_drop(importance(ids), features['input_mask'], ids,
                           keep_k=keep_k)
    weights = tf.cast(features['masked_lm_weights'], tf.float32)
    importance.update(features['masked_lm_ids'], weights * 3.0, weights)
    return selection['kept_indices']

  step(features).numpy()
  times = []
  for _ in range(rounds):
    start = time.perf_counter()
    step(features).numpy()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def measure(drop: Pretrainer, plain: Pretrainer, rounds: int,
            warmup_rounds: int, steps_per_timing: int):
  """Seconds per step of every loop, timed interleaved, round by round.

  Returns:
    `(compile_s, times)`: the untimed compilation seconds of each loop and
    each loop's seconds per step in every timed round, both by name:
    'plain' for the baseline's loop, `Pretrainer.loop_name` for each of the
    token-drop trainer's (one per k of its schedule, S for its full-sequence
    phases; with the consistency loss on, each dropping k's consistency
    loop too).
  """
  s = drop.data.seq_length
  loops = [(plain, plain.keep_k, False)]
  for k in sorted({k for _, k in drop.phase_fractions}):
    loops.append((drop, k, False))
    if drop.consistency and k < s:
      loops.append((drop, k, True))
  compile_s = {}
  for trainer, k, consistency in loops:
    name = 'plain' if trainer is plain else drop.loop_name(k, consistency)
    compile_s[name] = round(trainer.compile_train_loop(k, consistency), 3)
  times = {name: [] for name in compile_s}
  for i in range(warmup_rounds + rounds):
    for (trainer, k, consistency), name in zip(loops, compile_s):
      seconds = time_loop(trainer, k, steps_per_timing, consistency)
      if i >= warmup_rounds:
        times[name].append(seconds)
    if i >= warmup_rounds:
      logging.info('round %d/%d: %s', i + 1 - warmup_rounds, rounds, ', '.join(
          f'{name}: {t[-1]:.4f} s' for name, t in times.items()))
  return compile_s, times


def step_times(drop: Pretrainer, loop_s: Dict[str, float]) -> Dict[int, float]:
  """Seconds per step of each k of the schedule as training runs it, from
  its loops' (`loop_s`, by loop name): with the consistency loss on, one
  consistency step in every `run.consistency_every`."""
  every = drop.run.consistency_every
  step_s = {}
  for k in sorted({k for _, k in drop.phase_fractions}):
    step_s[k] = loop_s[drop.loop_name(k)]
    if drop.consistency and k < drop.data.seq_length:  # as `measure` times
      step_s[k] = ((every - 1) * step_s[k] +
                   loop_s[drop.loop_name(k, True)]) / every
  return step_s


def report(drop: Pretrainer, plain: Pretrainer, compile_s: Dict[str, float],
           times: Dict[str, List[float]], importance_s: float) -> dict:
  """The JSON result, from `measure`'s."""
  s = drop.data.seq_length
  loop_s = {name: statistics.median(t) for name, t in times.items()}
  plain_s = loop_s.pop('plain')
  step_s = step_times(drop, loop_s)
  # The schedule's ratio in each round alone: how much it moves from one
  # round to the next (the machine's drift), beside the medians' ratio.
  rounds = [{name: t[i] for name, t in times.items()}
            for i in range(len(times['plain']))]
  round_ratios = [keep.schedule_ratio(drop.phase_fractions,
                                      step_times(drop, r), r['plain'])
                  for r in rounds]
  keep_k = min(step_s)
  encoder = drop.encoder_config
  window = list(drop.encoder.drop_window)
  model = flops.FlopModel(
      dataclasses.replace(encoder, drop_start_layer=window[0],
                          drop_end_layer=window[1]), seq_length=s,
      keep_k=keep_k, max_predictions=drop.data.max_predictions_per_seq)
  drop_s = step_s[keep_k]
  return dict(
      device=tf.config.list_logical_devices()[-1].device_type,
      strategy=type(drop.strategy).__name__,
      replicas=drop.strategy.num_replicas_in_sync,
      # The policy the trainers were built under (build_trainers sets it).
      precision=tf_keras.mixed_precision.global_policy().name,
      jit_compile=drop.run.jit_compile,
      num_layers=encoder.num_layers, hidden_size=encoder.hidden_size,
      seq_length=s, keep_k=keep_k, drop_window=window,
      batch_size=drop.run.global_batch_size, dropout=encoder.dropout,
      max_predictions=drop.data.max_predictions_per_seq,
      importance_mode=encoder.importance_mode, steps=FLAGS.steps,
      steps_per_timing=FLAGS.steps_per_timing or drop.run.steps_per_loop,
      plain_step_s=round(plain_s, 6), token_drop_step_s=round(drop_s, 6),
      measured_ratio=round(drop_s / plain_s, 4),
      flop_ratio=round(model.ratio(), 4),
      ratio_gap=round(drop_s / plain_s - model.ratio(), 4),
      importance_s=round(importance_s, 5),
      importance_fraction=round(importance_s / drop_s, 5),
      keep_phases=[list(p) for p in drop.phase_fractions],
      step_s={str(k): round(t, 6) for k, t in step_s.items()},
      # Each timed loop's own step time; with run.consistency_weight > 0,
      # step_s weighs in one consistency step ('k+consistency') per
      # run.consistency_every.
      loop_step_s={name: round(t, 6) for name, t in loop_s.items()},
      consistency_every=(drop.run.consistency_every if drop.consistency
                         else None),
      compile_s={str(k): t for k, t in compile_s.items()},
      # The compiled loops timed, per trainer and k (a training run of the
      # config compiles the token-drop trainer's: the run's results'
      # compiled_train_loops).
      timed_loops=dict(
          token_drop={str(k): n for k, n in sorted(drop.loop_traces.items())},
          plain={str(k): n for k, n in sorted(
              plain.loop_traces.items())}),
      schedule_ratio=round(keep.schedule_ratio(
          drop.phase_fractions, step_s, plain_s), 4),
      schedule_ratio_rounds=[round(r, 4) for r in round_ratios],
      # Every timed loop's seconds per step in each round, by name.
      round_step_s={name: [round(x, 6) for x in t]
                    for name, t in times.items()})


def main(argv):
  del argv
  # Synthetic records and the trainers' scratch model dirs: local, removed.
  with tempfile.TemporaryDirectory(prefix='td_step_time_') as work_dir:
    if FLAGS.gin_file:
      setup = setup_from_gin(FLAGS.gin_file, FLAGS.gin_bindings, work_dir,
                             FLAGS.synthetic_data)
    else:
      setup = setup_from_flags(work_dir)
    drop, plain = build_trainers(setup, work_dir, cli.strategy_from_flags())
    steps_per_timing = FLAGS.steps_per_timing or drop.run.steps_per_loop
    compile_s, times = measure(drop, plain, FLAGS.steps, FLAGS.warmup_steps,
                               steps_per_timing)
    dropping = min(k for _, k in drop.phase_fractions
                   if k < drop.data.seq_length)
    importance_s = time_importance(drop, dropping, 3 * FLAGS.steps)
  print(json.dumps(report(drop, plain, compile_s, times, importance_s)))


def run():
  """The console entry point (see pyproject.toml)."""
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
