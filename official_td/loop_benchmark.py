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

  python -m official_td.loop_benchmark --num_layers=8 --hidden_size=256 \
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
import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from official_td.data import records  # pylint: disable=g-import-not-at-top
from official_td.tasks import masked_lm  # pylint: disable=g-import-not-at-top
from official_td.tasks import pretrain  # pylint: disable=g-import-not-at-top

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


def write_synthetic_data(directory, num_sequences, rng):
  """Packed random sequences in BertPretrainDataLoader's format + a vocab."""
  vocab = os.path.join(directory, 'vocab.txt')
  with tf.io.gfile.GFile(vocab, 'w') as f:
    f.write('\n'.join(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] +
                      [f'tok{i}' for i in range(FLAGS.vocab_size - 5)]) + '\n')
  s, p = FLAGS.seq_length, FLAGS.max_predictions
  for split, n in (('train', num_sequences), ('eval', FLAGS.eval_batches *
                                              FLAGS.batch_size)):
    path = os.path.join(directory, f'{split}-00000-of-00001.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
      for _ in range(n):
        ids = rng.integers(5, FLAGS.vocab_size, s)
        ids[0], ids[-1] = 2, 3
        positions = np.sort(rng.choice(np.arange(1, s - 1), p, False))
        labels = ids[positions].copy()
        ids[positions] = 4
        writer.write(records.serialize(dict(
            input_ids=ids, input_mask=np.ones(s, np.int64),
            segment_ids=np.zeros(s, np.int64),
            masked_lm_positions=positions, masked_lm_ids=labels,
            masked_lm_weights=np.ones(p, np.float32))))
  return vocab


def main(argv):
  del argv
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix='td_loop_bench_')
  rng = np.random.default_rng(0)
  n = FLAGS.steps_per_loop
  total_steps = n * (FLAGS.rounds + 2)
  vocab = write_synthetic_data(work, 4 * FLAGS.batch_size * n, rng)
  strategy = tf.distribute.OneDeviceStrategy(
      tf.config.list_logical_devices()[-1].name)
  encoder = pretrain.EncoderConfig(
      hidden_size=FLAGS.hidden_size, num_layers=FLAGS.num_layers,
      num_attention_heads=FLAGS.num_attention_heads,
      inner_dim=FLAGS.inner_dim, max_sequence_length=FLAGS.seq_length,
      keep_k=FLAGS.keep_k)
  data = pretrain.DataConfig(
      train_data=os.path.join(work, 'train-*'),
      eval_data=os.path.join(work, 'eval-*'), vocab_file=vocab,
      seq_length=FLAGS.seq_length,
      max_predictions_per_seq=FLAGS.max_predictions)
  run = pretrain.RunConfig(
      model_dir=os.path.join(work, 'model'), train_steps=total_steps * 10,
      global_batch_size=FLAGS.batch_size, eval_batch_size=FLAGS.batch_size,
      steps_per_loop=n, summary_interval=n,
      eval_with_dropping=False)
  trainer = pretrain.Pretrainer(strategy, encoder, data,
                                pretrain.OptimizerConfig(warmup_steps=10),
                                run)
  # No checkpoints: orbit saves one at the end of every `train()` call, which a
  # real run makes once; here every timed round is such a call.
  controller, _ = pretrain.make_controller(trainer, None)
  features = next(iter(pretrain.load_dataset(data.train_data, data,
                                             FLAGS.batch_size, True, 0)))
  step = trainer._step_fn(trainer.keep_k)  # pylint: disable=protected-access

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


if __name__ == '__main__':
  app.run(main)
