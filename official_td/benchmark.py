r"""Times a pretraining step of plain BERT and of token-dropping BERT.

Both pretrainers (`BertPretrainerV2` over `BertEncoderV2` and over
`TokenDropBertEncoder`, same shapes and optimizer) are built in one process and
their full train steps (forward, backward, AdamW update and, for token
dropping, the importance update) are timed interleaved, so that both see the
same machine state. The last line printed is one JSON object:

  plain_step_s, token_drop_step_s (medians), measured_ratio, flop_ratio
  (the compute model of `official_td.flops`), importance_s (importance scores,
  selection and table update alone) and importance_fraction of a step.

Example (BERT-base, the paper's shape):

  python -m official_td.benchmark --seq_length=512 --keep_k=256 \
      --batch_size=4 --steps=5

With --gin_file the shape, batch, precision and keep schedule are a
pretraining config's (flags above are then ignored); one token-drop step is
compiled and timed per k of the schedule, and the JSON adds `step_s` (median
seconds per kept-token count; the full-sequence phases run the plain step)
and `schedule_ratio` (the schedule's mean step time over the plain step's):

  python -m official_td.benchmark --gin_file=gin/experiments/demo.gin \
      --gin_bindings="run.keep_schedule = ((0.0, 0.25), (0.8, 1.0))"

`official_td.compare` derives its budgets' steps from that ratio.
"""

import dataclasses
import json
import statistics
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from official.nlp import optimization
from official.nlp.modeling import models
from official.nlp.modeling import networks
from official_td import configurables
from official_td import flops
from official_td import runtime
from official_td.networks import TokenDropBertEncoder
from official_td.tasks import masked_lm
from official_td.tasks import pretrain

FLAGS = flags.FLAGS

flags.DEFINE_integer('num_layers', 12, 'Transformer layers.')
flags.DEFINE_integer('hidden_size', 768, 'Hidden size.')
flags.DEFINE_integer('num_attention_heads', 12, 'Attention heads.')
flags.DEFINE_integer('inner_dim', 3072, 'FFN inner size.')
flags.DEFINE_integer('vocab_size', 30522, 'Vocabulary size.')
flags.DEFINE_integer('seq_length', 512, 'Sequence length S.')
flags.DEFINE_integer('keep_k', 256, 'Tokens kept in the drop window.')
flags.DEFINE_integer('drop_start_layer', None, 'Window start (default L/2-1).')
flags.DEFINE_integer('drop_end_layer', None, 'Window end (default L-1).')
flags.DEFINE_integer('max_predictions', 76, 'MLM predictions per sequence.')
flags.DEFINE_float('dropout', 0.1, 'Output and attention dropout (BERT: 0.1).')
flags.DEFINE_integer('batch_size', 4, 'Sequences per step.')
flags.DEFINE_integer('steps', 5, 'Timed steps per model.')
flags.DEFINE_integer('warmup_steps', 1, 'Untimed steps per model (tracing).')
flags.DEFINE_bool('jit_compile', False, 'Compile the steps with XLA.')
flags.DEFINE_enum('precision', 'float32', ['float32', 'mixed_bfloat16',
                                            'mixed_float16'],
                  'Keras mixed-precision policy.')
flags.DEFINE_multi_string('gin_file', [], 'Take the shape from these '
                          'pretraining gin files (the flags above are unused).')
flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')


@dataclasses.dataclass
class Shape:
  """What a timed step depends on."""
  encoder: pretrain.EncoderConfig
  seq_length: int
  max_predictions: int
  batch_size: int
  precision: str = 'float32'
  jit_compile: bool = False
  # (fraction of the steps at which a phase starts, kept tokens).
  phases: tuple = ()


def shape_from_flags() -> Shape:
  encoder = pretrain.EncoderConfig(
      vocab_size=FLAGS.vocab_size,
      hidden_size=FLAGS.hidden_size,
      num_layers=FLAGS.num_layers,
      num_attention_heads=FLAGS.num_attention_heads,
      inner_dim=FLAGS.inner_dim,
      max_sequence_length=FLAGS.seq_length,
      dropout=FLAGS.dropout,
      keep_k=FLAGS.keep_k,
      keep_ratio=None,
      drop_start_layer=FLAGS.drop_start_layer,
      drop_end_layer=FLAGS.drop_end_layer)
  return Shape(encoder, FLAGS.seq_length, FLAGS.max_predictions,
               FLAGS.batch_size, FLAGS.precision, FLAGS.jit_compile,
               ((0.0, FLAGS.keep_k),))


