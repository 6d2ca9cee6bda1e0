r"""Fine-tunes a KerasHub preset with KerasHub's `BertTextClassifier`.

  KERAS_BACKEND=jax python -m official_td.keras_hub.finetune \
      --gin_file=gin/finetune/embedded_source.gin \
      --gin_bindings="finetune.pretrained_dir='runs/demo_keras'" \
      --model_dir=runs/demo_keras_finetune

The gin file is `official_td.finetune`'s (`finetune.*`: the same CSV/TSV or
TFDS data, sequence length, batch, epochs, learning rate, warmup, dropout,
seed), with `finetune.pretrained_dir` a KerasHub BERT preset (the directory
`official_td.keras_hub.train` writes, or any `BertBackbone` preset). The
classifier is `keras_hub.models.BertTextClassifier` on the plain
`BertBackbone` (fine-tuning drops no tokens) with the preset's tokenizer, so
its casing is the pretraining data's; the optimizer is the Model Garden
fine-tuning's (AdamW, warmup, linear decay). Writes `--model_dir` whole: the
classifier's preset and `results.json` (the metrics of `official_td.finetune`).
"""

import os

from absl import app
from absl import flags
import keras
import keras_hub
import numpy as np

from official_td import cli
from official_td import configurables
from official_td import publish
from official_td import rundir
from official_td.keras_hub import backbone as backbone_lib
from official_td.keras_hub import optimization
from official_td.keras_hub import preprocessing
from official_td.tasks import classification


def finetune(config: classification.FinetuneConfig, model_dir: str) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.io.gfile.exists(model_dir):
    raise ValueError(f'{model_dir!r} exists; fine-tuning writes a new '
                     'directory. Choose a new --model_dir.')
  if not config.pretrained_dir:
    raise ValueError('Set finetune.pretrained_dir to a KerasHub BERT preset '
                     '(e.g. the --model_dir of official_td.keras_hub.train).')
  train, evaluation = classification.load_data(config)
  num_classes = len(train.label_names)
  keras.utils.set_random_seed(config.seed)
  # `finetune.mixed_precision`, before any layer is built (`compile` adds
  # loss scaling under mixed_float16).
  keras.mixed_precision.set_global_policy(config.mixed_precision)
  # KerasHub's own classes on the preset's tokenizer (its casing and accents
  # are the pretraining data's): the fine-tuned classifier's preset loads
  # without this package.
  preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
      preprocessing.bert_tokenizer(keras_hub.models.BertTokenizer.from_preset(
          config.pretrained_dir)), sequence_length=config.seq_length)
  classifier = keras_hub.models.BertTextClassifier(
      backbone_lib.bert_backbone_from_preset(config.pretrained_dir),
      num_classes=num_classes, preprocessor=preprocessor,
      dropout=config.dropout)
  steps = config.epochs * int(np.ceil(len(train.labels) / config.batch_size))
  classifier.compile(
      optimizer=optimization.build_optimizer(
          classifier, steps, learning_rate=config.learning_rate,
          warmup_steps=int(config.warmup_fraction * steps),
          gradient_clip_norm=0.0),
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      metrics=['accuracy'])
  history = classifier.fit(_texts(train), train.labels,
                           batch_size=config.batch_size,
                           epochs=config.epochs, verbose=2)
  logits = classifier.predict(_texts(evaluation),
                              batch_size=config.batch_size, verbose=0)
  metrics = classification.classification_metrics(
      evaluation.labels, np.argmax(logits, -1), num_classes)
  results = dict(pretrained_preset=config.pretrained_dir,
                 num_classes=num_classes, label_names=train.label_names,
                 train_examples=len(train.labels),
                 eval_examples=len(evaluation.labels),
                 final_train_loss=float(history.history['loss'][-1]),
                 lower_case=bool(preprocessor.tokenizer.lowercase),
                 strip_accents=bool(preprocessor.tokenizer.strip_accents),
                 mixed_precision=config.mixed_precision,
                 backend=keras.backend.backend(),
                 **{f'eval_{k}': v for k, v in metrics.items()})
  staging = publish.staging_dir(model_dir)
  classifier.save_to_preset(staging)
  publish.write_json(os.path.join(staging, rundir.RESULTS), results)
  publish.publish(staging, model_dir, marker=rundir.RESULTS)
  print(f'eval accuracy {metrics["accuracy"]:.4f}; KerasHub preset: '
        f'{model_dir}', flush=True)
  return results


def _texts(data):
  """The preprocessor's input: the texts, or (text_a, text_b) pairs."""
  a = np.asarray(data.text_a)
  return a if data.text_b is None else (a, np.asarray(data.text_b))


def main(argv):
  del argv
  model_dir = cli.configure_from_flags()
  finetune(configurables.finetune(), model_dir)


def run():
  flags.DEFINE_multi_string('gin_file', [], 'Gin config files (in order).')
  flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
  flags.DEFINE_string('model_dir', None, 'Directory to write: the fine-tuned '
                      "classifier's KerasHub preset and results.")
  flags.DEFINE_bool('verbose', False, 'Tracebacks for user errors.')
  app.run(cli.main_with_clean_errors(main, lambda: flags.FLAGS.verbose))


if __name__ == '__main__':
  run()
