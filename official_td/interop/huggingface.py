"""Hugging Face BERT directories: one name mapping, both directions.

A Hugging Face BERT directory is `config.json` (`model_type: bert`),
`model.safetensors` (PyTorch names, `[out, in]` kernels), `vocab.txt`,
`tokenizer_config.json` and `special_tokens_map.json`. `encoder_entries`,
`mlm_entries` and `classifier_entries` are the one mapping between the
Model Garden's `BertEncoderV2` (with its `MaskedLM` head or `BertClassifier`
head) and those names: export reads our variables through it, import
(`hf_checkpoint`, which also reads the hub's older namings) assigns through
it. Tensors are read and written with the `safetensors` package from
numpy (no PyTorch). Written here because neither tf-models-official nor
KerasHub writes this format from a Model Garden model.

The architectures agree: post-norm blocks, layer-norm epsilon 1e-12, a tanh
pooler, absolute position embeddings; the activation is the encoder's
(`bert_config`: BERT's tanh-approximated GELU is Hugging Face's `gelu_new`,
its `gelu` the erf form).
"""

import dataclasses
import os
from typing import Callable, Dict, List, Optional

import numpy as np
from safetensors import numpy as safetensors_numpy
import tensorflow as tf

from official_td import casing as casing_lib
from official_td import publish
from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.interop import bert_config

CONFIG = 'config.json'
WEIGHTS = 'model.safetensors'
TOKENIZER_CONFIG = 'tokenizer_config.json'
FILES = (CONFIG, WEIGHTS, rundir.VOCAB, TOKENIZER_CONFIG,
         'special_tokens_map.json')


@dataclasses.dataclass
class Entry:
  """One tensor: our variable, its Hugging Face name and the conversions."""
  variable: tf.Variable
  name: str
  to_hf: Callable[[np.ndarray], np.ndarray]
  from_hf: Callable[[np.ndarray], np.ndarray]


def _same(x):
  return x


def _dense(variable, name) -> List[Entry]:
  """A Keras Dense / 2-D EinsumDense `[in, out]` kernel and its bias."""
  return [Entry(variable.kernel, f'{name}.weight', np.transpose,
                np.transpose),
          Entry(variable.bias, f'{name}.bias', _same, _same)]


def _norm(layer, name) -> List[Entry]:
  return [Entry(layer.gamma, f'{name}.weight', _same, _same),
          Entry(layer.beta, f'{name}.bias', _same, _same)]


def _attention(layer, name) -> List[Entry]:
  """Multi-head projections: `[H, heads, d]` kernels as `[heads*d, H]`."""
  entries = []
  for ours, theirs in (('_query_dense', 'query'), ('_key_dense', 'key'),
                       ('_value_dense', 'value')):
    dense = getattr(layer, ours)
    shape = dense.kernel.shape.as_list()
    entries += [
        Entry(dense.kernel, f'{name}.self.{theirs}.weight',
              lambda k: k.reshape(k.shape[0], -1).T,
              lambda w, s=shape: w.T.reshape(s)),
        Entry(dense.bias, f'{name}.self.{theirs}.bias',
              lambda b: b.reshape(-1),
              lambda b, s=dense.bias.shape.as_list(): b.reshape(s))]
  out = layer._output_dense  # pylint: disable=protected-access
  shape = out.kernel.shape.as_list()
  entries += [
      Entry(out.kernel, f'{name}.output.dense.weight',
            lambda k: k.reshape(-1, k.shape[-1]).T,
            lambda w, s=shape: w.T.reshape(s)),
      Entry(out.bias, f'{name}.output.dense.bias', _same, _same)]
  return entries


def encoder_entries(encoder, prefix: str = 'bert.',
                     pooler: bool = True) -> List[Entry]:
  # pylint: disable=protected-access
  entries = [
      Entry(encoder._embedding_layer.embeddings,
            f'{prefix}embeddings.word_embeddings.weight', _same, _same),
      Entry(encoder._position_embedding_layer._position_embeddings,
            f'{prefix}embeddings.position_embeddings.weight', _same, _same),
      Entry(encoder._type_embedding_layer.embeddings,
            f'{prefix}embeddings.token_type_embeddings.weight', _same, _same),
  ] + _norm(encoder._embedding_norm_layer, f'{prefix}embeddings.LayerNorm')
  if encoder._embedding_projection is not None:
    raise ValueError('An encoder with embedding_width != hidden_size (an '
                     'embedding projection) has no Hugging Face BERT layout.')
  for i, block in enumerate(encoder.transformer_layers):
    name = f'{prefix}encoder.layer.{i}'
    entries += _attention(block._attention_layer, f'{name}.attention')
    entries += _norm(block._attention_layer_norm,
                     f'{name}.attention.output.LayerNorm')
    entries += _dense(block._intermediate_dense, f'{name}.intermediate.dense')
    entries += _dense(block._output_dense, f'{name}.output.dense')
    entries += _norm(block._output_layer_norm, f'{name}.output.LayerNorm')
  if pooler:
    entries += _dense(encoder.pooler_layer, f'{prefix}pooler.dense')
  return entries


