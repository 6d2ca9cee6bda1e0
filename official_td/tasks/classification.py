"""Fine-tuning a pretrained (token-dropped) BERT for text classification.

A token-dropped checkpoint is an ordinary BERT: this path loads its weights
into a plain tf-models-official `BertEncoderV2` (no token-drop code at all),
puts `BertClassifier`'s head on it, and trains with Keras `fit` (checkpoints,
TensorBoard, a progress bar). Text goes through tf-models-official's
`BertTokenizer` / `BertPackInputs` layers (tensorflow-text inside), the same
preprocessing the exported SavedModel runs in-graph.
"""

import csv
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from official.nlp import optimization
from official.nlp.modeling import layers
from official.nlp.modeling import models
from official.nlp.modeling import networks
from official_td import casing as casing_lib
from official_td import rundir
from official_td.data.text import corpus


@dataclasses.dataclass
class ClassificationData:
  """Texts (one or two segments) and integer labels."""
  text_a: List[str]
  text_b: Optional[List[str]]
  labels: np.ndarray
  label_names: List[str]


@dataclasses.dataclass
class FinetuneConfig:
  """A fine-tuning run.

  Data comes from CSV/TSV files (`train_file`, `eval_file`, with columns
  `text_column`, optional `text_b_column`, `label_column`) or from a prepared
  TFDS GLUE task (`tfds_name`, e.g. `glue/sst2`, under `tfds_data_dir`).
  """
  pretrained_dir: str = ''
  model_dir: str = ''
  train_file: str = ''
  eval_file: str = ''
  text_column: str = 'text'
  text_b_column: str = ''
  label_column: str = 'label'
  tfds_name: str = ''
  tfds_data_dir: str = ''
  seq_length: int = 128
  batch_size: int = 32
  epochs: int = 3
  learning_rate: float = 5e-5
  warmup_fraction: float = 0.1
  dropout: float = 0.1
  max_examples: int = 0
  seed: int = 1
  mixed_precision: str = 'float32'  # or mixed_bfloat16 / mixed_float16.


# ------------------------------------------------------------------- loading
def _restore_encoder(kwargs: Dict, checkpoint: str, classifier_classes=None):
  """A plain BertEncoderV2 of `kwargs` (and a classifier on it) restored from
  `checkpoint`."""
  encoder = networks.BertEncoderV2(**kwargs)
  # Builds the variables to restore into. The layers' calls hold no
  # tensor-dependent Python control flow: traced without AutoGraph, which
  # would otherwise convert every layer's `call` first (~3 s).
  tf.autograph.experimental.do_not_convert(encoder)(encoder.inputs)
  items = dict(encoder=encoder)
  classifier = None
  if classifier_classes is not None:
    classifier = build_classifier(encoder, classifier_classes, 0.0)
    items['model'] = classifier
  tf.train.Checkpoint(**items).read(
      checkpoint).assert_existing_objects_matched().expect_partial()
  return encoder, classifier


def load_pretrained_encoder(pretrained_dir: str,
                            setting: str = 'finetune.pretrained_dir'):
  """A plain BertEncoderV2 holding the encoder weights of `pretrained_dir`.

  Args:
    pretrained_dir: a finished pretraining run (its `--model_dir`), or a
      fine-tuning run (its encoder).
    setting: the flag or binding `pretrained_dir` came from, named in errors.

  Returns:
    `(encoder, run)`: the encoder and the run's record (`rundir.Run`: its
    encoder arguments, vocab and casing).
  """
  run = rundir.read_run(pretrained_dir, setting)
  encoder, _ = _restore_encoder(run.encoder_kwargs, run.checkpoint)
  return encoder, run


def load_finetuned_classifier(model_dir: str, setting: str = '--model_dir'):
  """The fine-tuned `BertClassifier` of a fine-tuning run.

  Returns:
    `(encoder, classifier, run)`; `run.finetune` holds the labels, the
    sequence length and whether inputs are sentence pairs.
  """
  run = rundir.read_run(model_dir, setting)
  if run.kind != rundir.FINETUNING:
    raise ValueError(f'{setting}={model_dir!r} is a pretraining run, not a '
                     'fine-tuning one.')
  encoder, classifier = _restore_encoder(
      run.encoder_kwargs, run.checkpoint, run.finetune['num_classes'])
  return encoder, classifier, run


