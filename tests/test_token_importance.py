"""Tests of TokenImportance."""

import numpy as np
import tensorflow as tf

from official_td.layers import TokenDrop
from official_td.layers import TokenImportance
from tests import testing_utils as tu


def reference_update(table, ids, losses, weights, beta):
  """The moving average computed independently in numpy."""
  table = np.array(table, np.float64)
  ids, losses, weights = (np.ravel(a) for a in (ids, losses, weights))
  for token in np.unique(ids[weights > 0]):
    sel = (ids == token) & (weights > 0)
    mean = np.sum(losses[sel] * weights[sel]) / np.sum(weights[sel])
    table[token] = beta * table[token] + (1 - beta) * mean
  return table


class TokenImportanceTest(tu.TestCase):

  def test_exact_values_with_duplicates_zero_weights_and_unseen_ids(self):
    layer = TokenImportance(10, beta=0.9, initial_value=10.0)
    ids = np.array([[3, 3, 5, 0], [3, 7, 5, 0]])
    losses = np.array([[1.0, 3.0, 2.0, 99.0], [5.0, 4.0, np.nan, 7.0]],
                      np.float32)
    weights = np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 1.0, 0.0, 0.0]],
                       np.float32)
    layer.update(ids, losses, weights)
    # id 3: (1 + 3 + 2 * 5) / 4 = 3.5; id 5: 2.0 (the NaN slot has weight 0);
    # id 7: 4.0; id 0 only in weight-0 slots: unchanged, as are unseen ids.
    expected = np.full(10, 10.0)
    expected[3] = 0.9 * 10 + 0.1 * 3.5
    expected[5] = 0.9 * 10 + 0.1 * 2.0
    expected[7] = 0.9 * 10 + 0.1 * 4.0
    self.assertAllClose(layer.table.numpy(), expected)
    self.assertAllClose(
        layer.table.numpy(),
        reference_update(np.full(10, 10.0), ids, np.nan_to_num(losses),
                         weights, 0.9))
    # A second update composes.
    ids2, losses2, weights2 = np.array([3, 9]), np.array([0.5, 8.0]), np.ones(2)
    layer.update(ids2, losses2, weights2)
    self.assertAllClose(
        layer.table.numpy(),
        reference_update(expected, ids2, losses2, weights2, 0.9))
    self.assertAllClose(layer(np.array([[3, 1]])),
                        [[layer.table.numpy()[3], 10.0]])

  def test_padding_never_kept_after_5000_updates_with_padding_losses(self):
    vocab = 20
    layer = TokenImportance(vocab, beta=0.995, initial_value=10.0)
    drop = TokenDrop(6, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS)
    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(5, vocab, size=(8, 12)), tf.int32)
    # Padded slots carry a high loss: with weight 0 (the usual case) and even
    # with weight 1 (a caller that forgets to weight them).
    pad_ids = tf.zeros((8, 4), tf.int32)
    all_ids = tf.concat([ids, pad_ids], 1)
    losses = tf.concat([tf.fill([8, 12], 0.5), tf.fill([8, 4], 50.0)], 1)

    @tf.function
    def updates(weights):
      for _ in tf.range(5000):
        layer.update(all_ids, losses, weights)

    real_w = tf.concat([tf.ones([8, 12]), tf.zeros([8, 4])], 1)
    updates(real_w)
    self.assertAllClose(layer.table[tu.PAD], 10.0)  # weight 0 never trains.
    updates(tf.ones([8, 16]))
    self.assertGreater(layer.table[tu.PAD].numpy(),
                       layer.table[5:].numpy().max())
    # Sequences of 8 real tokens, 4 [PAD] ids inside the mask, 4 padding.
    seq = np.concatenate(
        [[tu.CLS], rng.integers(5, vocab, 6), [tu.SEP], [tu.PAD] * 8])[None]
    mask = np.array([[1] * 12 + [0] * 4])
    for seed in range(20):
      kept = drop(layer(seq), mask, seq, seed=[seed])['kept_indices'].numpy()
      # [CLS], [SEP] and 4 of the 6 real tokens; never a [PAD] or padding.
      self.assertEqual(kept[0][0], 0)
      self.assertEqual(kept[0][-1], 7)
      self.assertTrue(set(kept[0][1:-1]) <= set(range(1, 7)), kept)
    # Allow-listed ids are kept whatever their score.
    layer.table.assign(tf.where(tf.range(vocab) == tu.CLS, -1e9, layer.table))
    kept = drop(layer(seq), mask, seq)['kept_indices'].numpy()
    self.assertEqual((kept[0][0], kept[0][-1]), (0, 7))  # [CLS], [SEP].

  def test_frequency_mode_rarer_ids_score_higher(self):
    layer = TokenImportance(6, mode='frequency',
                            initial_counts=[0, 100, 10, 1, 0, 0])
    layer.update(np.array([[4, 4, 5]]), weights=np.array([[1, 1, 0]]))
    self.assertAllClose(layer.table.numpy(), [0, 100, 10, 1, 2, 0])
    scores = layer(np.array([[1, 2, 3, 4, 5]])).numpy()[0]
    self.assertAllClose(scores, -np.log1p([100, 10, 1, 2, 0]))
    self.assertEqual(list(np.argsort(-scores)), [4, 2, 3, 1, 0])

  def test_random_mode(self):
    layer = TokenImportance(6, mode='random')
    a = layer(tf.zeros([4, 50], tf.int32)).numpy()
    b = layer(tf.zeros([4, 50], tf.int32)).numpy()
    self.assertTrue(((a >= 0) & (a < 1)).all())
    self.assertGreater(np.abs(a - b).max(), 0)
    layer.update(np.array([1]), np.array([1.0]))
    self.assertAllClose(layer.table.numpy(), np.full(6, 10.0))

  def test_config_round_trip(self):
    tu.assert_config_round_trip(
        self, TokenImportance(7, mode='frequency', initial_counts=[1] * 7))
    tu.assert_config_round_trip(self, TokenImportance(7, beta=0.9))

  def test_raises_on_unknown_mode(self):
    with self.assertRaisesRegex(ValueError, 'mlm_loss'):
      TokenImportance(7, mode='loss')

  def test_raises_when_initial_counts_do_not_match_vocab(self):
    with self.assertRaisesRegex(ValueError, 'one count per vocabulary id'):
      TokenImportance(7, mode='frequency', initial_counts=[1, 2])


if __name__ == '__main__':
  tf.test.main()
