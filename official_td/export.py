r"""Exports a pretrained or fine-tuned model: SavedModel or Hugging Face.

  python -m official_td.export --model_dir=runs/demo --export_dir=exports \
      --model_name=td_bert --version=1 --seq_length=128
  python -m official_td.export --format=huggingface --model_dir=runs/demo \
      --export_dir=exports/td_bert_hf

`--format=huggingface` writes a Hugging Face BERT directory at `export_dir`
itself (`BertForMaskedLM` from a pretraining run, `BertForSequenceClassification`
from a fine-tuning run; `official_td.interop.hf_export`), staged and published
atomically like the SavedModel; an existing directory is never overwritten.

The SavedModel (the default, `--format=savedmodel`) goes to
`exports/td_bert/1/` (TF Serving's layout), holding a plain BERT: no
token dropping, no importance table. Signatures:

  serving_default    text: string [batch] (and text_b: string [batch] for a
                     sentence-pair classifier) -> encoder: pooled_output,
                     sequence_output; classifier: probabilities, label (int),
                     label_name (string).
  serving_tokenized  input_word_ids, input_mask, input_type_ids: int32
                     [batch, seq_length] -> the same outputs.

Tokenization runs in the graph (tf-models-official's BertTokenizer layer over
tensorflow-text, the vocab stored as an asset): load the model in Python only
after `import tensorflow_text`. The export is written to a hidden staging
directory, then published: renamed on local disk; on `gs://` (any non-local
tf.io.gfile URL) copied with `saved_model.pb` last, the file TF Serving needs
before it loads a version. An existing version is never overwritten.
"""

import os

# TensorFlow's C++ start-up chatter is not for the console unless asked for.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from typing import Optional

from absl import app
from absl import flags
import tensorflow as tf

from official_td import cli
from official_td import publish
from official_td import rundir
from official_td.tasks import classification

FLAGS = flags.FLAGS

flags.DEFINE_string('model_dir', None,
                    'A pretraining (official_td.train) or fine-tuning '
                    '(official_td.finetune) model directory.')
flags.DEFINE_string('export_dir', None, 'Base directory of exported models '
                    '(huggingface: the directory to write).')
flags.DEFINE_enum('format', 'savedmodel', ['savedmodel', 'huggingface'],
                  'savedmodel (TF Serving) or huggingface (transformers, '
                  'KerasHub).')
flags.DEFINE_string('model_name', 'td_bert', 'Model name (a subdirectory).')
flags.DEFINE_integer('version', 1, 'Version number (a new subdirectory).')
flags.DEFINE_bool('verbose', False, 'Show tracebacks of input errors.')
flags.DEFINE_integer('seq_length', None, 'Tokens per input (default: the '
                     'fine-tuning length, else 128).')


class ServingModule(tf.Module):
  """Raw text or token ids in; encoder or classifier outputs out.

  The signatures trace without AutoGraph: no tensor-dependent Python control
  flow in them or in the layers they call.
  """

  def __init__(self, encoder, vocab_file: str, seq_length: int,
               casing, classifier=None, label_names=None,
               pair: bool = False):
    super().__init__()
    self.encoder = encoder
    self.classifier = classifier
    self.preprocessor = classification.TextPreprocessor(vocab_file,
                                                        seq_length, casing)
    self.label_names = tf.constant(label_names or [], tf.string)
    self.seq_length = seq_length
    self.pair = pair

  def _outputs(self, inputs):
    if self.classifier is not None:
      logits = self.classifier(inputs, training=False)
      probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
      label = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
      return dict(probabilities=probabilities, label=label,
                  label_name=tf.gather(self.label_names, label))
    outputs = self.encoder(inputs, training=False)
    return dict(pooled_output=outputs['pooled_output'],
                sequence_output=outputs['sequence_output'])

  @tf.function(autograph=False)
  def serve_text(self, text):
    return self._outputs(self.preprocessor(text))

  @tf.function(autograph=False)
  def serve_text_pair(self, text, text_b):
    return self._outputs(self.preprocessor(text, text_b))

  @tf.function(autograph=False)
  def serve_tokenized(self, input_word_ids, input_mask, input_type_ids):
    return self._outputs(dict(input_word_ids=input_word_ids,
                              input_mask=input_mask,
                              input_type_ids=input_type_ids))

  def signatures(self):
    ids = tf.TensorSpec([None, self.seq_length], tf.int32)
    text = tf.TensorSpec([None], tf.string, name='text')
    if self.pair:
      default = self.serve_text_pair.get_concrete_function(
          text, tf.TensorSpec([None], tf.string, name='text_b'))
    else:
      default = self.serve_text.get_concrete_function(text)
    return {
        'serving_default': default,
        'serving_tokenized': self.serve_tokenized.get_concrete_function(
            tf.TensorSpec.from_spec(ids, 'input_word_ids'),
            tf.TensorSpec.from_spec(ids, 'input_mask'),
            tf.TensorSpec.from_spec(ids, 'input_type_ids')),
    }