def read_delimited(path: str, text_column: str, label_column: str,
                   text_b_column: str = '',
                   label_names: Optional[Sequence[str]] = None,
                   setting: str = 'finetune.train_file'
                   ) -> ClassificationData:
  """Reads a CSV (`.csv`) or TSV (other suffixes) file with a header row.

  Args:
    path: the file (any `tf.io.gfile` URL).
    text_column, label_column, text_b_column: its columns.
    label_names: the training labels (None: this is the training file).
    setting: the gin binding `path` came from, named in errors.

  Raises:
    ValueError: naming `setting`, the file and the fix: the file is missing
      or empty, lacks a column, or (evaluation) has a label training has not.
  """
  delimiter = ',' if path.endswith('.csv') else '\t'
  if not tf.io.gfile.exists(path):
    raise ValueError(
        f'{setting}={path!r} does not exist: point {setting} at a CSV (.csv) '
        'or TSV file with a header row.')
  with tf.io.gfile.GFile(path) as f:
    rows = list(csv.DictReader(f, delimiter=delimiter))
  if not rows:
    raise ValueError(f'{setting}={path!r} has no data rows under its header '
                     'row: give it one example per line.')
  columns = {'finetune.text_column': text_column,
             'finetune.text_b_column': text_b_column,
             'finetune.label_column': label_column}
  for binding, column in columns.items():
    if column and column not in rows[0]:
      raise ValueError(
          f'{setting}={path!r} has no column {column!r} ({binding}); its '
          f'columns are {list(rows[0])}: set {binding} to one of them.')
  raw_labels = [r[label_column] for r in rows]
  if label_names is None:
    label_names = sorted(set(raw_labels))
  index = {name: i for i, name in enumerate(label_names)}
  unknown = sorted(set(raw_labels) - set(index))
  if unknown:
    raise ValueError(
        f'{setting}={path!r} has labels {unknown} that finetune.train_file '
        f'never has ({list(label_names)}): a classifier predicts only the '
        'labels it was trained on; fix them, or add examples of them to the '
        'training file.')
  return ClassificationData(
      text_a=[r[text_column] for r in rows],
      text_b=[r[text_b_column] for r in rows] if text_b_column else None,
      labels=np.array([index[l] for l in raw_labels], np.int32),
      label_names=list(label_names))


GLUE_TEXT_KEYS = {
    'cola': ('sentence', None), 'sst2': ('sentence', None),
    'mrpc': ('sentence1', 'sentence2'), 'qqp': ('question1', 'question2'),
    'stsb': ('sentence1', 'sentence2'), 'mnli': ('premise', 'hypothesis'),
    'qnli': ('question', 'sentence'), 'rte': ('sentence1', 'sentence2'),
    'wnli': ('sentence1', 'sentence2'),
}


def read_tfds_glue(name: str, data_dir: str, split: str) -> ClassificationData:
  """A GLUE task from a prepared TFDS `data_dir` (no download)."""
  task = name.split('/')[-1]
  if task not in GLUE_TEXT_KEYS:
    raise ValueError(f'Unsupported GLUE task {name!r}; one of '
                     f'{sorted(GLUE_TEXT_KEYS)}.')
  ds, info = corpus.load_prepared_tfds(name, data_dir, split)
  key_a, key_b = GLUE_TEXT_KEYS[task]
  a, b, labels = [], [], []
  for ex in ds.as_numpy_iterator():
    a.append(ex[key_a].decode())
    if key_b:
      b.append(ex[key_b].decode())
    labels.append(int(ex['label']))
  names = info.features['label'].names
  return ClassificationData(a, b if key_b else None,
                            np.array(labels, np.int32), list(names))


