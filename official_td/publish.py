"""Writing outputs that never look complete before they are: any tf.io.gfile URL.

Users write datasets, checkpoints and exports to local disk or to object
stores (`gs://`; TF's in-memory `ram://` stands in for it in tests). A local
directory is published by one atomic rename. Object stores have no directory
rename (a "rename" there is a copy object by object), so the files are copied
into place with a completion marker last: a reader that waits for the marker
(TF Serving loads a version only once `saved_model.pb` is there; training
reads a dataset only once its summary is there) never sees half an
output.
"""

import json
import os
import uuid
from typing import Any, Optional

import tensorflow as tf


def is_local(path: str) -> bool:
  """True for a path on the local filesystem (no URL scheme, or file://)."""
  return '://' not in path or path.startswith('file://')


def staging_dir(target: str) -> str:
  """A new hidden sibling of `target` on the same filesystem.

  Its name starts with `.tmp-`, which neither TF Serving (numeric version
  directories only) nor a `train-*` file pattern picks up.
  """
  parent, name = os.path.split(target.rstrip('/'))
  return os.path.join(parent, f'.tmp-{name}-{uuid.uuid4().hex[:12]}')


def publish(staging: str, target: str, marker: Optional[str] = None):
  """Moves the finished `staging` directory to `target` (which must not exist).

  Local: one atomic rename. Elsewhere: every file is copied to `target`, the
  file named `marker` (relative to the directory) last, then `staging` is
  deleted.

  Args:
    staging: a complete directory (e.g. from `staging_dir`).
    target: the final path; must not exist.
    marker: the file whose presence marks `target` complete.

  Raises:
    ValueError: if `target` exists (outputs are never overwritten).
  """
  if tf.io.gfile.exists(target):
    raise ValueError(f'{target!r} already exists; it is never overwritten.')
  if is_local(target):
    tf.io.gfile.rename(staging, target)
    return
  _move_files(staging, target, marker, tf.io.gfile.copy)


def _files(staging: str):
  """{path: path relative to `staging`} of every file under it."""
  files = {}
  for root, _, names in tf.io.gfile.walk(staging):
    for name in names:
      path = os.path.join(root, name)
      files[path] = path[len(staging.rstrip('/')) + 1:]
  return files


def _move_files(staging: str, target: str, marker: Optional[str], move):
  """`move`s each file of `staging` to its place under `target`, the file
  named `marker` last, then deletes `staging`."""
  files = _files(staging)
  marker_path = os.path.join(staging, marker) if marker else None
  for path in sorted(files, key=lambda p: (p == marker_path, p)):
    destination = os.path.join(target, files[path])
    tf.io.gfile.makedirs(os.path.dirname(destination))
    move(path, destination)
  tf.io.gfile.rmtree(staging)


def publish_into(staging: str, target: str, marker: str):
  """Moves the files of the finished `staging` into the directory `target`,
  which may exist (a run's checkpoints are there), the file named `marker`
  last; a file of `target` that `staging` also holds is refused, never
  overwritten. Local: a rename per file; elsewhere, a copy per file."""
  if not tf.io.gfile.exists(target):
    publish(staging, target, marker)
    return
  clashes = sorted(r for r in _files(staging).values()
                   if tf.io.gfile.exists(os.path.join(target, r)))
  if clashes:
    raise ValueError(f'{target!r} already holds {", ".join(clashes)}; '
                     'it is never overwritten.')
  _move_files(staging, target, marker,
              tf.io.gfile.rename if is_local(target) else tf.io.gfile.copy)


def write_json(path: str, value: Any):
  """Writes `value` as JSON to `path` whole or not at all.

  The text goes to a hidden sibling first, then is renamed over `path`: an
  atomic rename locally, a single object copy on object stores, so a reader
  (or a killed writer) never sees a truncated file. For the small files that
  mark work complete (a run's results, a data directory's summary).
  """
  parent, name = os.path.split(path)
  temp = os.path.join(parent, f'.tmp-{name}-{uuid.uuid4().hex[:12]}')
  with tf.io.gfile.GFile(temp, 'w') as f:
    json.dump(value, f, indent=2)
  tf.io.gfile.rename(temp, path, overwrite=True)


def remove_quietly(path: str):
  """Deletes a staging directory left by a failed write, if it is there."""
  try:
    if tf.io.gfile.exists(path):
      tf.io.gfile.rmtree(path)
  except tf.errors.OpError:
    pass


def read_json(path: str) -> Any:
  """The JSON value in `path` (any tf.io.gfile URL)."""
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)
