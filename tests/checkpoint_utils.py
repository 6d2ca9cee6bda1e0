"""Checkpoints in other projects' formats, written from known tensors."""

import json
import os
import shutil

import numpy as np
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