# -------------------------------------------------------------- preprocessing
class TextPreprocessor(tf_keras.layers.Layer):
  """Raw strings -> BERT inputs, with tf-models-official's text layers."""

  def __init__(self, vocab_file: str, seq_length: int, casing, **kwargs):
    super().__init__(**kwargs)
    # `casing`: a `casing.Casing` (a bool: lower-cased and accents stripped,
    # or neither). The tokenizer's own switch is uncased BERT's; the rest is
    # `casing.normalize`, in the same graph.
    self.casing = casing = casing_lib.Casing.coerce(casing)
    self.tokenizer = layers.BertTokenizer(
        vocab_file=vocab_file, lower_case=casing.tokenizer_lower_case)
    self.packer = layers.BertPackInputs(
        seq_length, special_tokens_dict=self.tokenizer.get_special_tokens_dict())

  # The Model Garden's text layers branch on Python values only: converting
  # them with AutoGraph (in every input pipeline and export) costs seconds.
  @tf.autograph.experimental.do_not_convert
  def call(self, text_a, text_b=None, training=None):
    del training  # (Keras passes it: the wrapper hides the signature.)
    segments = [self.tokenizer(self.casing.normalize(text_a))]
    if text_b is not None:
      segments.append(self.tokenizer(self.casing.normalize(text_b)))
    return self.packer(segments)


def make_dataset(data: ClassificationData, preprocessor: TextPreprocessor,
                 batch_size: int, training: bool, seed: int):
  columns = {'text_a': data.text_a}
  if data.text_b is not None:
    columns['text_b'] = data.text_b
  ds = tf.data.Dataset.from_tensor_slices((columns, data.labels))
  if training:
    ds = ds.shuffle(len(data.labels), seed=seed, reshuffle_each_iteration=True)
  ds = ds.batch(batch_size)
  ds = ds.map(lambda x, y: (preprocessor(x['text_a'], x.get('text_b')), y),
              num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------- metrics
def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           num_classes: int) -> Dict[str, float]:
  """Accuracy; F1 and Matthews correlation for binary tasks."""
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  result = {'accuracy': float(np.mean(labels == predictions))}
  if num_classes == 2:
    tp = float(np.sum((predictions == 1) & (labels == 1)))
    tn = float(np.sum((predictions == 0) & (labels == 0)))
    fp = float(np.sum((predictions == 1) & (labels == 0)))
    fn = float(np.sum((predictions == 0) & (labels == 1)))
    result['f1'] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    result['matthews_corr'] = float((tp * tn - fp * fn) / denom) if denom else 0.0
  return result


# ------------------------------------------------------------------ training
def build_classifier(encoder, num_classes: int, dropout: float):
  """Model Garden's `BertClassifier` on `encoder`.

  Its Keras steps run without AutoGraph: neither they nor the encoder's
  layers hold tensor-dependent Python control flow, and AutoGraph's
  conversion of every layer's `call` was most of the time `fit` takes to
  trace (the same graphs, traced directly).
  """
  classifier = tf.autograph.experimental.do_not_convert(models.BertClassifier)(
      network=encoder, num_classes=num_classes, dropout_rate=dropout)
  for step in ('train_step', 'test_step', 'predict_step'):
    setattr(classifier, step, tf.autograph.experimental.do_not_convert(
        getattr(classifier, step)))
  return classifier


def load_data(config: FinetuneConfig) -> Tuple[ClassificationData,
                                               ClassificationData]:
  if config.tfds_name:
    train = read_tfds_glue(config.tfds_name, config.tfds_data_dir, 'train')
    evaluation = read_tfds_glue(config.tfds_name, config.tfds_data_dir,
                                'validation')
  else:
    if not config.train_file or not config.eval_file:
      raise ValueError('Set train_file and eval_file (CSV/TSV), or tfds_name.')
    train = read_delimited(config.train_file, config.text_column,
                           config.label_column, config.text_b_column)
    evaluation = read_delimited(config.eval_file, config.text_column,
                                config.label_column, config.text_b_column,
                                train.label_names, 'finetune.eval_file')
  if config.max_examples:
    train = ClassificationData(
        train.text_a[:config.max_examples],
        train.text_b[:config.max_examples] if train.text_b else None,
        train.labels[:config.max_examples], train.label_names)
  return train, evaluation


