"""Checkpoints in other projects' formats, written from known tensors.

Each writer follows the published layout of the real files (names, shapes,
configs as the real ones have them; the source of each layout is given
where it is written) and calls nothing of official_td: an import test that
reads them reads someone else's format, not this project's own export.
"""

import json
import os
import shutil

import numpy as np
from safetensors import numpy as safetensors_numpy
import tensorflow as tf


def google_bert_tensors(shape, rng):
  """A google-research/bert checkpoint's tensors (its names and layouts:
  `[in, out]` kernels, LayerNorm `gamma`/`beta`), random, for `shape` (the
  `encoder_config.json` keys)."""
  h, inner = shape['hidden_size'], shape['inner_dim']

  def normal(*dims):
    return rng.normal(0, 0.3, dims).astype(np.float32)

  tensors = {
      'bert/embeddings/word_embeddings': normal(shape['vocab_size'], h),
      'bert/embeddings/token_type_embeddings': normal(
          shape['type_vocab_size'], h),
      'bert/embeddings/position_embeddings': normal(
          shape['max_sequence_length'], h),
      'bert/embeddings/LayerNorm/gamma': normal(h),
      'bert/embeddings/LayerNorm/beta': normal(h),
      'bert/pooler/dense/kernel': normal(h, h),
      'bert/pooler/dense/bias': normal(h),
      'cls/predictions/transform/dense/kernel': normal(h, h),
      'cls/predictions/transform/dense/bias': normal(h),
      'cls/predictions/transform/LayerNorm/gamma': normal(h),
      'cls/predictions/transform/LayerNorm/beta': normal(h),
      'cls/predictions/output_bias': normal(shape['vocab_size']),
      'cls/seq_relationship/output_weights': normal(2, h),
      'cls/seq_relationship/output_bias': normal(2),
  }
  for i in range(shape['num_layers']):
    layer = f'bert/encoder/layer_{i}'
    for name, dims in (('attention/self/query', (h, h)),
                       ('attention/self/key', (h, h)),
                       ('attention/self/value', (h, h)),
                       ('attention/output/dense', (h, h)),
                       ('intermediate/dense', (h, inner)),
                       ('output/dense', (inner, h))):
      tensors[f'{layer}/{name}/kernel'] = normal(*dims)
      tensors[f'{layer}/{name}/bias'] = normal(dims[1])
    for name in ('attention/output/LayerNorm', 'output/LayerNorm'):
      tensors[f'{layer}/{name}/gamma'] = normal(h)
      tensors[f'{layer}/{name}/beta'] = normal(h)
  return tensors


def write_tf1_checkpoint(prefix, tensors):
  """Saves `tensors` by name, as google-research/bert's
  `tf.compat.v1.train.Saver` did (with a global step and Adam slots, which
  an import must skip)."""
  with tf.Graph().as_default():
    variables = [tf.compat.v1.Variable(value, name=name)
                 for name, value in tensors.items()]
    variables.append(tf.compat.v1.Variable(7, dtype=tf.int64,
                                           name='global_step'))
    variables += [tf.compat.v1.Variable(np.ones_like(value),
                                        name=f'{name}/adam_m')
                  for name, value in list(tensors.items())[:3]]
    saver = tf.compat.v1.train.Saver(variables)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      saver.save(session, prefix, write_meta_graph=False)
  # The released directories hold no `checkpoint` state file.
  os.remove(os.path.join(os.path.dirname(prefix), 'checkpoint'))



def write_google_bert_directory(directory, shape, vocab_file, seed=0):
  """A google-research/bert directory for `shape` (the keys of
  `encoder_config.json`): bert_model.ckpt, bert_config.json, vocab.txt."""
  os.makedirs(directory)
  tensors = google_bert_tensors(shape, np.random.default_rng(seed))
  write_tf1_checkpoint(os.path.join(directory, 'bert_model.ckpt'), tensors)
  with open(os.path.join(directory, 'bert_config.json'), 'w') as f:
    json.dump(dict(
        vocab_size=shape['vocab_size'], hidden_size=shape['hidden_size'],
        num_hidden_layers=shape['num_layers'],
        num_attention_heads=shape['num_attention_heads'],
        intermediate_size=shape['inner_dim'],
        max_position_embeddings=shape['max_sequence_length'],
        type_vocab_size=shape['type_vocab_size'], hidden_act='gelu',
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        initializer_range=0.02), f)
  shutil.copy(vocab_file, os.path.join(directory, 'vocab.txt'))
  return tensors


