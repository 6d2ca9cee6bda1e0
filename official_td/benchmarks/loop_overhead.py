r"""Measures what the training loop adds to the bare train step.

One process, one model, the same shape and batch, timed interleaved:

  bare step   the replicated train step (forward, backward, AdamW, importance
              update, metric sums) on a batch already in memory, run in a
              compiled loop: the floor.
  full loop   `official_td.train`'s loop for the same number of steps: orbit's
              Controller, the TFRecord input pipeline (BertPretrainDataLoader,
              replica slicing), metric results, TensorBoard summaries (every
              loop), the importance summaries and the progress line.
  eval batch  `Pretrainer.evaluate` per batch (input pipeline, padding,
              metric sums) against a bare forward pass of the same batch.

The last line printed is one JSON object with the medians and the ratios
`loop_overhead` (full loop / bare step - 1) and `eval_over_forward`.

  python -m official_td.benchmarks.loop_overhead --num_layers=8 --hidden_size=256 \
      --seq_length=128 --keep_k=64 --batch_size=32
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import statistics  # pylint: disable=g-import-not-at-top
import tempfile  # pylint: disable=g-import-not-at-top
import time  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td import cli  # pylint: disable=g-import-not-at-top
from official_td import train_lib  # pylint: disable=g-import-not-at-top
from official_td.benchmarks import synthetic  # pylint: disable=g-import-not-at-top
from official_td.configs import encoders  # pylint: disable=g-import-not-at-top
from official_td.configs import pretraining  # pylint: disable=g-import-not-at-top
from official_td.input import pretrain_dataloader  # pylint: disable=g-import-not-at-top
from official_td.tasks import masked_lm  # pylint: disable=g-import-not-at-top
from official_td.trainers.pretrainer import Pretrainer  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS

flags.DEFINE_integer('num_layers', 8, 'Transformer layers.')
flags.DEFINE_integer('hidden_size', 256, 'Hidden size.')
flags.DEFINE_integer('num_attention_heads', 4, 'Attention heads.')
flags.DEFINE_integer('inner_dim', 1024, 'FFN inner size.')
flags.DEFINE_integer('vocab_size', 30522, 'Vocabulary size.')
flags.DEFINE_integer('seq_length', 128, 'Sequence length S.')
flags.DEFINE_integer('keep_k', 64, 'Tokens kept in the drop window.')
flags.DEFINE_integer('max_predictions', 20, 'MLM predictions per sequence.')
flags.DEFINE_integer('batch_size', 32, 'Global batch.')
flags.DEFINE_integer('steps_per_loop', 20, 'Steps per loop (and per timing).')
flags.DEFINE_integer('rounds', 5, 'Timed rounds of each.')
flags.DEFINE_integer('eval_batches', 10, 'Evaluation batches timed.')
flags.DEFINE_string('work_dir', None, 'Scratch directory (default: a temp '
                    'directory).')


def main(argv):
  del argv
  synthetic.check_shape(FLAGS.seq_length, FLAGS.keep_k, FLAGS.max_predictions)
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix='td_loop_bench_')
  n = FLAGS.steps_per_loop
  total_steps = n * (FLAGS.rounds + 2)
  train, evaluation, vocab = synthetic.write_data(
      work, FLAGS.vocab_size, FLAGS.seq_length, FLAGS.max_predictions,
      num_train=4 * FLAGS.batch_size * n,
      num_eval=FLAGS.eval_batches * FLAGS.batch_size)
  strategy = tf.distribute.OneDeviceStrategy(
      tf.config.list_logical_devices()[-1].name)
  encoder = encoders.EncoderConfig(
      hidden_size=FLAGS.hidden_size, num_layers=FLAGS.num_layers,
      num_attention_heads=FLAGS.num_attention_heads,
      inner_dim=FLAGS.inner_dim, max_sequence_length=FLAGS.seq_length,
      keep_k=FLAGS.keep_k)
  data = pretraining.DataConfig(
      train_data=train, eval_data=evaluation, vocab_file=vocab,
      require_summary=False,
      seq_length=FLAGS.seq_length,
      max_predictions_per_seq=FLAGS.max_predictions)
  run = pretraining.RunConfig(
      model_dir=os.path.join(work, 'model'), train_steps=total_steps * 10,
      global_batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.batch_size,
      steps_per_loop=n, summary_interval=n,
      eval_with_dropping=False)
  trainer = Pretrainer(strategy, encoder, data,
                       pretraining.OptimizerConfig(warmup_steps=10), run)
  # No checkpoints: orbit saves one at the end of every `train()` call, which a
  # real run makes once; here every timed round is such a call.
  controller, _ = train_lib.make_controller(trainer, None)
  features = next(iter(pretrain_dataloader.load_dataset(
      data.train_data, data, FLAGS.batch_size, True, 0)))
  step = trainer.train_step_fn(trainer.keep_k)

  @tf.function
  def bare_loop(features, num_steps):
    for _ in tf.range(num_steps):
      strategy.run(step, args=(features,))

  @tf.function
  def forward(features):
    return trainer.model(masked_lm.model_inputs(features),
                         training=False)['mlm_logits']

  def timed(fn):
    start = time.perf_counter()
    fn()
    trainer.global_step.numpy()  # waits for the work to finish.
    return time.perf_counter() - start

  def loop_round():
    controller.train(int(trainer.global_step.numpy()) + n)

  # Warm-up: tracing of every function timed below.
  timed(lambda: bare_loop(features, tf.constant(n)))
  timed(loop_round)
  trainer.evaluate(FLAGS.eval_batches)
  forward(features).numpy()
  bare, loop, evals, forwards = [], [], [], []
  for _ in range(FLAGS.rounds):
    bare.append(timed(lambda: bare_loop(features, tf.constant(n))) / n)
    loop.append(timed(loop_round) / n)
    evals.append(timed(lambda: trainer.evaluate(FLAGS.eval_batches)) /
                 FLAGS.eval_batches)
    forwards.append(timed(lambda: [forward(features).numpy() for _ in range(
        FLAGS.eval_batches)]) / FLAGS.eval_batches)
  bare_s, loop_s = statistics.median(bare), statistics.median(loop)
  eval_s, forward_s = statistics.median(evals), statistics.median(forwards)
  print(json.dumps(dict(
      device=tf.config.list_logical_devices()[-1].device_type,
      num_layers=FLAGS.num_layers, hidden_size=FLAGS.hidden_size,
      seq_length=FLAGS.seq_length, keep_k=FLAGS.keep_k,
      batch_size=FLAGS.batch_size, steps_per_loop=n, rounds=FLAGS.rounds,
      bare_step_s=round(bare_s, 5), loop_step_s=round(loop_s, 5),
      loop_overhead=round(loop_s / bare_s - 1.0, 4),
      eval_batch_s=round(eval_s, 5), forward_batch_s=round(forward_s, 5),
      eval_over_forward=round(eval_s / forward_s, 4))))


def run():
  """Runs the benchmark; a bad flag ends with one `Error:` line."""
  app.run(cli.main_with_clean_errors(main))


if __name__ == '__main__':
  run()
