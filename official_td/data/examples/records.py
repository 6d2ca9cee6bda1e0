"""The pretraining record format: tf.train.Example features of one sequence.

The feature names are those tf-models-official's `BertPretrainDataLoader`
reads: `input_ids`, `input_mask`, `segment_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights` (float) and, with NSP,
`next_sentence_labels`. Unmasked records (dynamic masking) carry `input_ids`,
`input_mask`, `segment_ids` and `word_ids` (the word of each token, -1 for
[CLS]/[SEP]/padding: the whole-word groups and the positions that may be
masked).
"""

from typing import Dict, List

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


def serialize_batch(batch: Dict[str, np.ndarray]) -> List[bytes]:
  """Records whose features are the rows of `batch` (name -> `(n, length)`
  array): `serialize` of each row's features, the same bytes, by array
  operations.

  Per record, `serialize` builds a protobuf message per feature in Python;
  here the wire format is written for the whole batch at once (records of
  one kind share their feature names and lengths): a `tf.train.Example` is
  `features` (field 1) holding one map entry (field 1) per feature, in key
  order (deterministic serialization), each `key` (1) and `Feature` (2), a
  `float_list` (2) or `int64_list` (3) whose packed `value` (1) is
  little-endian floats or varints (a negative int64 takes ten bytes).
  tests/test_data_pipeline.py compares the bytes with `serialize`'s.
  """
  n = len(next(iter(batch.values())))
  if not n:
    return []
  segments = []  # (flat bytes of every record, bytes per record)
  for name in sorted(batch):
    values = np.asarray(batch[name]).reshape(n, -1)
    if values.dtype == np.float32:
      payload = values.astype('<f4').view(np.uint8).reshape(-1)
      payload_len = np.full(n, 4 * values.shape[1], np.int64)
      kind = 0x12
    else:
      payload, payload_len = _varints(values.astype(np.int64))
      kind = 0x1A
    if not values.shape[1]:
      raise ValueError(f'Feature {name!r} is empty: serialize it with '
                       '`serialize`.')
    key = b'\x0a' + _varint(len(name.encode())) + name.encode() + b'\x12'
    list_len = 1 + _varint_len(payload_len) + payload_len
    feature_len = 1 + _varint_len(list_len) + list_len
    entry_len = len(key) + _varint_len(feature_len) + feature_len
    segments += [_constant(b'\x0a', n), _varints(entry_len[:, None]),
                 _constant(key, n),
                 _varints(feature_len[:, None]), _constant(bytes([kind]), n),
                 _varints(list_len[:, None]), _constant(b'\x0a', n),
                 _varints(payload_len[:, None]), (payload, payload_len)]
  content = sum(length for _, length in segments)
  segments = [_constant(b'\x0a', n), _varints(content[:, None])] + segments
  sizes = sum(length for _, length in segments)
  starts = np.cumsum(sizes) - sizes
  out = np.empty(int(sizes.sum()), np.uint8)
  offset = starts.copy()
  for flat, length in segments:
    within = np.arange(len(flat)) - np.repeat(np.cumsum(length) - length,
                                               length)
    out[np.repeat(offset, length) + within] = flat
    offset += length
  data = out.tobytes()
  return [data[a:a + b] for a, b in zip(starts.tolist(), sizes.tolist())]


def _varint(value: int) -> bytes:
  flat, _ = _varints(np.array([[value]], np.int64))
  return flat.tobytes()


# A varint of a value below 2**(7 j) takes j bytes.
_VARINT_LIMITS = np.array([1 << (7 * j) for j in range(1, 10)], np.uint64)


def _varint_len(values: np.ndarray) -> np.ndarray:
  u = np.asarray(values).astype(np.int64).astype(np.uint64)
  return np.searchsorted(_VARINT_LIMITS, u, side='right').astype(np.int64) + 1


def _varints(values: np.ndarray):
  """Protobuf varints of an `(n, m)` int64 array: the bytes of each row,
  concatenated, and each row's byte count."""
  u = values.astype(np.int64).astype(np.uint64)  # two's complement.
  length = _varint_len(u)
  width = np.arange(int(length.max()))
  groups = ((u[..., None] >> (7 * width).astype(np.uint64)) &
            np.uint64(0x7F)).astype(np.uint8)
  groups[width < length[..., None] - 1] |= 0x80
  return groups[width < length[..., None]], length.sum(axis=1)


def _constant(data: bytes, n: int):
  return (np.tile(np.frombuffer(data, np.uint8), n),
          np.full(n, len(data), np.int64))


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