def shape_from_gin(gin_files, gin_bindings) -> Shape:
  """The shape of the pretraining run these gin files configure."""
  runtime.parse_gin(gin_files, gin_bindings)
  encoder = configurables.encoder()
  data = configurables.data()
  run = configurables.run()
  s = data.seq_length
  if encoder.vocab_size is None:
    with tf.io.gfile.GFile(data.vocab_file) as f:
      encoder = dataclasses.replace(encoder, vocab_size=sum(1 for _ in f))
  if run.keep_schedule is not None:
    pretrain.check_keep_schedule(run, s)
  keep_k = encoder.keep_k or int(round(encoder.keep_ratio * s))
  # Phase fractions, exact to 1e-6 whatever the run's length.
  steps = 10**6
  phases = pretrain.keep_phases(dataclasses.replace(run, train_steps=steps),
                                s, keep_k if encoder.token_drop else None)
  return Shape(encoder, s, data.max_predictions_per_seq, run.global_batch_size,
               run.mixed_precision, run.jit_compile,
               tuple((start / steps, k) for start, k in phases))


# Special ids as in a vocab built by official_td.data.vocab (the benchmark
# needs no vocab file): [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4.
PAD, UNK, CLS, SEP, MASK = range(5)


def random_batch(rng, shape: Shape):
  """Packed sequences ([CLS] ... [SEP], no padding) of random ids."""
  b, s, p = shape.batch_size, shape.seq_length, shape.max_predictions
  ids = rng.integers(MASK + 1, shape.encoder.vocab_size, size=(b, s),
                     dtype=np.int32)
  ids[:, 0], ids[:, -1] = CLS, SEP
  positions = np.sort(
      np.stack([1 + rng.choice(s - 2, p, replace=False) for _ in range(b)]),
      axis=1).astype(np.int32)
  return dict(
      input_word_ids=tf.constant(ids),
      input_mask=tf.ones((b, s), tf.int32),
      input_type_ids=tf.zeros((b, s), tf.int32),
      masked_lm_positions=tf.constant(positions),
      masked_lm_ids=tf.constant(np.take_along_axis(ids, positions, 1)),
      masked_lm_weights=tf.ones((b, p), tf.float32))


def make_steps(encoder, shape: Shape, keep_ks=(None,)):
  """One compiled train step per kept-token count (None: the plain step)."""
  model = models.BertPretrainerV2(encoder)
  optimizer = optimization.create_optimizer(1e-4, 10000, 100)
  if shape.precision == 'mixed_float16':
    optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)

  def make(keep_k):
    importance = None if keep_k is None else encoder.importance

    @tf.function(jit_compile=shape.jit_compile)
    def step(features):
      if keep_k is None:
        return masked_lm.train_step(model, optimizer, features)['loss']
      with encoder.force_dropping(True, keep_k):
        return masked_lm.train_step(model, optimizer, features,
                                    importance)['loss']

    return step

  return {k: make(k) for k in keep_ks}


def make_importance_step(encoder, shape: Shape, keep_k: int):
  """Scores, selection and table update alone: the token-drop overhead."""
  importance = encoder.importance
  token_drop = encoder._token_drop  # pylint: disable=protected-access

  @tf.function(jit_compile=shape.jit_compile)
  def step(features):
    ids = features['input_word_ids']
    scores = importance(ids)
    selection = token_drop(scores, features['input_mask'], ids, keep_k=keep_k)
    importance.update(features['masked_lm_ids'],
                      tf.cast(features['masked_lm_weights'], tf.float32) * 3.0,
                      features['masked_lm_weights'])
    return selection['kept_indices']

  return step


def timed(fn, features):
  start = time.perf_counter()
  out = fn(features)
  tf.nest.map_structure(lambda t: t.numpy(), out)
  return time.perf_counter() - start