# bert-base-uncased's config.json on the Hugging Face hub (its sizes are
# replaced by the test's shape): hidden_act 'gelu', which transformers reads
# as the exact (erf) GELU.
BERT_BASE_UNCASED_CONFIG = {
    'architectures': ['BertForMaskedLM'],
    'attention_probs_dropout_prob': 0.1,
    'gradient_checkpointing': False,
    'hidden_act': 'gelu',
    'hidden_dropout_prob': 0.1,
    'hidden_size': 768,
    'initializer_range': 0.02,
    'intermediate_size': 3072,
    'layer_norm_eps': 1e-12,
    'max_position_embeddings': 512,
    'model_type': 'bert',
    'num_attention_heads': 12,
    'num_hidden_layers': 12,
    'pad_token_id': 0,
    'position_embedding_type': 'absolute',
    'transformers_version': '4.6.0.dev0',
    'type_vocab_size': 2,
    'use_cache': True,
    'vocab_size': 30522,
}
# Its tokenizer_config.json.
BERT_BASE_UNCASED_TOKENIZER_CONFIG = {'do_lower_case': True,
                                      'model_max_length': 512}


def hf_bert_tensors(shape, rng, layer_norm=('gamma', 'beta'), prefix='bert.',
                    mlm_head=True, nsp_head=True, decoder=None,
                    decoder_bias=False, output_bias=True):
  """A Hugging Face BERT's tensors, random, for `shape` (the keys of
  `encoder_config.json`).

  The defaults are bert-base-uncased's `model.safetensors` as the hub holds
  it (its key list is quoted in candle issue #1887; transformers issue
  #11809 shows the same): `bert.` prefix, layer norms as `gamma`/`beta`,
  PyTorch `[out, in]` kernels, the MLM head with `cls.predictions.bias` and
  no decoder tensors, and the next-sentence head `cls.seq_relationship.*`.
  Later saves name the layer norms `weight`/`bias` (`layer_norm`), store the
  tied decoder (`decoder='tied'`, a copy of the word embeddings;
  `'untied'`, its own values) and `cls.predictions.decoder.bias`; a
  `BertModel` has no prefix and no heads.
  """
  h, inner, v = shape['hidden_size'], shape['inner_dim'], shape['vocab_size']
  gamma, beta = layer_norm

  def normal(*dims):
    return rng.normal(0, 0.3, dims).astype(np.float32)

  tensors = {
      'embeddings.word_embeddings.weight': normal(v, h),
      'embeddings.position_embeddings.weight': normal(
          shape['max_sequence_length'], h),
      'embeddings.token_type_embeddings.weight': normal(
          shape['type_vocab_size'], h),
      f'embeddings.LayerNorm.{gamma}': normal(h),
      f'embeddings.LayerNorm.{beta}': normal(h),
  }
  for i in range(shape['num_layers']):
    layer = f'encoder.layer.{i}'
    for name, dims in (('attention.self.query', (h, h)),
                       ('attention.self.key', (h, h)),
                       ('attention.self.value', (h, h)),
                       ('attention.output.dense', (h, h)),
                       ('intermediate.dense', (inner, h)),
                       ('output.dense', (h, inner))):
      tensors[f'{layer}.{name}.weight'] = normal(*dims)
      tensors[f'{layer}.{name}.bias'] = normal(dims[0])
    for name in ('attention.output.LayerNorm', 'output.LayerNorm'):
      tensors[f'{layer}.{name}.{gamma}'] = normal(h)
      tensors[f'{layer}.{name}.{beta}'] = normal(h)
  tensors['pooler.dense.weight'] = normal(h, h)
  tensors['pooler.dense.bias'] = normal(h)
  tensors = {prefix + k: t for k, t in tensors.items()}
  if mlm_head:
    bias = normal(v)
    tensors.update({
        'cls.predictions.transform.dense.weight': normal(h, h),
        'cls.predictions.transform.dense.bias': normal(h),
        f'cls.predictions.transform.LayerNorm.{gamma}': normal(h),
        f'cls.predictions.transform.LayerNorm.{beta}': normal(h)})
    if output_bias:
      tensors['cls.predictions.bias'] = bias
    if decoder_bias:
      tensors['cls.predictions.decoder.bias'] = bias.copy()
    if decoder == 'tied':
      tensors['cls.predictions.decoder.weight'] = tensors[
          prefix + 'embeddings.word_embeddings.weight'].copy()
    elif decoder == 'untied':
      tensors['cls.predictions.decoder.weight'] = normal(v, h)
  if nsp_head:
    tensors['cls.seq_relationship.weight'] = normal(2, h)
    tensors['cls.seq_relationship.bias'] = normal(2)
  return tensors


