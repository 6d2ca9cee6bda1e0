"""Exports a run of this project as a Hugging Face BERT directory.

A pretraining run becomes a `BertForMaskedLM` (encoder and MLM head, the
decoder tied to the word embeddings, and the pooler as it is: pretraining
without the next-sentence task leaves it at its initial values, but
KerasHub's `BertBackbone` needs it; `transformers` ignores it for a
`BertForMaskedLM`); a fine-tuning run becomes a
`BertForSequenceClassification` (encoder with its pooler, the classifier,
`id2label` from the label names). Load it with `transformers`
(`BertForMaskedLM.from_pretrained(DIR)`) or KerasHub
(`keras_hub.models.BertBackbone.from_preset(DIR)`).
"""

import os

import tensorflow as tf

from official.nlp.modeling import networks
from official_td import publish
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.interop import huggingface
from official_td.tasks import classification


def _lower_case(model_dir: str) -> bool:
  """How the run's data was made (results.json records it); BERT's uncased
  default when unknown."""
  results = os.path.join(model_dir, 'results.json')
  if tf.io.gfile.exists(results):
    return bool(publish.read_json(results).get('data_lower_case', True))
  return True


def _finetuned(model_dir: str, config_path: str):
  config = publish.read_json(config_path)
  encoder = networks.BertEncoderV2(**config['encoder'])
  classifier = classification.build_classifier(encoder,
                                               config['num_classes'], 0.0)
  checkpoint = tf.train.latest_checkpoint(model_dir)
  if checkpoint is None:
    raise ValueError(f'No checkpoint in {model_dir!r}.')
  tf.train.Checkpoint(encoder=encoder, model=classifier).read(
      checkpoint).assert_existing_objects_matched().expect_partial()
  tensors = huggingface.tensors_of(encoder, classifier=classifier)
  return (tensors, config['encoder'], 'BertForSequenceClassification',
          config['label_names'],
          _lower_case(os.path.dirname(config_path)))


def _pretrained(model_dir: str):
  encoder, kwargs, _, checkpoint = classification.load_pretrained_encoder(
      model_dir, '--model_dir')
  pretrainer = encoders.build_pretrainer(encoder)
  # Builds the head's variables; no AutoGraph conversion (none needed).
  tf.autograph.experimental.do_not_convert(pretrainer)(_dummy(kwargs))
  tf.train.Checkpoint(model=pretrainer).read(
      checkpoint).assert_existing_objects_matched().expect_partial()
  tensors = huggingface.tensors_of(encoder, masked_lm=pretrainer.masked_lm)
  return tensors, kwargs, 'BertForMaskedLM', None, _lower_case(model_dir)


def _dummy(kwargs):
  s = min(8, kwargs['max_sequence_length'])
  return dict(input_word_ids=tf.zeros((1, s), tf.int32),
              input_mask=tf.ones((1, s), tf.int32),
              input_type_ids=tf.zeros((1, s), tf.int32),
              masked_lm_positions=tf.zeros((1, 1), tf.int32))


def export(model_dir: str, export_dir: str) -> str:
  """Writes the Hugging Face directory `export_dir`; returns it.

  Raises:
    ValueError: if `export_dir` exists (never overwritten) or `model_dir` is
      not a finished run.
  """
  if tf.io.gfile.exists(export_dir):
    raise ValueError(f'{export_dir!r} already exists; exports are never '
                     'overwritten. Choose a new --export_dir.')
  finetune_config = os.path.join(model_dir, classification.FINETUNE_CONFIG)
  if tf.io.gfile.exists(finetune_config):
    tensors, kwargs, architecture, labels, lower = _finetuned(
        model_dir, finetune_config)
  else:
    tensors, kwargs, architecture, labels, lower = _pretrained(model_dir)
  vocab_file = os.path.join(model_dir, 'vocab.txt')
  ids = vocab_lib.resolve_special_token_ids(vocab_file)
  config = huggingface.hf_config(kwargs, ids, architecture, labels)
  huggingface.write_directory(export_dir, tensors, config, vocab_file, lower)
  return export_dir
