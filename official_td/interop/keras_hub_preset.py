"""Reading a KerasHub BERT preset directory as `run.init_checkpoint`.

A KerasHub preset (KerasHub's `save_to_preset`, and every run of
`official_td.keras_hub.train`, whose `--model_dir` is one) holds
`config.json` naming the backbone class and its arguments, `model.weights.h5`,
the tokenizer under `assets/tokenizer/vocabulary.txt` with its
`tokenizer.json`, and where a task was saved `task.weights.h5` (the MLM head).
A `TokenDropBertBackbone` preset holds the importance table in its weights
file (earlier releases wrote a `BertBackbone` preset with the table in
`token_importance.npy` beside it). Only JSON is read here (no Keras):
enough for `init_checkpoint.adopt` and `check` to take or refuse the
preset's architecture, vocab and casing before any work. Its weights are
loaded in the Keras 3 room (`official_td.keras_hub.continued`).
"""

import json
import os
from typing import Dict, Optional

import tensorflow as tf

CONFIG = 'config.json'
WEIGHTS = 'model.weights.h5'
SHARDED_WEIGHTS = 'model.weights.json'  # a sharded preset's weight map.
TASK_WEIGHTS = 'task.weights.h5'
TOKENIZER = 'tokenizer.json'
VOCABULARY = os.path.join('assets', 'tokenizer', 'vocabulary.txt')
LEGACY_IMPORTANCE = 'token_importance.npy'
TOKEN_DROP_CLASS = 'TokenDropBertBackbone'
BERT_CLASSES = ('BertBackbone', TOKEN_DROP_CLASS)
# KerasHub's BertBackbone argument -> the encoder's field.
SHAPE = (('vocabulary_size', 'vocab_size'), ('hidden_dim', 'hidden_size'),
         ('num_layers', 'num_layers'), ('num_heads', 'num_attention_heads'),
         ('intermediate_dim', 'inner_dim'),
         ('max_sequence_length', 'max_sequence_length'),
         ('num_segments', 'type_vocab_size'))


def _read_json(path: str) -> Optional[Dict]:
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    try:
      return json.load(f)
    except ValueError:
      return None


def read_config(path: str) -> Optional[Dict]:
  """The `config.json` of a KerasHub preset directory at `path`, or None
  when `path` is none (KerasHub's names a class; a Hugging Face config.json
  names a `model_type` instead)."""
  config = _read_json(os.path.join(path, CONFIG))
  if config and 'class_name' in config and 'config' in config:
    return config
  return None


def describe(path: str, config: Dict) -> Dict:
  """The fields of the preset's `init_checkpoint.CheckpointSource` (kind
  'keras_hub'; its casing None where its tokenizer does not say, for the
  caller to read from the vocab)."""
  name = config['class_name']
  if name not in BERT_CLASSES:
    raise ValueError(
        f'run.init_checkpoint={path!r} is a KerasHub preset of a {name}, not '
        f'of a BERT ({" or ".join(BERT_CLASSES)}): start from a BERT preset.')
  if not any(tf.io.gfile.exists(os.path.join(path, file))
             for file in (WEIGHTS, SHARDED_WEIGHTS)):
    raise ValueError(f'run.init_checkpoint={path!r} is a KerasHub preset '
                     f'without its weights ({WEIGHTS}, or {SHARDED_WEIGHTS} '
                     'and its shards); copy the whole preset directory.')
  arguments = config['config']
  shape = {ours: arguments[theirs] for theirs, ours in SHAPE
           if theirs in arguments}
  vocab = os.path.join(path, VOCABULARY)
  tokenizer = (_read_json(os.path.join(path, TOKENIZER)) or {}).get(
      'config', {})
  lower = tokenizer.get('lowercase')
  strip = tokenizer.get('strip_accents', lower)
  return dict(
      kind='keras_hub', path=path, shape=shape,
      vocab_file=vocab if tf.io.gfile.exists(vocab) else None,
      has_head=tf.io.gfile.exists(os.path.join(path, TASK_WEIGHTS)),
      has_importance=(name == TOKEN_DROP_CLASS or tf.io.gfile.exists(
          os.path.join(path, LEGACY_IMPORTANCE))),
      # KerasHub's BertBackbone has the tanh GELU only.
      inner_activation='gelu_tanh',
      activation_from=f'it is a KerasHub {name} (tanh GELU)',
      lower_case=None if lower is None else bool(lower),
      casing_from=f'its {TOKENIZER} has lowercase={lower}',
      strip_accents=None if strip is None else bool(strip),
      accents_from=f'its {TOKENIZER} has strip_accents={strip}')
