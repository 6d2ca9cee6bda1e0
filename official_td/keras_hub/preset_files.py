"""Files of a KerasHub preset read beside KerasHub's own loader.

Read through KerasHub's own preset files (`preset_utils.get_file`: a local
or `gs://` directory, a Kaggle or Hugging Face handle alike): the vocabulary
a BERT preset's special ids come from, a task's settings, and the table and
drop settings of a preset written by an earlier release of this package (a
`BertBackbone` preset with `token_importance.npy` and
`token_drop_config.json` beside it; read, never written now: a
`TokenDropBertBackbone` preset holds both in KerasHub's own files).
"""

import json
import os
from typing import Optional

import keras_hub
from keras_hub.src.utils import preset_utils  # pylint: disable=g-direct-tensorflow-import
import numpy as np

LEGACY_IMPORTANCE_FILE = 'token_importance.npy'
LEGACY_DROP_CONFIG_FILE = 'token_drop_config.json'


def legacy_settings(preset) -> dict:
  """The drop settings beside an earlier release's preset ({} if none)."""
  return read_preset_file(preset, LEGACY_DROP_CONFIG_FILE, json.load) or {}


def legacy_table(preset):
  """The importance table beside an earlier release's preset, or None."""
  return read_preset_file(preset, LEGACY_IMPORTANCE_FILE, np.load, 'rb')


def one_keep_setting(kwargs):
  """`kwargs` where a given `keep_k` or `keep_ratio` replaces a saved one of
  the other form (they are one setting in two forms)."""
  kwargs = dict(kwargs)
  for given, other in (('keep_k', 'keep_ratio'), ('keep_ratio', 'keep_k')):
    if kwargs.get(given) is not None and other not in kwargs:
      kwargs[other] = None
  return kwargs


def _local_dir(preset) -> Optional[str]:
  return preset if isinstance(preset, str) and _exists(preset) else None


def _exists(path):
  return _gfile().exists(path) if _gfile() else os.path.exists(path)


def _gfile():
  """`tf.io.gfile` when TensorFlow is installed (for `gs://`), else None."""
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return tf.io.gfile


def _open(path, mode):
  gfile = _gfile()
  return gfile.GFile(path, mode) if gfile else open(path, mode)  # pylint: disable=consider-using-with


def read_preset_file(preset, name, load, mode='r'):
  """`load(file)` of the preset's file `name` (None where it has none),
  through KerasHub's own preset files (`preset_utils.get_file`): a local or
  `gs://` directory, a Kaggle or Hugging Face handle alike."""
  if not isinstance(preset, str):
    return None
  try:
    path = preset_utils.get_file(preset, name)
  except FileNotFoundError:
    return None
  with _open(path, mode) as f:
    return load(f)


def vocabulary(preset):
  """The preset's WordPiece vocabulary: a KerasHub preset's tokenizer asset
  or a Hugging Face directory's vocab.txt, else KerasHub's tokenizer loader
  (Kaggle handles); None if it has none."""
  for name in ('assets/tokenizer/vocabulary.txt', 'vocab.txt'):
    tokens = read_preset_file(preset, name,
                              lambda f: [line.rstrip('\n') for line in f])
    if tokens is not None:
      return tokens
  if _local_dir(preset):
    return None
  try:
    return keras_hub.models.BertTokenizer.from_preset(preset).get_vocabulary()
  except (ValueError, ImportError, FileNotFoundError):
    return None
