"""BERT's masking rule (`official_td.masking`): its random blocks, its
selection against a per-row reference, its rates for whole-word and plain
masking, and the static and dynamic paths that both run it.

The static path writes `DUPES` masked copies of each packed sequence; the
dynamic path is read for `DUPES` epochs' worth of records from the stream
training reads (`pretrain_dataloader.training_dataset`). Over >= 20,000
predictions from each, the masking rate, the 80/10/10 split and the rate at
every position (the first word included) agree within 3 standard errors, and
whole words stay whole; a dynamic record's mask is exactly the rule's for its
key.
"""

import math
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from official_td import masking as rule
from official_td import vocab as vocab_lib
from official_td.data.text import sources
from official_td.configs.pretraining import DataConfig
from official_td.configs.pretraining import RunConfig
from official_td.input import dynamic_masking
from official_td.input import masking_ops
from official_td.input import pretrain_dataloader
from official_td.input import show
from tests import pretrain_utils as pu
from tests import testing_utils as tu
from tests.masking_reference import random_rows
from tests.masking_reference import reference_mask

DUPES = 45


def word_ids_by_sequence(data_dir):
  """Unmasked dynamic records: original ids (bytes) -> word ids."""
  config = dynamic_masking.MaskingConfig(32, 5, 100, 4)
  dataset = tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(data_dir, 'train-*'))).map(
          lambda r: dynamic_masking.parse(r, config))
  return {row['input_ids'].numpy().tobytes(): row['word_ids'].numpy()
          for row in dataset}


def training_examples(data_dir, num_examples):
  """The first `num_examples` examples of the stream a run reads from
  `data_dir` (`pretrain_dataloader.training_dataset`: epoch after epoch,
  shuffled, each record masked with the key of its seed, epoch, file and
  record)."""
  data = show.data_config(data_dir)
  masking = pretrain_dataloader.masking_config(
      data, vocab_lib.load_vocab(data.vocab_file))
  return show.examples_of(pretrain_dataloader.training_dataset(
      data, 256, RunConfig.seed, 0, masking=masking), num_examples)


def counts(examples, words_of, mask_id, whole_words):
  """Masking statistics of `examples`; with `whole_words`, asserts whole
  words stay whole."""
  stats = dict(candidates=0, masked=0, mask=0, same=0, other=0,
               position_masked=np.zeros(32), position_candidate=np.zeros(32))
  for ex in examples:
    words = words_of[ex['original_ids'].astype(np.int64).tobytes()]
    positions = ex['masked_positions']
    candidate = words >= 0
    assert candidate[positions].all(), 'masked a [CLS]/[SEP]/padding'
    for w in set(words[positions].tolist()) if whole_words else ():
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


class PhiloxTest(tu.TestCase):

  def test_blocks_are_tensorflows_philox(self):
    """Every word of 1,000 blocks equals TensorFlow's Philox4x32-10 (its
    stateless full-int op: key = the uint64, counter = two uint64s)."""
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, 100, dtype=np.uint64) * np.uint64(2) + (
        rng.integers(0, 2, 100).astype(np.uint64))
    compared = 0
    for key in keys:
      counters = rng.integers(0, 2**32, (10, 4), dtype=np.uint64)
      ours = np.stack(rule.philox4x32(np.full(10, key), *counters.T), axis=1)
      for row, c in enumerate(counters):
        theirs = tf.raw_ops.StatelessRandomUniformFullIntV2(
            shape=[4], key=tf.constant([int(key)], tf.uint64),
            counter=tf.constant([int(c[0] | c[1] << np.uint64(32)),
                                 int(c[2] | c[3] << np.uint64(32))],
                                tf.uint64), alg=1, dtype=tf.uint32)
        self.assertAllEqual(ours[row], theirs.numpy().astype(np.uint64))
        compared += 4
    self.assertEqual(compared, 4000)

  def test_known_answer_of_random123(self):
    """Random123's published known-answer vector (key 0, counter 0)."""
    self.assertEqual([int(w) for w in rule.philox4x32(np.uint64(0), 0)],
                     [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8])