def finetune(config: FinetuneConfig, strategy=None) -> Dict:
  """Fine-tunes and evaluates; writes a checkpoint, TensorBoard logs and
  its record (`rundir.write_finetuning_run`) into `config.model_dir`."""
  if not config.model_dir or not config.pretrained_dir:
    raise ValueError('Set --model_dir and finetune.pretrained_dir.')
  strategy = strategy or tf.distribute.get_strategy()
  train, evaluation = load_data(config)
  num_classes = len(train.label_names)
  tf_keras.utils.set_random_seed(config.seed)
  tf_keras.mixed_precision.set_global_policy(config.mixed_precision)
  with strategy.scope():
    encoder, pretrained = load_pretrained_encoder(config.pretrained_dir)
    encoder_kwargs = pretrained.encoder_kwargs
    if config.seq_length > encoder_kwargs['max_sequence_length']:
      raise ValueError(
          f'seq_length={config.seq_length} exceeds the encoder\'s '
          f'max_sequence_length={encoder_kwargs["max_sequence_length"]}.')
    classifier = build_classifier(encoder, num_classes, config.dropout)
    steps = config.epochs * int(np.ceil(len(train.labels) / config.batch_size))
    optimizer = optimization.create_optimizer(
        config.learning_rate, steps, int(config.warmup_fraction * steps))
    if config.mixed_precision == 'mixed_float16':
      # Dynamic loss scaling (Keras `fit` scales and unscales through it);
      # bfloat16 needs none.
      optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    classifier.compile(
        optimizer=optimizer,
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=['accuracy'])
  # The text is cased or not as the pretraining data was.
  preprocessor = TextPreprocessor(pretrained.vocab_file, config.seq_length,
                                  pretrained.casing)
  train_ds = make_dataset(train, preprocessor, config.batch_size, True,
                          config.seed)
  eval_ds = make_dataset(evaluation, preprocessor, config.batch_size, False,
                         config.seed)
  tf.io.gfile.makedirs(config.model_dir)
  checkpoint = tf.train.Checkpoint(encoder=encoder, model=classifier)
  manager = tf.train.CheckpointManager(checkpoint, config.model_dir,
                                       max_to_keep=2)
  if manager.latest_checkpoint:
    raise ValueError(
        f'{config.model_dir!r} already holds a fine-tuning checkpoint; '
        'choose a new --model_dir (results are never overwritten).')
  history = classifier.fit(
      train_ds, validation_data=eval_ds, epochs=config.epochs, verbose=2,
      callbacks=[tf_keras.callbacks.TensorBoard(config.model_dir)])
  manager.save(checkpoint_number=steps)
  logits = classifier.predict(eval_ds, verbose=0)
  metrics = classification_metrics(evaluation.labels,
                                   np.argmax(logits, -1), num_classes)
  results = dict(pretrained_checkpoint=pretrained.checkpoint,
                 checkpoint=manager.latest_checkpoint,
                 num_classes=num_classes, label_names=train.label_names,
                 train_examples=len(train.labels),
                 eval_examples=len(evaluation.labels),
                 final_train_loss=float(history.history['loss'][-1]),
                 mixed_precision=config.mixed_precision,
                 lower_case=pretrained.lower_case,
                 strip_accents=pretrained.casing.strip_accents,
                 **{f'eval_{k}': v for k, v in metrics.items()})
  if hasattr(optimizer, 'loss_scale'):
    results['loss_scale'] = float(optimizer.loss_scale)
  rundir.write_finetuning_run(
      config.model_dir,
      dict(encoder=encoder_kwargs, num_classes=num_classes,
           label_names=train.label_names, seq_length=config.seq_length,
           has_text_b=train.text_b is not None,
           lower_case=pretrained.lower_case,
           strip_accents=pretrained.casing.strip_accents),
      pretrained.vocab_file, results)
  logging.info('fine-tuning results: %s', results)
  return results
