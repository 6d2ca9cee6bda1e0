"""Model Garden and google-research/bert checkpoints: their shapes and copies.

The TensorFlow checkpoint kinds of `init_checkpoint` (a `BertEncoderV2`
under `encoder/`, a functional `BertEncoder` v1 under `model/` or
`encoder/`, a google-research/bert TF1 checkpoint): reading their shapes
cheaply, and copying their weights into the run's encoder and MLM head.
google-research/bert checkpoints are converted with the Model Garden's own
converter (`official/nlp/tools/tf2_bert_encoder_checkpoint_converter.py`).
"""

import json
import os
import re
import shutil
import tempfile
from typing import Dict, Optional

import tensorflow as tf

from official_td.interop import bert_config

GOOGLE_CHECKPOINT = 'bert_model.ckpt'
GOOGLE_CONFIG = 'bert_config.json'
GOOGLE_EMBEDDINGS = 'bert/embeddings/word_embeddings'


def google_settings(prefix: str, shapes) -> bert_config.EncoderSettings:
  """The encoder of a google-research/bert checkpoint, from the
  `bert_config.json` beside it; a clear error where the file is missing,
  describes another model, or disagrees with the checkpoint's tensors."""
  config_file = os.path.join(os.path.dirname(prefix), GOOGLE_CONFIG)
  if not tf.io.gfile.exists(config_file):
    raise ValueError(
        f'{prefix!r} is a google-research/bert checkpoint (its variables are '
        f'named bert/...), but {config_file!r} does not exist: put the '
        f'{GOOGLE_CONFIG} released with it beside the checkpoint.')
  with tf.io.gfile.GFile(config_file) as f:
    settings = bert_config.encoder_settings(json.load(f), config_file,
                                            bert_config.GOOGLE)
  shape = settings.shape
  layers = {int(m.group(1)) for k in shapes
            for m in [re.match(r'bert/encoder/layer_(\d+)/', k)] if m}
  found = dict(
      vocab_size=shapes[GOOGLE_EMBEDDINGS][0],
      hidden_size=shapes[GOOGLE_EMBEDDINGS][1], num_layers=len(layers),
      inner_dim=shapes.get('bert/encoder/layer_0/intermediate/dense/kernel',
                           [0, 0])[1],
      max_sequence_length=shapes.get(
          'bert/embeddings/position_embeddings', [0])[0])
  differ = [k for k, v in found.items() if shape[k] != v]
  if differ:
    raise ValueError(
        f'{config_file!r} does not describe the checkpoint {prefix!r}: '
        + ', '.join(f'{k} {shape[k]} in the config, {found[k]} in the '
                    'checkpoint' for k in differ)
        + '. Use the bert_config.json released with this checkpoint.')
  return settings


def checkpoint_shape(shapes) -> Dict[str, int]:
  def shape(suffix):
    return shapes[f'encoder/{suffix}/.ATTRIBUTES/VARIABLE_VALUE']

  layers = {int(m.group(1)) for k in shapes
            for m in [re.match(r'encoder/_transformer_layers/(\d+)/', k)] if m}
  vocab_size, hidden = shape('_embedding_layer/embeddings')
  query = shape('_transformer_layers/0/_attention_layer/_query_dense/kernel')
  return dict(
      vocab_size=vocab_size, hidden_size=hidden, num_layers=len(layers),
      num_attention_heads=query[1],
      inner_dim=shape('_transformer_layers/0/_intermediate_dense/kernel')[1],
      max_sequence_length=shape(
          '_position_embedding_layer/embeddings')[0],
      type_vocab_size=shape('_type_embedding_layer/embeddings')[0])


