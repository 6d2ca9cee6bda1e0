"""Tests of TokenDrop, TokenRestore and the special-token lookup."""

import numpy as np
import tensorflow as tf

from official_td.layers import TokenDrop
from official_td.layers import TokenRestore
from official_td.vocab import resolve_special_token_ids
from tests import testing_utils as tu


class TokenDropTest(tu.TestCase):

  def test_keeps_top_k_scores_in_position_order(self):
    rng = np.random.default_rng(1)
    scores = rng.permutation(64).reshape(4, 16).astype(np.float32)
    out = TokenDrop(5)(scores, np.ones((4, 16)))
    expected = np.sort(np.argsort(-scores, axis=1)[:, :5], axis=1)
    self.assertAllEqual(out['kept_indices'], expected)
    for row, kept, dropped in zip(range(4), out['kept_indices'].numpy(),
                                  out['dropped_indices'].numpy()):
      self.assertAllEqual(np.sort(np.concatenate([kept, dropped])),
                          np.arange(16))
      self.assertTrue((np.diff(dropped) > 0).all(), row)

  def test_special_tokens_and_padding(self):
    ids = np.array([[tu.CLS, 10, 11, tu.MASK, 12, tu.PAD, tu.SEP, 0, 0, 0]])
    mask = np.array([[1, 1, 1, 1, 1, 1, 1, 0, 0, 0]])
    # Adversarial scores: specials lowest, [PAD] and padding highest.
    scores = np.array([[-5, 1, 3, -5, 2, 100, -5, 100, 100, 100]], np.float32)
    drop = TokenDrop(5, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS)
    kept = drop(scores, mask, ids)['kept_indices'].numpy()[0]
    self.assertAllEqual(kept, [0, 2, 3, 4, 6])  # 3 specials + 2 best real.
    kept = drop(scores, mask, ids, keep_k=8)['kept_indices'].numpy()[0]
    # Every real token, then the deny-listed [PAD], then one padding slot.
    self.assertAllEqual(kept[:7], [0, 1, 2, 3, 4, 5, 6])
    self.assertIn(kept[7], [7, 8, 9])

  def test_ties_are_broken_without_positional_bias(self):
    drop = TokenDrop(8)
    kept_counts = np.zeros(16)
    for seed in range(300):
      kept = drop(np.zeros((1, 16)), np.ones((1, 16)),
                  seed=[seed])['kept_indices'].numpy()[0]
      kept_counts[kept] += 1
    freq = kept_counts / 300
    # Each position is kept half the time (binomial sd ~0.03).
    self.assertAllInRange(freq, 0.38, 0.62)
    self.assertLess(abs(freq[:8].mean() - freq[8:].mean()), 0.06)

  def test_stateless_seed_is_reproducible(self):
    drop = TokenDrop(4)
    args = (np.zeros((2, 12)), np.ones((2, 12)))
    a = drop(*args, seed=[7, 3])['kept_indices'].numpy()
    self.assertAllEqual(a, drop(*args, seed=[7, 3])['kept_indices'])
    self.assertNotAllEqual(a[0], a[1])
    # A sequence's choice depends on its own seed only, not on its batch.
    self.assertAllEqual(a[1], drop(np.zeros((1, 12)), np.ones((1, 12)),
                                   seed=[3])['kept_indices'][0])
    self.assertNotAllEqual(a, drop(*args, seed=[7, 4])['kept_indices'])

  def test_restore_inverts_drop(self):
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(3, 10, 4)), tf.float32)
    out = TokenDrop(4)(rng.normal(size=(3, 10)), np.ones((3, 10)))
    kept = TokenDrop.gather(x, out['kept_indices'])
    dropped = TokenDrop.gather(x, out['dropped_indices'])
    restored = TokenRestore()(kept, dropped, out['kept_indices'],
                              out['dropped_indices'])
    self.assertAllEqual(restored, x)
    # Positions are restored, not only values: restore the position ids.
    pos = tf.tile(tf.range(10)[None, :, None], [3, 1, 1])
    self.assertAllEqual(
        TokenRestore()(TokenDrop.gather(pos, out['kept_indices']),
                       TokenDrop.gather(pos, out['dropped_indices']),
                       out['kept_indices'], out['dropped_indices']), pos)

  def test_config_round_trip(self):
    tu.assert_config_round_trip(self, TokenDrop(3, allow_ids=[1], deny_ids=[0]))
    tu.assert_config_round_trip(self, TokenRestore())

  def test_raises_when_keep_k_exceeds_sequence(self):
    with self.assertRaisesRegex(ValueError, 'exceeds the sequence length 8'):
      TokenDrop(9)(np.zeros((1, 8)), np.ones((1, 8)))

  def test_raises_when_keep_k_not_positive(self):
    with self.assertRaisesRegex(ValueError, 'positive'):
      TokenDrop(0)

  def test_raises_when_id_allowed_and_denied(self):
    with self.assertRaisesRegex(ValueError, 'both allow- and deny-listed'):
      TokenDrop(2, allow_ids=[1, 0], deny_ids=[0])


class SpecialTokensTest(tu.TestCase):

  def test_resolves_ids_by_string(self):
    path = self.create_tempfile(content='\n'.join(
        ['a', 'b', '[MASK]', '[SEP]', '[PAD]', 'c', '[CLS]', '[UNK]']) + '\n')
    ids = resolve_special_token_ids(path.full_path)
    self.assertEqual(ids.allow_ids, (6, 3, 2, 7))
    self.assertEqual(ids.deny_ids, (4,))
    self.assertEqual(ids.vocab_size, 8)
    drop = TokenDrop.from_vocab(path.full_path, 2)
    self.assertEqual(drop.allow_ids, (6, 3, 2, 7))

  def test_raises_when_vocab_lacks_special_token(self):
    path = tu.write_vocab(self.create_tempdir().full_path + '/v.txt',
                          omit=('[MASK]',))
    with self.assertRaisesRegex(ValueError, r"lacks the special token\(s\) "
                                r"\['\[MASK\]'\]"):
      resolve_special_token_ids(path)

  def test_raises_when_vocab_missing(self):
    with self.assertRaisesRegex(ValueError, 'does not exist'):
      resolve_special_token_ids('/nonexistent/vocab.txt')


if __name__ == '__main__':
  tf.test.main()
