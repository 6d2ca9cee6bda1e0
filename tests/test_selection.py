"""What the selection did (`official_td/trainers/selection.py`), against an
independent count of the same batch, on one device and on two replicas."""

import numpy as np
from scipy import stats
import tensorflow as tf

from official_td.networks import TokenDropBertEncoder
from official_td.trainers import selection
from tests import testing_utils as tu

V = 60


def reference(ids, mask, kept_indices, allow=tu.ALLOW_IDS, deny=tu.DENY_IDS):
  """Per-id scorable and kept counts and the score's slots, in numpy."""
  seen, kept = np.zeros(V), np.zeros(V)
  scored = 0
  for row in range(len(ids)):
    scorable = [p for p in range(ids.shape[1]) if mask[row, p] and
                ids[row, p] not in allow and ids[row, p] not in deny]
    kept_scorable = [p for p in scorable if p in set(kept_indices[row])]
    for p in scorable:
      seen[ids[row, p]] += 1
    for p in kept_scorable:
      kept[ids[row, p]] += 1
    if len(kept_scorable) < len(scorable):
      scored += len(kept_scorable)
  return seen, kept, scored


class SelectionStatsTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    features = tu.batch(batch_size=8, seq_length=16, num_real=None, seed=2)
    self.ids = features['input_word_ids'].numpy()
    self.mask = features['input_mask'].numpy()
    self.mask[5:, 9:] = 0  # short rows: every real token fits in k.
    self.ids[5:, 9:] = tu.PAD
    self.ids[1, 3] = tu.PAD  # a [PAD] id inside a real row.
    self.seeds = np.arange(8, dtype=np.int32)
    self.encoder = TokenDropBertEncoder(
        keep_k=10, allow_ids=tu.ALLOW_IDS, deny_ids=tu.DENY_IDS,
        **tu.TINY_ENCODER)
    self.encoder.importance.build(None)
    self.table = np.random.default_rng(0).uniform(1, 9, V).astype(np.float32)
    self.encoder.importance.table.assign(self.table)

  def counts(self, strategy):
    with strategy.scope():
      stats_ = selection.SelectionStats(V)

    def replica_step(ids, mask, seeds):
      stats_.update(ids, self.encoder.select(ids, mask, seeds, 10))

    @tf.function(autograph=False)  # as the trainer's loop.
    def step(batch):
      strategy.run(replica_step, args=batch)

    dataset = tf.data.Dataset.from_tensors(
        (self.ids, self.mask, self.seeds)).unbatch().batch(8)
    step(next(iter(strategy.experimental_distribute_dataset(dataset))))
    return stats_.summary(strategy, self.table), stats_

  def test_counts_equal_an_independent_count_on_one_and_two_replicas(self):
    kept_indices = self.encoder.select(self.ids, self.mask, self.seeds,
                                       10)['kept_indices'].numpy()
    seen, kept, scored = reference(self.ids, self.mask, kept_indices)
    self.assertGreater(scored, 0)  # the score decided some slots ...
    self.assertLess(scored, 8 * 10)  # ... and the tiers the others.
    present = seen > 0
    expected = dict(
        scored_slots=round(scored / 8, 4),
        forced_slots=round((8 * 10 - scored) / 8, 4),
        types_seen=int(present.sum()),
        types_never_kept_fraction=round(float((kept[present] == 0).mean()),
                                        4))
    ranks = np.corrcoef(stats.rankdata(self.table[present]),
                        stats.rankdata(seen[present]))[0, 1]
    # (Reduction to one device, not collectives: collective instance keys
    # restart with each MirroredStrategy of a process, and a later test's
    # first all-reduce of another shape would collide with this one's.)
    two = tf.distribute.MirroredStrategy(
        ['/cpu:0', '/cpu:1'],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
    for strategy in (tf.distribute.OneDeviceStrategy('/cpu:0'), two):
      with self.subTest(replicas=strategy.num_replicas_in_sync):
        summary, stats_ = self.counts(strategy)
        for key, value in expected.items():
          self.assertEqual(summary[key], value, key)
        self.assertAlmostEqual(summary['table_frequency_spearman'], ranks,
                               places=4)
        local = lambda v: strategy.experimental_local_results(v)[0].numpy()  # pylint: disable=cell-var-from-loop
        self.assertAllEqual(local(stats_.seen), seen)
        self.assertAllEqual(local(stats_.kept), kept)
        self.assertGreater(summary['types_never_kept_fraction'], 0)

  def test_nothing_selected_reports_nothing(self):
    self.assertEqual(selection.summarize(np.zeros(V), np.zeros(V),
                                         np.zeros(3), None), {})


if __name__ == '__main__':
  tf.test.main()
