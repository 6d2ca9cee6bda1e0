"""Writing serialized records as TFRecord shards through `tf.io.gfile`.

Beam's own `WriteToTFRecord` knows only Beam's filesystems; this sink writes
wherever TensorFlow reads (local, `gs://`, `ram://`, ...).
"""

import os
import uuid
from typing import List, Tuple

import apache_beam as beam
import tensorflow as tf

from official_td.data.examples.keys import stable_hash

TEMP_DIR = '.beam-temp'  # under the output directory, removed at the end.


def _new_temp_file(temp_dir: str, prefix: str) -> str:
  tf.io.gfile.makedirs(temp_dir)
  return os.path.join(temp_dir, f'{prefix}-{uuid.uuid4().hex}.tfrecord')


class _WriteBundle(beam.DoFn):
  """Writes each bundle's record lists to one new TFRecord file in
  `temp_dir`."""

  def __init__(self, temp_dir: str, prefix: str):
    self._temp_dir = temp_dir
    self._prefix = prefix

  def start_bundle(self):
    self._writer, self._path, self._order = None, None, None

  def process(self, records: List[bytes]):
    if not records:
      return
    if self._writer is None:
      self._path = _new_temp_file(self._temp_dir, self._prefix)
      self._writer = tf.io.TFRecordWriter(self._path)
      self._order = stable_hash(records[0])
    for record in records:
      self._writer.write(record)

  def finish_bundle(self):
    if self._writer is not None:
      self._writer.close()
      yield beam.transforms.window.GlobalWindows.windowed_value(
          (self._order, self._path))


def _write_group(keyed, temp_dir: str, prefix: str) -> Tuple[int, str]:
  shard, group = keyed
  path = _new_temp_file(temp_dir, prefix)
  with tf.io.TFRecordWriter(path) as writer:
    for record in group:
      writer.write(record)
  return shard, path


def finalize_shards(written: List[Tuple[int, str]], output_dir: str,
                    prefix: str) -> List[str]:
  """Renames the written files to `prefix-SSSSS-of-NNNNN.tfrecord`.

  In the order of their content (a bundle's file by the hash of its first
  record, a shard's by its index), not of their temporary names (random, so
  that a retried bundle never meets its failed attempt's file): the same
  bundles give the same shards, name by name.
  """
  paths = [path for _, path in sorted(written)]
  final = []
  for i, path in enumerate(paths):
    target = os.path.join(output_dir,
                          f'{prefix}-{i:05d}-of-{len(paths):05d}.tfrecord')
    tf.io.gfile.rename(path, target, overwrite=True)
    final.append(target)
  return final


class WriteTFRecords(beam.PTransform):
  """Writes lists of serialized records as
  `output_dir/prefix-SSSSS-of-NNNNN.tfrecord`.

  Records travel in lists (a masked chunk's), so Beam's per-element cost is
  paid once per list, not per record.

  Through tf.io.gfile, so any filesystem TensorFlow reads (local, `gs://`,
  `ram://`, ...) works as the output; Beam's own `WriteToTFRecord` knows only
  Beam's filesystems. Like Beam's file sinks, each bundle (or, with
  `num_shards`, each shard's group) is written to a temporary file and the
  files are renamed into place once all are written; a failed bundle's
  retry writes a new file and the failed one is never renamed.

  Args:
    output_dir: destination directory.
    prefix: `train` or `eval`.
    num_shards: 0: one file per bundle (no shuffle, bounded memory); N: exactly
      N files (records grouped by a hash: a shuffle through the runner).
  """

  def __init__(self, output_dir: str, prefix: str, num_shards: int = 0):
    super().__init__()
    self._output_dir = output_dir
    self._prefix = prefix
    self._num_shards = num_shards

  def expand(self, pcoll):
    temp_dir = os.path.join(self._output_dir, TEMP_DIR)
    if self._num_shards:
      n = self._num_shards
      paths = (pcoll
               | 'Records' >> beam.FlatMap(lambda records: records)
               | 'Key' >> beam.Map(lambda r: (stable_hash(r) % n, r))
               | 'Group' >> beam.GroupByKey()
               | 'WriteShards' >> beam.Map(_write_group, temp_dir,
                                           self._prefix))
    else:
      paths = pcoll | 'WriteBundles' >> beam.ParDo(
          _WriteBundle(temp_dir, self._prefix))
    return (paths
            | 'Collect' >> beam.combiners.ToList()
            | 'Finalize' >> beam.Map(finalize_shards, self._output_dir,
                                      self._prefix))

