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

import tensorflow as tf

from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.interop import huggingface
from official_td.tasks import classification


def _finetuned(model_dir: str):
  encoder, classifier, run = classification.load_finetuned_classifier(
      model_dir)
  tensors = huggingface.tensors_of(encoder, classifier=classifier)
  return tensors, run, 'BertForSequenceClassification', run.finetune[
      'label_names']


def _pretrained(model_dir: str):
  encoder, run = classification.load_pretrained_encoder(model_dir,
                                                        '--model_dir')
  pretrainer = encoders.build_pretrainer(
      encoder, encoders.activation_of(run.encoder_kwargs))
  # Builds the head's variables; no AutoGraph conversion (none needed).
  tf.autograph.experimental.do_not_convert(pretrainer)(
      _dummy(run.encoder_kwargs))
  tf.train.Checkpoint(model=pretrainer).read(
      run.checkpoint).assert_existing_objects_matched().expect_partial()
  tensors = huggingface.tensors_of(encoder, masked_lm=pretrainer.masked_lm)
  return tensors, run, 'BertForMaskedLM', None


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
  if rundir.is_finetuning(model_dir):
    tensors, run, architecture, labels = _finetuned(model_dir)
  else:
    tensors, run, architecture, labels = _pretrained(model_dir)
  ids = vocab_lib.resolve_special_token_ids(run.vocab_file)
  config = huggingface.hf_config(run.encoder_kwargs, ids, architecture,
                                 labels)
  # The tokenizer is cased as the run's text was (tokenizer_config.json).
  huggingface.write_directory(export_dir, tensors, config, run.vocab_file,
                              run.casing)
  return export_dir
