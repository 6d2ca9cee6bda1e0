"""Helpers shared by the tests: tiny configs, batches, layer round-trips."""

import numpy as np
import tensorflow as tf
import tf_keras

# Ids of a tiny vocab: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK].
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
ALLOW_IDS = (CLS, SEP, MASK, UNK)
DENY_IDS = (PAD,)

TINY_ENCODER = dict(
    vocab_size=60,
    hidden_size=16,
    num_layers=4,
    num_attention_heads=2,
    inner_dim=32,
    max_sequence_length=16,
    inner_activation='gelu',
    output_dropout=0.0,
    attention_dropout=0.0)


class TestCase(tf.test.TestCase):
  """tf.test.TestCase without its `test_session` helper, which pytest would
  otherwise collect and report as a skipped test."""

  test_session = None


def write_vocab(path, size=60, omit=()):
  """Writes a WordPiece-style vocab with the special tokens at ids 0-4."""
  tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
  tokens += [f'tok{i}' for i in range(size - len(tokens))]
  tokens = [t if t not in omit else f'other{i}' for i, t in enumerate(tokens)]
  with open(path, 'w') as f:
    f.write('\n'.join(tokens) + '\n')
  return str(path)


def batch(batch_size=4, seq_length=16, num_real=None, predictions=4, seed=0,
          vocab_size=60):
  """A pretraining batch: [CLS] ids... [SEP] then padding."""
  rng = np.random.default_rng(seed)
  num_real = num_real or seq_length
  ids = rng.integers(5, vocab_size, size=(batch_size, seq_length))
  ids[:, 0] = CLS
  ids[:, num_real - 1] = SEP
  ids[:, num_real:] = PAD
  mask = np.zeros_like(ids)
  mask[:, :num_real] = 1
  positions = np.stack([
      np.sort(rng.choice(np.arange(1, num_real - 1), predictions, False))
      for _ in range(batch_size)])
  labels = np.take_along_axis(ids, positions, 1)
  ids_masked = ids.copy()
  np.put_along_axis(ids_masked, positions, MASK, 1)
  return dict(
      input_word_ids=tf.constant(ids_masked, tf.int32),
      input_mask=tf.constant(mask, tf.int32),
      input_type_ids=tf.zeros_like(tf.constant(ids, tf.int32)),
      masked_lm_positions=tf.constant(positions, tf.int32),
      masked_lm_ids=tf.constant(labels, tf.int32),
      masked_lm_weights=tf.ones(positions.shape, tf.float32),
      drop_seed=tf.range(batch_size, dtype=tf.int32) + 1000 * seed)


def encoder_inputs(features):
  return {k: features[k] for k in
          ('input_word_ids', 'input_mask', 'input_type_ids')}


def assert_config_round_trip(test, layer):
  """`from_config(get_config())` rebuilds an equal config, also via Keras."""
  config = layer.get_config()
  clone = type(layer).from_config(config)
  test.assertEqual(clone.get_config(), config)
  serialized = tf_keras.layers.serialize(layer)
  revived = tf_keras.layers.deserialize(serialized)
  test.assertIsInstance(revived, type(layer))
  test.assertEqual(revived.get_config(), config)