def write_hf_bert_directory(directory, shape, vocab_file, seed=0, shards=1,
                            config=None, tokenizer_config=None, **layout):
  """A Hugging Face BERT directory for `shape`, as `huggingface-cli download
  bert-base-uncased` writes it (config.json, model.safetensors, vocab.txt,
  tokenizer_config.json), with `hf_bert_tensors(**layout)`.

  `shards > 1`: the tensors split over `model-0000K-of-0000N.safetensors`
  with `model.safetensors.index.json` (`metadata.total_size`, `weight_map`),
  as transformers' `save_pretrained(max_shard_size=...)` writes them.

  Returns:
    The tensors, by the file's names.
  """
  os.makedirs(directory)
  tensors = hf_bert_tensors(shape, np.random.default_rng(seed), **layout)
  names = list(tensors)
  if shards == 1:
    safetensors_numpy.save_file(tensors, os.path.join(
        directory, 'model.safetensors'), metadata={'format': 'pt'})
  else:
    weight_map = {}
    for k in range(shards):
      file = f'model-{k + 1:05d}-of-{shards:05d}.safetensors'
      part = {n: tensors[n] for n in names[k::shards]}
      safetensors_numpy.save_file(part, os.path.join(directory, file),
                                  metadata={'format': 'pt'})
      weight_map.update({n: file for n in part})
    with open(os.path.join(directory, 'model.safetensors.index.json'),
              'w') as f:
      json.dump({'metadata': {'total_size': int(sum(
          t.nbytes for t in tensors.values()))},
                 'weight_map': dict(sorted(weight_map.items()))}, f, indent=2)
  config = dict(BERT_BASE_UNCASED_CONFIG, **(config or {}))
  config.update(vocab_size=shape['vocab_size'],
                hidden_size=shape['hidden_size'],
                num_hidden_layers=shape['num_layers'],
                num_attention_heads=shape['num_attention_heads'],
                intermediate_size=shape['inner_dim'],
                max_position_embeddings=shape['max_sequence_length'],
                type_vocab_size=shape['type_vocab_size'])
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    json.dump(config, f, indent=2)
  with open(os.path.join(directory, 'tokenizer_config.json'), 'w') as f:
    json.dump(dict(BERT_BASE_UNCASED_TOKENIZER_CONFIG,
                   **(tokenizer_config or {})), f)
  shutil.copy(vocab_file, os.path.join(directory, 'vocab.txt'))
  return tensors


def as_hugging_face_names(tensors):
  """A Hugging Face BERT's tensors under the names `transformers` loads them
  by (its loader's renaming: `gamma`/`beta` to `weight`/`bias`, the `bert.`
  prefix of `BertForMaskedLM`), the next-sentence head and a copied decoder
  left out; written independently of official_td's mapping."""
  out = {}
  if 'cls.predictions.decoder.bias' in tensors and (
      'cls.predictions.bias' not in tensors):
    out['cls.predictions.bias'] = tensors['cls.predictions.decoder.bias']
  for name, value in tensors.items():
    if name.startswith('cls.seq_relationship.') or name.startswith(
        'cls.predictions.decoder.'):
      continue
    name = name.replace('LayerNorm.gamma', 'LayerNorm.weight').replace(
        'LayerNorm.beta', 'LayerNorm.bias')
    if not name.startswith(('bert.', 'cls.')):
      name = 'bert.' + name
    out[name] = value
  return out
