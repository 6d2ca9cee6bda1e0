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
"""

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
from official_td import flops
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


def encoder_kwargs():
  """The encoder shape of the flags, as the training task builds it."""
  return pretrain.plain_encoder_kwargs(pretrain.EncoderConfig(
      vocab_size=FLAGS.vocab_size,
      hidden_size=FLAGS.hidden_size,
      num_layers=FLAGS.num_layers,
      num_attention_heads=FLAGS.num_attention_heads,
      inner_dim=FLAGS.inner_dim,
      max_sequence_length=FLAGS.seq_length,
      dropout=FLAGS.dropout))


# Special ids as in a vocab built by official_td.data.vocab (the benchmark
# needs no vocab file): [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4.
PAD, UNK, CLS, SEP, MASK = range(5)


def random_batch(rng):
  """Packed sequences ([CLS] ... [SEP], no padding) of random ids."""
  b, s, p = FLAGS.batch_size, FLAGS.seq_length, FLAGS.max_predictions
  ids = rng.integers(MASK + 1, FLAGS.vocab_size, size=(b, s), dtype=np.int32)
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


def make_step(encoder, importance=None):
  model = models.BertPretrainerV2(encoder)
  optimizer = optimization.create_optimizer(1e-4, 10000, 100)
  if FLAGS.precision == 'mixed_float16':
    optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)

  @tf.function(jit_compile=FLAGS.jit_compile)
  def step(features):
    return masked_lm.train_step(model, optimizer, features, importance)['loss']

  return step


def make_importance_step(encoder):
  """Scores, selection and table update alone: the token-drop overhead."""
  importance = encoder.importance
  token_drop = encoder._token_drop  # pylint: disable=protected-access
  keep_k = encoder.keep_k_for(FLAGS.seq_length)

  @tf.function(jit_compile=FLAGS.jit_compile)
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


def main(argv):
  del argv
  tf_keras.mixed_precision.set_global_policy(FLAGS.precision)
  rng = np.random.default_rng(0)
  features = random_batch(rng)
  plain_encoder = networks.BertEncoderV2(**encoder_kwargs())
  drop_encoder = TokenDropBertEncoder(
      keep_k=FLAGS.keep_k,
      drop_start_layer=FLAGS.drop_start_layer,
      drop_end_layer=FLAGS.drop_end_layer,
      allow_ids=(CLS, SEP, MASK, UNK),
      deny_ids=(PAD,),
      **encoder_kwargs())
  plain_step = make_step(plain_encoder)
  drop_step = make_step(drop_encoder, drop_encoder.importance)
  importance_step = make_importance_step(drop_encoder)

  for _ in range(FLAGS.warmup_steps):
    timed(plain_step, features)
    timed(drop_step, features)
    timed(importance_step, features)
  plain_times, drop_times, importance_times = [], [], []
  for i in range(FLAGS.steps):
    plain_times.append(timed(plain_step, features))
    drop_times.append(timed(drop_step, features))
    for _ in range(3):
      importance_times.append(timed(importance_step, features))
    logging.info('step %d/%d: plain %.3fs, token drop %.3fs', i + 1,
                 FLAGS.steps, plain_times[-1], drop_times[-1])

  model = flops.FlopModel(
      num_layers=FLAGS.num_layers,
      hidden_size=FLAGS.hidden_size,
      inner_dim=FLAGS.inner_dim,
      seq_length=FLAGS.seq_length,
      keep_k=FLAGS.keep_k,
      max_predictions=FLAGS.max_predictions,
      vocab_size=FLAGS.vocab_size,
      drop_start_layer=FLAGS.drop_start_layer,
      drop_end_layer=FLAGS.drop_end_layer)
  plain_s = statistics.median(plain_times)
  drop_s = statistics.median(drop_times)
  importance_s = statistics.median(importance_times)
  start, end = drop_encoder.drop_window
  result = dict(
      device=tf.config.list_logical_devices()[-1].device_type,
      precision=FLAGS.precision,
      jit_compile=FLAGS.jit_compile,
      num_layers=FLAGS.num_layers,
      hidden_size=FLAGS.hidden_size,
      seq_length=FLAGS.seq_length,
      keep_k=FLAGS.keep_k,
      drop_window=[start, end],
      batch_size=FLAGS.batch_size,
      dropout=FLAGS.dropout,
      max_predictions=FLAGS.max_predictions,
      steps=FLAGS.steps,
      plain_step_s=round(plain_s, 6),
      token_drop_step_s=round(drop_s, 6),
      measured_ratio=round(drop_s / plain_s, 4),
      flop_ratio=round(model.ratio(), 4),
      ratio_gap=round(drop_s / plain_s - model.ratio(), 4),
      importance_s=round(importance_s, 5),
      importance_fraction=round(importance_s / drop_s, 5),
  )
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
