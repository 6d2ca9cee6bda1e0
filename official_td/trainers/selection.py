"""What the token selection did over a run (`Pretrainer`, every dropping step).

Three facts decide whether the importance table matters: how many kept slots
the tiers force ([CLS], [SEP], the [MASK]s, [UNK]) and how many the score
decides; how evenly the token types get the middle layers (a table is
deterministic: the same types can be dropped at every step); and how much
the table is just token frequency. Counted in the train step, summed over
replicas and restarts (checkpointed), reported at the end of the run.

Counts are float32 (a TPU has no float64): exact to 2^24 per id, past that
approximate, which the fractions and ranks below do not notice.
"""

from typing import Dict, Optional

import numpy as np
from scipy import stats
import tensorflow as tf

from official_td.layers import token_importance


class SelectionStats(tf.Module):
  """Per-id counts of scorable occurrences and of those kept, and the sums of
  the slots the score decided and of the rows (sequences) selected."""

  def __init__(self, vocab_size: int):
    super().__init__(name='selection')
    self.vocab_size = int(vocab_size)
    synced = dict(trainable=False,
                  synchronization=tf.VariableSynchronization.ON_WRITE,
                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.seen = tf.Variable(tf.zeros([vocab_size]), name='seen', **synced)
    self.kept = tf.Variable(tf.zeros([vocab_size]), name='kept', **synced)
    # [slots the score decided, slots kept, rows].
    self.slots = tf.Variable(tf.zeros([3]), name='slots', **synced)

  def update(self, word_ids, selection: Dict[str, tf.Tensor]):
    """Adds one replica's selection (`TokenDropBertEncoder.select`); call in
    replica context: the sums are all-reduced first."""
    ids = tf.cast(word_ids, tf.int32)
    kept_indices = selection['kept_indices']
    seq_length = tf.shape(ids)[1]
    kept_here = tf.reduce_sum(tf.one_hot(kept_indices, seq_length), axis=1)
    scorable = tf.cast(selection['scorable'], tf.float32)
    flat = tf.reshape(ids, [-1])
    seen = tf.math.unsorted_segment_sum(tf.reshape(scorable, [-1]), flat,
                                        self.vocab_size)
    kept = tf.math.unsorted_segment_sum(
        tf.reshape(scorable * kept_here, [-1]), flat, self.vocab_size)
    rows = tf.cast(tf.shape(ids)[0], tf.float32)
    slots = tf.stack([
        tf.cast(tf.reduce_sum(selection['scored_slots']), tf.float32),
        rows * tf.cast(tf.shape(kept_indices)[1], tf.float32), rows])
    seen, kept, slots = token_importance._all_reduce_sum([seen, kept, slots])  # pylint: disable=protected-access
    self.seen.assign_add(seen)
    self.kept.assign_add(kept)
    self.slots.assign_add(slots)

  def summary(self, strategy, table: Optional[np.ndarray]) -> Dict:
    """The run's figures (see `summarize`), read on the host."""
    read = lambda v: np.asarray(strategy.experimental_local_results(v)[0])
    return summarize(read(self.seen), read(self.kept), read(self.slots), table)


def summarize(seen: np.ndarray, kept: np.ndarray, slots: np.ndarray,
              table: Optional[np.ndarray]) -> Dict:
  """The selection's figures from its counts (None where nothing dropped).

  `scored_slots` / `forced_slots`: mean kept slots per sequence decided by
  the score / by the tiers; `types_seen`: ids that occurred as scorable
  tokens in a dropping step; `types_never_kept_fraction`: the fraction of
  those never kept in the window; `kept_fraction_quartiles`: the quartiles
  over those ids of the fraction of their occurrences kept;
  `table_frequency_spearman`: the rank correlation, over those ids, of the
  importance table at the end with their occurrence counts.
  """
  scored, kept_slots, rows = (float(x) for x in slots)
  if not rows:
    return {}
  present = seen > 0
  fraction = kept[present] / seen[present]
  out = dict(scored_slots=round(scored / rows, 4),
             forced_slots=round((kept_slots - scored) / rows, 4),
             types_seen=int(present.sum()),
             types_never_kept_fraction=round(
                 float((kept[present] == 0).mean()), 4),
             kept_fraction_quartiles=[round(float(q), 4) for q in
                                      np.percentile(fraction, [25, 50, 75])])
  if table is not None and present.sum() > 2:
    rho = stats.spearmanr(table[present], seen[present]).statistic
    out['table_frequency_spearman'] = (None if np.isnan(rho) else
                                       round(float(rho), 4))
  return out
