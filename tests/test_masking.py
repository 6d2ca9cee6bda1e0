"""One masking rule, two implementations: static (numpy, in the Beam
pipeline) and dynamic (TensorFlow, in the training input) agree.

Both paths mask the same packed sequences (the same corpus and seed, so the
same packing): static masking writes `DUPES` masked copies of each, dynamic
masking is read for `DUPES` epochs through `official_td.data.show` (the
training input's own functions). Over >= 20,000 predictions from each, the
masking rate, the 80/10/10 split and the rate at every position (the first
word included) agree within 3 standard errors, and whole words stay whole.
"""

import math
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from official_td.data import dynamic_masking
from official_td.data import masking
from official_td.data import show
from official_td.data import sources
from tests import pretrain_utils as pu
from tests import testing_utils as tu

DUPES = 45


def word_ids_by_sequence(data_dir):
  """Unmasked dynamic records: original ids (bytes) -> word ids."""
  config = dynamic_masking.MaskingConfig(32, 5, 100, 4)
  dataset = tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(data_dir, 'train-*'))).map(
          lambda r: dynamic_masking.parse(r, config))
  return {row['input_ids'].numpy().tobytes(): row['word_ids'].numpy()
          for row in dataset}


def counts(examples, words_of, mask_id):
  """Masking statistics of `examples`; asserts whole words stay whole."""
  stats = dict(candidates=0, masked=0, mask=0, same=0, other=0,
               position_masked=np.zeros(32), position_candidate=np.zeros(32))
  for ex in examples:
    words = words_of[ex['original_ids'].astype(np.int64).tobytes()]
    positions = ex['masked_positions']
    candidate = words >= 0
    assert candidate[positions].all(), 'masked a [CLS]/[SEP]/padding'
    for w in set(words[positions].tolist()):
      assert set(np.where(words == w)[0]) <= set(positions.tolist()), (
          'a word was masked in part')
    stats['candidates'] += int(candidate.sum())
    stats['masked'] += len(positions)
    seen, labels = ex['seen_ids'], ex['masked_ids']
    stats['mask'] += int(np.sum(seen == mask_id))
    stats['same'] += int(np.sum(seen == labels))
    stats['other'] += int(np.sum((seen != mask_id) & (seen != labels)))
    stats['position_candidate'] += candidate
    stats['position_masked'][positions] += 1
  return stats


def agree(test, x1, n1, x2, n2, what):
  """Two proportions agree within 3 standard errors (pooled)."""
  p = (x1 + x2) / (n1 + n2)
  se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
  test.assertLessEqual(abs(x1 / n1 - x2 / n2), 3 * se,
                       f'{what}: {x1 / n1:.4f} (static, n={n1}) vs '
                       f'{x2 / n2:.4f} (dynamic, n={n2}), 3 SE = {3 * se:.4f}')


class BudgetTest(tu.TestCase):

  def test_dynamic_budget_is_the_static_rule_for_every_count(self):
    counts_ = tf.range(0, 1025)
    for prob in (0.1, 0.15, 0.2, 0.3):
      for max_predictions in (20, 76, 2000):
        config = dynamic_masking.MaskingConfig(
            1024, max_predictions, 100, 4, masked_lm_prob=prob)
        got = tf.map_fn(
            lambda n, c=config: dynamic_masking.prediction_budget(n, c),
            counts_).numpy()
        expected = [masking.prediction_budget(n, prob, max_predictions)
                    for n in range(0, 1025)]
        self.assertAllEqual(got, expected, msg=f'{prob} {max_predictions}')


class MaskingParityTest(tu.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    corpus = sources.in_memory(pu.varied_corpus(seed=3))
    cls.static_dir = os.path.join(cls.root, 'static')
    cls.dynamic_dir = os.path.join(cls.root, 'dynamic')
    pu.make_data(cls.static_dir, corpus, whole_word_masking=True,
                 dupe_factor=DUPES, num_shards=1)
    pu.make_data(cls.dynamic_dir, corpus, whole_word_masking=True,
                 masking='dynamic', num_shards=1)
    vocab = open(os.path.join(cls.static_dir, 'vocab.txt')).read().split()
    cls.mask_id = vocab.index('[MASK]')
    cls.words_of = word_ids_by_sequence(cls.dynamic_dir)
    cls.static = counts(show.examples(cls.static_dir), cls.words_of,
                        cls.mask_id)
    cls.dynamic = counts(
        (ex for epoch in range(DUPES)
         for ex in show.examples(cls.dynamic_dir, epoch=epoch)),
        cls.words_of, cls.mask_id)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_the_corpus_has_words_of_several_pieces(self):
    pieces = [np.bincount(w[w >= 0]) for w in self.words_of.values()]
    self.assertGreater(np.mean([np.mean(p > 1) for p in pieces]), 0.1)

  def test_masking_rate_agrees(self):
    for stats in (self.static, self.dynamic):
      self.assertGreaterEqual(stats['masked'], 20000)
      self.assertAlmostEqual(stats['masked'] / stats['candidates'], 0.15,
                             delta=0.02)
    agree(self, self.static['masked'], self.static['candidates'],
          self.dynamic['masked'], self.dynamic['candidates'], 'masking rate')

  def test_80_10_10_split_agrees(self):
    for kind, nominal in (('mask', 0.8), ('same', 0.1), ('other', 0.1)):
      for stats in (self.static, self.dynamic):
        # 'other' loses the random draws that hit the original id.
        self.assertAlmostEqual(stats[kind] / stats['masked'], nominal,
                               delta=0.02, msg=kind)
      agree(self, self.static[kind], self.static['masked'],
            self.dynamic[kind], self.dynamic['masked'], kind)

  def test_rate_at_every_position_agrees_first_word_included(self):
    compared = 0
    for position in range(1, 31):
      n1 = self.static['position_candidate'][position]
      n2 = self.dynamic['position_candidate'][position]
      if min(n1, n2) < 100:
        continue
      compared += 1
      agree(self, self.static['position_masked'][position], n1,
            self.dynamic['position_masked'][position], n2,
            f'position {position}')
    self.assertGreaterEqual(compared, 28)
    # Position 1 is the sequence's first word: both paths mask it.
    for stats in (self.static, self.dynamic):
      self.assertGreater(stats['position_masked'][1] /
                         stats['position_candidate'][1], 0.08)


if __name__ == '__main__':
  tf.test.main()
