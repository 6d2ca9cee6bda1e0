"""Tests of TokenDrop, TokenRestore and the special-token lookup."""

import collections
import itertools

import numpy as np
from scipy import stats
import tensorflow as tf

from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.layers import TokenDrop
from official_td.layers import TokenImportance
from official_td.networks import TokenDropBertEncoder
from official_td.layers import TokenRestore
from official_td.vocab import resolve_special_token_ids
from tests import testing_utils as tu


def plackett_luce(p, size):
  """Probability of each set of `size` positions when positions are drawn
  one by one without replacement with probabilities `p` (renormalized after
  each draw): a sum over the set's orders (independent of the layers)."""
  out = {}
  for subset in itertools.combinations(range(len(p)), size):
    total = 0.0
    for order in itertools.permutations(subset):
      prob, left = 1.0, 1.0
      for i in order:
        prob *= p[i] / left
        left -= p[i]
      total += prob
    out[subset] = total
  return out


class SamplingTest(tu.TestCase):
  """`sampling_temperature` τ: the real tokens are a sample without
  replacement with weights importance^(1/τ), drawn from the per-sequence
  seeds; τ → 0 is the top-k, the tiers hold."""

  # [CLS], five real tokens of these importances, [SEP]: keep_k - 2 of the
  # five are left to the score.
  IMPORTANCE = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
  ROWS = 20000

  def kept_sets(self, temperature, keep_k, importance=None):
    ids = np.tile([[tu.CLS, 10, 11, 12, 13, 14, tu.SEP]], (self.ROWS, 1))
    layer = TokenImportance(20)
    layer.build(None)
    table = np.ones(20, np.float32)
    table[10:15] = self.IMPORTANCE if importance is None else importance
    layer.table.assign(table)
    scores = layer(ids)
    if temperature:
      scores = layer.log_weights(scores)
    drop = TokenDrop(keep_k, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
                     sampling_temperature=temperature)
    kept = drop(scores, np.ones_like(ids), ids,
                seed=np.arange(self.ROWS, dtype=np.int32))['kept_indices']
    kept = kept.numpy()
    self.assertTrue(((kept[:, 0] == 0) & (kept[:, -1] == 6)).all())  # tiers.
    return collections.Counter(tuple(int(i) - 1 for i in row[1:-1])
                               for row in kept)

  def chi_square_p(self, counts, probabilities):
    keys = sorted(probabilities)
    observed = [counts.get(k, 0) for k in keys]
    self.assertEqual(sum(observed), self.ROWS)  # no set outside the model.
    expected = [probabilities[k] * self.ROWS for k in keys]
    return stats.chisquare(observed, expected).pvalue

  def test_kept_sets_follow_the_sampling_distribution(self):
    for temperature in (0.5, 1.0, 2.0):
      weights = self.IMPORTANCE ** (1 / temperature)
      p = weights / weights.sum()
      for keep_k in (3, 4):  # one and two of the five by the score.
        with self.subTest(temperature=temperature, keep_k=keep_k):
          counts = self.kept_sets(temperature, keep_k)
          expected = plackett_luce(p, keep_k - 2)
          self.assertGreater(self.chi_square_p(counts, expected), 1e-3)
          # The test tells distributions apart: the same counts against
          # another temperature's, and the top-k's against this one's.
          other = self.IMPORTANCE ** (1.5 / temperature)
          self.assertLess(self.chi_square_p(
              counts, plackett_luce(other / other.sum(), keep_k - 2)), 1e-6)
    top = self.kept_sets(0.0, 4)
    self.assertEqual(list(top), [(0, 1)])  # the two most important.

  def test_small_temperature_is_the_top_k_and_large_is_uniform(self):
    rng = np.random.default_rng(3)
    importance = rng.uniform(0.5, 8.0, 5)  # distinct
    self.assertEqual(self.kept_sets(1e-3, 4, importance),
                     self.kept_sets(0.0, 4, importance))
    uniform = plackett_luce(np.full(5, 0.2), 2)
    self.assertGreater(self.chi_square_p(
        self.kept_sets(1e4, 4, importance), uniform), 1e-3)

  def test_the_encoder_samples_at_its_temperature(self):
    """`importance_sampling_temperature` reaches the encoder's selection:
    the kept positions are TokenDrop's sample on the table's log-weights,
    not the top-k (10 of 14 real tokens kept, 6 of them forced: [CLS],
    [SEP] and the 4 [MASK]s)."""
    features = tu.batch(batch_size=8, seq_length=16, num_real=14)
    inputs = {k: features[k] for k in ('input_word_ids', 'input_mask',
                                       'input_type_ids')}
    inputs['drop_seed'] = np.arange(8, dtype=np.int32)
    kept = {}
    for temperature in (0.0, 1.0):
      encoder = TokenDropBertEncoder(
          keep_k=10, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
          output_drop_indices=True,
          importance_sampling_temperature=temperature, **tu.TINY_ENCODER)
      encoder(inputs)
      encoder.importance.table.assign(
          np.random.default_rng(4).uniform(0.5, 8.0, 60).astype(np.float32))
      with encoder.force_dropping(True):
        kept[temperature] = encoder(inputs)['kept_indices'].numpy()
    importance = encoder.importance
    sample = TokenDrop(10, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
                       sampling_temperature=1.0)(
                           importance.log_weights(importance(
                               inputs['input_word_ids'])),
                           inputs['input_mask'], inputs['input_word_ids'],
                           seed=inputs['drop_seed'])['kept_indices'].numpy()
    self.assertAllEqual(kept[1.0], sample)
    self.assertFalse((kept[1.0] == kept[0.0]).all())
    for bad in (dict(importance_mode='random'), dict(drop_mode='random_ltd')):
      config = encoders.EncoderConfig(importance_sampling_temperature=1.0,
                                      **bad)
      with self.assertRaisesRegex(ValueError, 'importance_sampling_temp'):
        pretraining.check_configs(config, pretraining.DataConfig(
            train_data='x', seq_length=16), pretraining.RunConfig(
                model_dir='x'))

  def test_bad_temperatures_are_refused(self):
    for bad in (-1.0, float('inf'), float('nan')):
      with self.assertRaisesRegex(ValueError, 'finite positive temperature'):
        TokenDrop(3, sampling_temperature=bad)
    layer = TokenImportance(20, mode='random')
    with self.assertRaisesRegex(ValueError, "importance_mode='random'"):
      layer.log_weights(tf.zeros([1, 3]))


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