def build_serving_module(model_dir: str,
                         seq_length: Optional[int] = None) -> ServingModule:
  """Rebuilds the model of `model_dir` (plain BertEncoderV2, + classifier),
  its in-graph tokenizer cased as the run's text was."""
  if rundir.is_finetuning(model_dir):
    encoder, classifier, run = classification.load_finetuned_classifier(
        model_dir)
    config = run.finetune
    return ServingModule(encoder, run.vocab_file,
                         seq_length or config['seq_length'], run.casing,
                         classifier, config['label_names'],
                         config['has_text_b'])
  encoder, run = classification.load_pretrained_encoder(model_dir,
                                                        '--model_dir')
  max_length = run.encoder_kwargs['max_sequence_length']
  seq_length = seq_length or min(128, max_length)
  if seq_length > max_length:
    raise ValueError(f'seq_length={seq_length} exceeds the encoder\'s '
                     f'max_sequence_length={max_length}.')
  return ServingModule(encoder, run.vocab_file, seq_length, run.casing)


def export(model_dir: str, export_dir: str, model_name: str, version: int,
           seq_length: Optional[int] = None) -> str:
  """Writes `export_dir/model_name/version`; returns that path.

  Raises:
    ValueError: if the version directory exists (it is never overwritten) or
      the model directory cannot be loaded.
  """
  target = os.path.join(export_dir, model_name, str(int(version)))
  if tf.io.gfile.exists(target):
    complete = tf.io.gfile.exists(os.path.join(target, 'saved_model.pb'))
    raise ValueError(
        f'{target!r} already exists; exports are never overwritten. Use a new '
        '--version (TF Serving serves the highest).' + (
            '' if complete else ' It has no saved_model.pb: an interrupted '
            'export; delete it and export again.'))
  module = build_serving_module(model_dir, seq_length)
  tf.io.gfile.makedirs(os.path.dirname(target))
  staging = publish.staging_dir(target)
  try:
    tf.saved_model.save(module, staging, signatures=module.signatures())
    publish.publish(staging, target, marker='saved_model.pb')
  except BaseException:
    publish.remove_quietly(staging)
    raise
  return target


def main(argv):
  del argv
  if not FLAGS.model_dir or not FLAGS.export_dir:
    raise ValueError('--model_dir and --export_dir are required.')
  if FLAGS.format == 'huggingface':
    from official_td.interop import hf_export  # pylint: disable=g-import-not-at-top
    path = hf_export.export(FLAGS.model_dir, FLAGS.export_dir)
    print(f'Exported a Hugging Face BERT directory to {path}')
    return
  path = export(FLAGS.model_dir, FLAGS.export_dir, FLAGS.model_name,
                FLAGS.version, FLAGS.seq_length)
  print(f'Exported to {path}')


def run():
  """The console entry point (see pyproject.toml)."""
  app.run(cli.main_with_clean_errors(main, lambda: FLAGS.verbose))


if __name__ == '__main__':
  run()
