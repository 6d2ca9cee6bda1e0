"""The held-out n-gram overlap of a data directory, against exact sets."""

import glob
import json
import os
import shutil
import sys

import tensorflow as tf

from official_td.study import overlap
from tests import entry_points
from tests import pretrain_utils as pu


def exact_share(data_dir, n):
  """Held-out n-grams (tuples, no hashing) found in the training records,
  masked positions restored, [CLS]/[SEP]/[PAD] left out."""
  vocab = open(os.path.join(data_dir, 'vocab.txt')).read().splitlines()
  special = {vocab.index(t) for t in ('[CLS]', '[SEP]', '[PAD]')}

  def grams(pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, pattern))):
      for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        f = tf.train.Example.FromString(record).features.feature
        ids = list(f['input_ids'].int64_list.value)
        for p, i, w in zip(f['masked_lm_positions'].int64_list.value,
                           f['masked_lm_ids'].int64_list.value,
                           f['masked_lm_weights'].float_list.value):
          if w > 0:
            ids[p] = i
        ids = [i for i, m in zip(ids, f['input_mask'].int64_list.value)
               if m and i not in special]
        out += [tuple(ids[k:k + n]) for k in range(len(ids) - n + 1)]
    return out
  train = set(grams('train-*'))
  held = grams('eval-*')
  return len(held), sum(g in train for g in held) / len(held)


class OverlapTest(pu.TinyDataTestCase):

  def test_share_matches_exact_sets_in_one_pass_or_many(self):
    # The tiny data is statically masked: [MASK]s must be restored.
    self.assertEqual(self.summary['masking'], 'static')
    for n in (3, 8):
      count, share = exact_share(self.data_dir, n)
      for max_mb in (256, 1e-4):  # one pass; a pass per slice
        got = overlap.held_out_overlap(self.data_dir, n, max_mb)
        self.assertEqual(got['held_out_ngrams'], count)
        self.assertAlmostEqual(got['found_in_training'], share, places=12)
      self.assertGreater(got['passes'], 1)
    self.assertGreater(overlap.held_out_overlap(self.data_dir, 3)[
        'found_in_training'], 0.0)

  def test_a_held_out_shard_copied_into_training_is_found_whole(self):
    data = os.path.join(self.root, 'leaked')
    shutil.copytree(self.data_dir, data)
    for path in glob.glob(os.path.join(data, 'eval-*')):
      shutil.copy(path, os.path.join(data, 'train-leak-' +
                                     os.path.basename(path)))
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.study.overlap',
         f'--data_dir={data}'], cwd=pu.REPO, env=pu.env(),
        capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(result['found_in_training'], 1.0)
    self.assertEqual(result['n'], 8)
    self.assertLess(overlap.held_out_overlap(self.data_dir)[
        'found_in_training'], 1.0)