def mlm_entries(masked_lm) -> List[Entry]:
  """The MaskedLM head; its decoder is the (tied) word embedding table."""
  return (_dense(masked_lm.dense, 'cls.predictions.transform.dense') +
          _norm(masked_lm.layer_norm, 'cls.predictions.transform.LayerNorm') +
          [Entry(masked_lm.bias, 'cls.predictions.bias', _same, _same)])


def classifier_entries(classifier) -> List[Entry]:
  """BertClassifier's head on the pooled output (`ClassificationHead` with
  no inner layer): Hugging Face's `classifier` of
  `BertForSequenceClassification`."""
  head = classifier.classifier
  if getattr(head, 'dense', None) is not None:
    raise ValueError('A classification head with an inner layer has no '
                     'BertForSequenceClassification layout.')
  return _dense(head.out_proj, 'classifier')


# ------------------------------------------------------------------ export
def hf_config(encoder_kwargs: Dict, ids: vocab_lib.SpecialTokenIds,
              architecture: str, label_names: Optional[List[str]] = None
              ) -> Dict:
  """`config.json` of a BertEncoderV2 built from `encoder_kwargs`."""
  config = dict(
      architectures=[architecture], model_type='bert',
      vocab_size=encoder_kwargs['vocab_size'],
      hidden_size=encoder_kwargs['hidden_size'],
      num_hidden_layers=encoder_kwargs['num_layers'],
      num_attention_heads=encoder_kwargs['num_attention_heads'],
      intermediate_size=encoder_kwargs['inner_dim'],
      hidden_act=bert_config.HF_HIDDEN_ACT[encoders.activation_of(
          encoder_kwargs)],
      hidden_dropout_prob=encoder_kwargs.get('output_dropout', 0.1),
      attention_probs_dropout_prob=encoder_kwargs.get('attention_dropout',
                                                      0.1),
      max_position_embeddings=encoder_kwargs['max_sequence_length'],
      type_vocab_size=encoder_kwargs.get('type_vocab_size', 2),
      initializer_range=0.02, layer_norm_eps=bert_config.LAYER_NORM_EPS,
      pad_token_id=ids.pad_id, position_embedding_type='absolute',
      tie_word_embeddings=True, torch_dtype='float32', use_cache=True)
  if label_names is not None:
    config['id2label'] = {str(i): n for i, n in enumerate(label_names)}
    config['label2id'] = {n: i for i, n in enumerate(label_names)}
  return config


def tokenizer_files(vocab: List[str], casing: casing_lib.Casing,
                    max_length: int) -> Dict[str, Dict]:
  """`tokenizer_config.json` and `special_tokens_map.json`; the casing as
  Hugging Face's `BertTokenizer` reads it (`strip_accents` None where it
  follows `do_lower_case`)."""
  special = {k: t for k, t in (('unk_token', '[UNK]'), ('sep_token', '[SEP]'),
                               ('pad_token', '[PAD]'), ('cls_token', '[CLS]'),
                               ('mask_token', '[MASK]')) if t in vocab}
  return {
      TOKENIZER_CONFIG: dict(
          tokenizer_class='BertTokenizer', do_lower_case=casing.lower_case,
          strip_accents=casing.hf_strip_accents, tokenize_chinese_chars=True,
          model_max_length=max_length, **special),
      'special_tokens_map.json': special,
  }


def tensors_of(encoder, masked_lm=None, classifier=None, pooler=True
               ) -> Dict[str, np.ndarray]:
  """Hugging Face name -> tensor, for the given (built) layers."""
  entries = encoder_entries(encoder, pooler=pooler)
  if masked_lm is not None:
    entries += mlm_entries(masked_lm)
  if classifier is not None:
    entries += classifier_entries(classifier)
  return {e.name: np.ascontiguousarray(e.to_hf(e.variable.numpy()),
                                       dtype=np.float32)
          for e in entries}


def write_directory(target: str, tensors: Dict[str, np.ndarray],
                    config: Dict, vocab_file: str, casing):
  """Writes a Hugging Face directory at `target`, whole or not at all.

  Staged beside `target` and published like the SavedModel export (one
  rename locally; on object stores `model.safetensors` copied last). An
  existing `target` is never overwritten. `casing`: a `casing.Casing` (a
  bool: lower-cased and accents stripped, or neither).
  """
  casing = casing_lib.Casing.coerce(casing)
  if tf.io.gfile.exists(target):
    raise ValueError(f'{target!r} already exists; exports are never '
                     'overwritten. Choose a new --export_dir.')
  vocab = vocab_lib.load_vocab(vocab_file)
  parent = os.path.dirname(target.rstrip('/'))
  if parent:
    tf.io.gfile.makedirs(parent)
  staging = publish.staging_dir(target)
  try:
    tf.io.gfile.makedirs(staging)
    publish.write_json(os.path.join(staging, CONFIG), config)
    for name, value in tokenizer_files(
        vocab, casing, config['max_position_embeddings']).items():
      publish.write_json(os.path.join(staging, name), value)
    tf.io.gfile.copy(vocab_file, rundir.vocab_file_of(staging))
    with tf.io.gfile.GFile(os.path.join(staging, WEIGHTS), 'wb') as f:
      f.write(safetensors_numpy.save(tensors, metadata={'format': 'pt'}))
    publish.publish(staging, target, marker=WEIGHTS)
  except BaseException:
    publish.remove_quietly(staging)
    raise