def measure(shape: Shape, steps: int, warmup_steps: int):
  """Median seconds of the plain step and of each dropping k's step.

  Returns:
    `(plain_s, {keep_k: token_drop_s}, importance_s, drop_window)`; the
    importance step is timed for the first dropping k.
  """
  tf_keras.mixed_precision.set_global_policy(shape.precision)
  features = random_batch(np.random.default_rng(0), shape)
  common = pretrain.plain_encoder_kwargs(shape.encoder)
  plain_encoder = networks.BertEncoderV2(**common)
  keep_ks = sorted({k for _, k in shape.phases if k < shape.seq_length})
  drop_encoder = TokenDropBertEncoder(
      keep_k=keep_ks[0],
      drop_start_layer=shape.encoder.drop_start_layer,
      drop_end_layer=shape.encoder.drop_end_layer,
      allow_ids=(CLS, SEP, MASK, UNK),
      deny_ids=(PAD,),
      **common)
  steps_by_k = make_steps(drop_encoder, shape, keep_ks)
  steps_by_k[None] = make_steps(plain_encoder, shape)[None]
  importance_step = make_importance_step(drop_encoder, shape, keep_ks[0])

  times = {k: [] for k in steps_by_k}
  importance_times = []
  for i in range(warmup_steps + steps):
    # Interleaved: every step sees the same machine state.
    for k, step in steps_by_k.items():
      seconds = timed(step, features)
      if i >= warmup_steps:
        times[k].append(seconds)
    for _ in range(3):
      seconds = timed(importance_step, features)
      if i >= warmup_steps:
        importance_times.append(seconds)
    if i >= warmup_steps:
      logging.info('step %d/%d: %s', i + 1 - warmup_steps, steps, ', '.join(
          f'{"plain" if k is None else f"k={k}"} {t[-1]:.3f}s'
          for k, t in times.items()))
  plain_s = statistics.median(times.pop(None))
  importance_s = statistics.median(importance_times)
  return (plain_s, {k: statistics.median(t) for k, t in times.items()},
          importance_s, list(drop_encoder.drop_window))


def main(argv):
  del argv
  if FLAGS.gin_file:
    shape = shape_from_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  else:
    shape = shape_from_flags()
  if all(k >= shape.seq_length for _, k in shape.phases):
    raise ValueError('The configuration drops no tokens (encoder.token_drop '
                     'is False or the schedule keeps full sequences): '
                     'nothing to compare.')
  plain_s, step_s, importance_s, window = measure(
      shape, FLAGS.steps, FLAGS.warmup_steps)
  keep_k = min(step_s)
  encoder = shape.encoder
  model = flops.FlopModel(
      num_layers=encoder.num_layers,
      hidden_size=encoder.hidden_size,
      inner_dim=encoder.inner_dim,
      seq_length=shape.seq_length,
      keep_k=keep_k,
      max_predictions=shape.max_predictions,
      vocab_size=encoder.vocab_size,
      drop_start_layer=window[0],
      drop_end_layer=window[1])
  drop_s = step_s[keep_k]
  result = dict(
      device=tf.config.list_logical_devices()[-1].device_type,
      precision=shape.precision,
      jit_compile=shape.jit_compile,
      num_layers=encoder.num_layers,
      hidden_size=encoder.hidden_size,
      seq_length=shape.seq_length,
      keep_k=keep_k,
      drop_window=window,
      batch_size=shape.batch_size,
      dropout=encoder.dropout,
      max_predictions=shape.max_predictions,
      steps=FLAGS.steps,
      plain_step_s=round(plain_s, 6),
      token_drop_step_s=round(drop_s, 6),
      measured_ratio=round(drop_s / plain_s, 4),
      flop_ratio=round(model.ratio(), 4),
      ratio_gap=round(drop_s / plain_s - model.ratio(), 4),
      importance_s=round(importance_s, 5),
      importance_fraction=round(importance_s / drop_s, 5),
      keep_phases=[list(p) for p in shape.phases],
      step_s={str(k): round(t, 6) for k, t in step_s.items()},
      schedule_ratio=round(pretrain.schedule_ratio(shape.phases, step_s,
                                                     plain_s), 4),
  )
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(runtime.main_with_clean_errors(main))
