"""The pretraining record format: tf.train.Example features of one sequence.

The feature names are those tf-models-official's `BertPretrainDataLoader`
reads: `input_ids`, `input_mask`, `segment_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (float) and, with NSP,
`next_sentence_labels`. Unmasked records (dynamic masking) carry `input_ids`,
`input_mask`, `segment_ids` and `word_ids` (the word of each token, -1 for
[CLS]/[SEP]/padding: the whole-word groups and the positions that may be
masked).
"""

from typing import Dict

import numpy as np
import tensorflow as tf


def serialize(features: Dict[str, np.ndarray]) -> bytes:
  """One serialized `tf.train.Example`; float32 arrays become float lists."""
  def feature(v):
    v = np.asarray(v)
    if v.dtype == np.float32:
      return tf.train.Feature(float_list=tf.train.FloatList(value=v.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(
        value=v.astype(np.int64).tolist()))
  return tf.train.Example(features=tf.train.Features(
      feature={k: feature(v) for k, v in features.items()})).SerializeToString(
          deterministic=True)  # map fields in key order: byte-stable.


def parse(record: bytes) -> Dict[str, np.ndarray]:
  """The inverse of `serialize` (int64 / float32 numpy arrays)."""
  feature = tf.train.Example.FromString(record).features.feature
  out = {}
  for name, value in feature.items():
    if value.float_list.value:
      out[name] = np.array(value.float_list.value, np.float32)
    else:
      out[name] = np.array(value.int64_list.value, np.int64)
  return out