class RuleTest(tu.TestCase):

  def test_budget_is_pythons_round_for_every_count(self):
    for prob in (0.1, 0.15, 0.2, 0.3):
      for max_predictions in (20, 76, 2000):
        expected = [min(max_predictions, max(1, round(n * prob)))
                    for n in range(1025)]
        self.assertAllEqual(
            rule.prediction_budget(np.arange(1025), prob, max_predictions),
            expected, msg=f'{prob} {max_predictions}')

  def test_rows_equal_the_plain_reference(self):
    for whole_words in (True, False):
      ids, words = random_rows(300, 40, seed=int(whole_words))
      keys = np.arange(300, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
      out = rule.mask_rows(ids, words, keys, masked_lm_prob=0.15,
                           max_predictions=6, whole_words=whole_words,
                           mask_id=3, first_random_id=5, vocab_size=500)
      for r in range(300):
        expected, chosen = reference_mask(ids[r], words[r], keys[r], 0.15, 6,
                                          whole_words, 3, 5, 500)
        self.assertAllEqual(out['input_ids'][r], expected)
        n = len(chosen)
        self.assertAllEqual(out['masked_lm_positions'][r, :n], chosen)
        self.assertAllEqual(out['masked_lm_ids'][r, :n], ids[r, chosen])
        self.assertAllEqual(out['masked_lm_weights'][r],
                            np.arange(6) < n)

  def test_a_row_does_not_depend_on_its_batch(self):
    ids, words = random_rows(64, 32, seed=5)
    keys = np.arange(64, dtype=np.uint64) + np.uint64(77)
    kwargs = dict(masked_lm_prob=0.15, max_predictions=5, whole_words=True,
                  mask_id=3, first_random_id=5, vocab_size=500)
    whole = rule.mask_rows(ids, words, keys, **kwargs)
    alone = rule.mask_rows(ids[40:41], words[40:41], keys[40:41], **kwargs)
    for name, value in alone.items():
      self.assertAllEqual(whole[name][40], value[0], msg=name)


class GraphRuleTest(tu.TestCase):
  """The rule as TensorFlow ops (`masking_ops`, what dynamic masking runs)
  against the numpy rule (the reference), over many keys and shapes."""

  def test_row_keys_equal_the_numpy_rules(self):
    rng = np.random.default_rng(11)
    for seed in (0, 7, 2**40 + 3, -5):
      epoch, files, records = (rng.integers(0, 2**34, 50) for _ in range(3))
      expected = rule.record_keys(seed, epoch, files, records)
      key = tf.function(lambda e, f, r, s=seed: tf.map_fn(
          lambda x: masking_ops.row_key(s, x[0], x[1], x[2]),
          tf.stack([e, f, r], axis=1), fn_output_signature=tf.uint64))
      got = key(tf.constant(epoch), tf.constant(files), tf.constant(records))
      self.assertAllEqual(got.numpy(), expected)

  def test_masks_equal_the_numpy_rules_over_many_keys(self):
    """4,800 rows: whole-word and plain, four lengths (padding and rows
    without any candidate among them), three rates, budgets below and above
    the candidates, a prediction width beyond the sequence."""
    rng = np.random.default_rng(12)
    cases = 0
    # Each row's draws (keys of any batch size, one trace per length).
    row_draws = {s: tf.function(lambda k, s=s: tf.map_fn(
        lambda key: masking_ops.row_draws(key, s), k,
        fn_output_signature=tf.uint32)) for s in (8, 16, 40, 64)}
    for whole_words in (True, False):
      for s, p in ((8, 12), (16, 3), (40, 6), (64, 10)):
        for prob in (0.15, 0.3, 0.5):
          ids, words = random_rows(200, s, seed=cases, min_length=2)
          words[:3] = -1  # no candidate at all.
          keys = rng.integers(0, 2**64, 200, dtype=np.uint64)
          kwargs = dict(masked_lm_prob=prob, max_predictions=p,
                        whole_words=whole_words, mask_id=3,
                        first_random_id=5, vocab_size=500)
          expected = rule.mask_rows(ids, words, keys, **kwargs)
          draws = row_draws[s](tf.constant(keys))
          got = masking_ops.mask_rows(tf.constant(ids), tf.constant(words),
                                      draws, **kwargs)
          for name, value in expected.items():
            self.assertAllEqual(got[name].numpy(), value,
                                msg=f'{name} {whole_words} {s} {p} {prob}')
          cases += 1
    self.assertEqual(cases, 24)


class RatesTest(tu.TestCase):
  """The rule's rates over 60,000 full rows, whole-word and plain."""

  def check_rates(self, whole_words):
    # 40 candidates a row: a budget of exactly 6 (15%).
    ids, words = random_rows(60000, 42, seed=11, min_length=42)
    ids[:, 1:] = np.maximum(ids[:, 1:], 10)  # no id equals [MASK] (3).
    keys = np.arange(60000, dtype=np.uint64) * np.uint64(2654435761)
    out = rule.mask_rows(ids, words, keys, masked_lm_prob=0.15,
                         max_predictions=8, whole_words=whole_words,
                         mask_id=3, first_random_id=5, vocab_size=500)
    candidates = words >= 0
    masked = np.zeros_like(candidates)
    rows = np.repeat(np.arange(60000), 8)
    weights = out['masked_lm_weights'].reshape(-1) > 0
    masked[rows[weights], out['masked_lm_positions'].reshape(-1)[weights]] = (
        True)
    self.assertFalse((masked & ~candidates).any())
    rate = masked.sum() / candidates.sum()
    self.assertAlmostEqual(rate, 0.15, delta=0.01)
    seen = out['input_ids'][masked]
    original = ids[masked]
    n = len(seen)
    self.assertGreater(n, 20000)
    for what, count, nominal in (
        ('mask', np.sum(seen == 3), 0.8), ('same', np.sum(seen == original),
                                           0.1 + 0.1 / 495),
        ('other', np.sum((seen != 3) & (seen != original)), 0.1 - 0.1 / 495)):
      se = math.sqrt(nominal * (1 - nominal) / n)
      self.assertLessEqual(abs(count / n - nominal), 4 * se, what)
    # Every position (the first word, position 1, included) at the rate.
    per_position = masked.sum(axis=0)[1:41] / candidates.sum(axis=0)[1:41]
    # Plain masking: every position alike. Whole words: a position's rate
    # follows the sizes of the words that cover it (positions 1 and 40 end
    # words more often, and short words fill what is left of a budget).
    low, high = (0.10, 0.25) if whole_words else (0.135, 0.165)
    self.assertGreater(per_position.min(), low)
    self.assertLess(per_position.max(), high)
    if whole_words:
      for r in range(2000):
        for w in set(words[r][masked[r]].tolist()):
          self.assertTrue(masked[r][words[r] == w].all(),
                          'a word was masked in part')
    return per_position

  def test_whole_word_masking_rates(self):
    self.check_rates(True)

  def test_plain_masking_rates(self):
    self.check_rates(False)


class WholeWordParityTest(tu.TestCase):
  """Static and dynamic whole-word masking of the same sequences."""

  WHOLE_WORDS = True

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    corpus = sources.in_memory(pu.varied_corpus(seed=3))
    cls.static_dir = os.path.join(cls.root, 'static')
    cls.dynamic_dir = os.path.join(cls.root, 'dynamic')
    pu.make_data(cls.static_dir, corpus, whole_word_masking=cls.WHOLE_WORDS,
                 dupe_factor=DUPES, num_shards=1)
    pu.make_data(cls.dynamic_dir, corpus,
                 whole_word_masking=cls.WHOLE_WORDS, masking='dynamic',
                 num_shards=1)
    vocab = open(os.path.join(cls.static_dir, 'vocab.txt')).read().split()
    cls.mask_id = vocab.index('[MASK]')
    cls.words_of = word_ids_by_sequence(cls.dynamic_dir)
    cls.static = counts(show.examples(cls.static_dir), cls.words_of,
                        cls.mask_id, cls.WHOLE_WORDS)
    cls.dynamic = counts(training_examples(cls.dynamic_dir,
                                           DUPES * len(cls.words_of)),
                         cls.words_of, cls.mask_id, cls.WHOLE_WORDS)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_a_dynamic_record_gets_the_rules_mask_for_its_key(self):
    """The training input's mask of record i of epoch e is `mask_rows` of
    that record under `record_keys(seed, e, file 0, i)`."""
    config = dynamic_masking.MaskingConfig(
        32, 5, len(open(os.path.join(self.dynamic_dir, 'vocab.txt')
                        ).read().splitlines()), self.mask_id,
        whole_word_masking=self.WHOLE_WORDS)
    pattern = os.path.join(self.dynamic_dir, 'train-*')
    raw = list(tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).map(
        lambda r: dynamic_masking.parse(r, config)).batch(10**6))[0]
    raw = {k: v.numpy() for k, v in raw.items()}
    n = len(raw['input_ids'])
    for epoch in (0, 3):
      read = next(iter(dynamic_masking.load(pattern, config, n, False, seed=7,
                                            epoch=epoch)))
      expected = rule.mask_rows(
          raw['input_ids'], raw['word_ids'],
          rule.record_keys(7, epoch, 0, np.arange(n)), masked_lm_prob=0.15,
          max_predictions=5, whole_words=self.WHOLE_WORDS,
          mask_id=self.mask_id, first_random_id=5,
          vocab_size=config.vocab_size)
      self.assertAllEqual(read['input_word_ids'], expected['input_ids'])
      self.assertAllEqual(read['masked_lm_positions'],
                          expected['masked_lm_positions'])
      self.assertAllEqual(read['masked_lm_ids'], expected['masked_lm_ids'])
      self.assertAllEqual(read['masked_lm_weights'],
                          expected['masked_lm_weights'])

  def test_the_training_input_runs_no_python(self):
    """The dataset training reads (`data.masking = dynamic`) serializes to
    a graph without a Python op: it runs on hosts without our Python."""
    vocab = open(os.path.join(self.dynamic_dir, 'vocab.txt')).read().split()
    data = DataConfig(train_data=os.path.join(self.dynamic_dir, 'train-*'),
                      vocab_file=os.path.join(self.dynamic_dir, 'vocab.txt'),
                      seq_length=32, max_predictions_per_seq=5,
                      masking='dynamic',
                      whole_word_masking=self.WHOLE_WORDS)
    dataset = pretrain_dataloader.load_dataset(
        data.train_data, data, 8, True, seed=3,
        masking=pretrain_dataloader.masking_config(data, vocab))
    graph = tf.compat.v1.GraphDef.FromString(
        dataset._as_serialized_graph().numpy())  # pylint: disable=protected-access
    ops = {n.op for n in graph.node} | {
        n.op for f in graph.library.function for n in f.node_def}
    self.assertIn('StatelessRandomUniformFullIntV2', ops)
    self.assertFalse(ops & {'PyFunc', 'PyFuncStateless', 'EagerPyFunc'},
                     sorted(ops))

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


class PlainParityTest(WholeWordParityTest):
  """Static and dynamic masking of single tokens, the same sequences."""

  WHOLE_WORDS = False
  # A property of the corpus, checked once (by the whole-word case).
  test_the_corpus_has_words_of_several_pieces = None


if __name__ == '__main__':
  tf.test.main()