def v1_shape(shapes, root: str) -> Dict[str, int]:
  def shape(layer, suffix):
    return shapes[f'{root}/layer_with_weights-{layer}/{suffix}/'
                  '.ATTRIBUTES/VARIABLE_VALUE']

  blocks = sorted({int(m.group(1)) for k in shapes for m in [re.match(
      rf'{root}/layer_with_weights-(\d+)/_attention_layer/', k)] if m})
  vocab_size, hidden = shape(0, 'embeddings')
  return dict(
      vocab_size=vocab_size, hidden_size=hidden, num_layers=len(blocks),
      num_attention_heads=shape(
          blocks[0], '_attention_layer/_query_dense/kernel')[1],
      inner_dim=shape(blocks[0], '_intermediate_dense/kernel')[1],
      max_sequence_length=shape(1, 'embeddings')[0],
      type_vocab_size=shape(2, 'embeddings')[0])


def _copy_weights(source, theirs, ours, what: str):
  """Assigns `theirs` (a dict name -> variable) to `ours`, name by name; a
  clear error where a weight has no counterpart."""
  if sorted(theirs) != sorted(ours):
    raise ValueError(
        f'run.init_checkpoint={source.path!r}: the {what} weights '
        f'{sorted(set(theirs) ^ set(ours))} have no counterpart in the '
        'model.')
  for name, variable in ours.items():
    variable.assign(theirs[name])


def _encoder_names(weights, strip_scope: bool):
  """Weights by name; `strip_scope`: without the model's own name scope."""
  names = [w.name.split(':')[0] for w in weights]
  if strip_scope:
    names = [name.split('/', 1)[1] for name in names]
  return dict(zip(names, weights))


def _head_weights(masked_lm):
  """The MLM head's own weights, by role (its decoder is the encoder's word
  embedding table, copied with the encoder)."""
  return {'transform/kernel': masked_lm.dense.kernel,
          'transform/bias': masked_lm.dense.bias,
          'layer_norm/gamma': masked_lm.layer_norm.gamma,
          'layer_norm/beta': masked_lm.layer_norm.beta,
          'output_bias': masked_lm.bias}


def copy_from_v1(source, encoder, pretrainer=None,
                  prefix: Optional[str] = None):
  """Restores a BertEncoder (v1) checkpoint (with `pretrainer`: a
  BertPretrainerV2 over one) from `prefix` (default: the source's) and
  copies it into `encoder` (and `pretrainer.masked_lm`)."""
  from official.nlp.modeling import models  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
  v1 = networks.BertEncoder(**source.shape)
  root = v1
  if pretrainer is not None:
    root = models.BertPretrainerV2(encoder_network=v1)
    root(root.inputs)  # builds the MLM head.
  tf.train.Checkpoint(**{source.root: root}).read(
      prefix or source.path).assert_existing_objects_matched().expect_partial()
  _copy_weights(source, _encoder_names(v1.weights, False),
                _encoder_names(encoder.weights, True), 'BertEncoder\'s')
  if pretrainer is not None:
    _copy_weights(source, _head_weights(root.masked_lm),
                  _head_weights(pretrainer.masked_lm), 'MLM head\'s')


def copy_from_google(source, encoder, pretrainer):
  """Converts a google-research/bert checkpoint with the Model Garden's
  converter (into a local scratch directory, removed after), then copies
  it as a BertEncoder (v1) checkpoint."""
  # pylint: disable=g-import-not-at-top
  from official.legacy.bert import configs
  from official.nlp.tools import tf2_bert_encoder_checkpoint_converter as tf2
  # pylint: enable=g-import-not-at-top
  config = configs.BertConfig.from_json_file(
      os.path.join(os.path.dirname(source.path), GOOGLE_CONFIG))
  scratch = tempfile.mkdtemp(prefix='official_td_bert_')  # local, removed.
  tf_logger = tf.get_logger()
  level = tf_logger.level
  try:
    converted = os.path.join(scratch, 'converted', 'ckpt')
    # The converter reports every variable at INFO: not for the console.
    tf_logger.setLevel('WARNING')
    tf2.convert_checkpoint(
        config, converted, source.path, checkpoint_model_name=source.root,
        converted_model='pretrainer' if source.has_head else 'encoder')
    copy_from_v1(source, encoder,
                  pretrainer if source.has_head else None,
                  tf.train.latest_checkpoint(os.path.dirname(converted)))
  finally:
    tf_logger.setLevel(level)
    shutil.rmtree(scratch, ignore_errors=True)
