"""Curves of a run, read back from its TensorBoard event files."""

import os
from typing import List, Tuple

import tensorflow as tf


# ---------------------------------------------------------------- report
def loss_curve(model_dir):
  """(seconds since the first summary, step, mlm_loss) of the training."""
  points = []
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == 'mlm_loss':
          points.append((event.wall_time, event.step, _scalar(value)))
  points.sort()
  if not points:
    return []
  start = points[0][0]
  return [(t - start, s, l) for t, s, l in points]


def eval_curve(model_dir) -> List[Tuple[float, int, float]]:
  """(train-loop seconds, step, held-out MLM loss) of each evaluation.

  A step evaluated twice (a run resumed from an earlier checkpoint) keeps
  its latest record.
  """
  latest = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, 'eval', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag in ('mlm_loss', 'train_seconds'):
          key = (event.step, value.tag)
          if key not in latest or latest[key][0] <= event.wall_time:
            latest[key] = (event.wall_time, _scalar(value))
  steps = sorted({step for step, tag in latest if tag == 'mlm_loss'})
  return [(latest[(s, 'train_seconds')][1], s, latest[(s, 'mlm_loss')][1])
          for s in steps if (s, 'train_seconds') in latest]


def _scalar(value) -> float:
  return (value.simple_value if value.HasField('simple_value') else
          float(tf.make_ndarray(value.tensor)))

