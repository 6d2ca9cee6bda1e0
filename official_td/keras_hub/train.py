r"""Pretrains a TokenDropBertBackbone with Keras's `fit` on this project's data.

  KERAS_BACKEND=jax python -m official_td.keras_hub.train \
      --gin_file=gin/experiments/demo.gin --model_dir=runs/demo_keras

The gin file is the Model Garden trainer's (`encoder.*`, `data.*`,
`optimizer.*`, `run.*`): the same records, in the same order, with the same
per-sequence drop seeds, keep schedule and optimizer (AdamW, warmup, linear
decay, clipping, the same weight-decay exclusions, the pooler left out; LAMB
stays with `official_td.train`), the same masked-LM head (tanh GELU, layer
norm epsilon 1e-12) and precision (`run.mixed_precision`). It ends with the
held-out MLM loss on full sequences, whatever phase the keep schedule ended
in, and with `run.eval_with_dropping` also with the last dropping phase's k
(`eval_dropped_*`), as `official_td.train` does. Every
`run.checkpoint_interval` steps (at the end of a loop) it checkpoints to
`--model_dir/checkpoints` (`official_td.keras_hub.checkpoints`); the same
command, run again after a crash or a kill, resumes from the last checkpoint
and ends where an unbroken run ends (the data read on from the step, the
weights, optimizer, table and dropout seeds restored); other settings are
refused. With `run.init_checkpoint` a new run starts from a KerasHub BERT
preset (a run of this trainer is one) or a Hugging Face BERT directory: its
architecture where the gin file does not set it, its weights, importance
table and MLM head where it has them (`continued`). At the end it writes a
KerasHub preset into `--model_dir` (a `BertBackbone` KerasHub loads
unchanged, the MLM head as task weights, the tokenizer with the data's
casing, the importance table), `results.json` last.

Reads TFRecords with `tf.data`, so it needs TensorFlow beside the backend;
the backbone and task themselves (`official_td.keras_hub`) do not.
"""

import dataclasses
import os
import time
from typing import Dict

from absl import app
from absl import flags
import keras

from official_td import casing as casing_lib
from official_td import cli
from official_td import configurables
from official_td import keep
from official_td import publish
from official_td import rundir
from official_td import train_lib
from official_td import vocab as vocab_lib
from official_td.configs import encoder_config as encoder_config_lib
from official_td.configs import pretraining
from official_td.input import pretrain_dataloader
from official_td.keras_hub import backbone as backbone_lib
from official_td.keras_hub import checkpoints
from official_td.keras_hub import continued
from official_td.keras_hub import evaluation as evaluation_lib
from official_td.keras_hub import masked_lm
from official_td.keras_hub import optimization
from official_td.keras_hub import preprocessing

RESULTS = rundir.RESULTS
# The run's settings, beside its checkpoints: a resume must match them.
SETTINGS = 'settings.json'


def build_backbone(encoder: configurables.encoders.EncoderConfig,
                   vocab: list) -> backbone_lib.TokenDropBertBackbone:
  """The backbone an `EncoderConfig` describes (BERT's GELU only)."""
  if encoder.inner_activation != 'gelu_tanh':
    raise ValueError(
        f"encoder.inner_activation={encoder.inner_activation!r}: KerasHub's "
        "BertBackbone has the tanh GELU only; set encoder.inner_activation "
        "= 'gelu_tanh' or train with official_td.train.")
  if encoder.drop_mode != 'window' or not encoder.token_drop:
    raise ValueError(
        'official_td.keras_hub trains token dropping (encoder.token_drop = '
        "True, encoder.drop_mode = 'window'); train the baseline or "
        'random-LTD with official_td.train.')
  return backbone_lib.TokenDropBertBackbone(
      vocabulary_size=len(vocab), num_layers=encoder.num_layers,
      num_heads=encoder.num_attention_heads, hidden_dim=encoder.hidden_size,
      intermediate_dim=encoder.inner_dim,
      max_sequence_length=encoder.max_sequence_length,
      num_segments=encoder.type_vocab_size, dropout=encoder.dropout,
      **encoder_config_lib.drop_kwargs(encoder),
      **backbone_lib.TokenDropBertBackbone.special_ids(vocab))


def keras_batches(features_dataset, global_batch_size: int, seed: int,
                  first_step: int = 0):
  """This project's feature batches as `fit`'s (x, y, sample_weight), with
  the Model Garden trainer's drop seeds (the example's global index; the
  first batch is step `first_step`'s)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def convert(step, f):
    local = tf.shape(f['input_word_ids'])[0]
    first = tf.cast(step, tf.int32) * global_batch_size
    x = dict(token_ids=f['input_word_ids'], segment_ids=f['input_type_ids'],
             padding_mask=f['input_mask'],
             mask_positions=f['masked_lm_positions'],
             drop_seed=keep.drop_seeds(first, tf.range(local), seed))
    return x, f['masked_lm_ids'], f['masked_lm_weights']

  return features_dataset.enumerate(first_step).map(convert)


def pretrain(model_dir: str, encoder_config, data, run, optimizer_config,
             bound_encoder_fields=None) -> Dict:
  """Trains and writes `model_dir`, resuming the run there if it holds one
  of the same settings that has not finished, else starting from
  `run.init_checkpoint` where set (`continued`); returns results.
  `bound_encoder_fields`: as `train_lib.prepare`'s."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  run = dataclasses.replace(run, model_dir=model_dir)
  settings = _settings(encoder_config, data, run, optimizer_config)
  resume = _resumable(model_dir, settings)
  encoder_config, data, init_source = train_lib.prepare(
      encoder_config, data, run, optimizer_config, bound_encoder_fields,
      keras_hub=True)
  if run.consistency_weight:
    raise ValueError(
        f'run.consistency_weight={run.consistency_weight}: the consistency '
        'loss (a second, full-sequence pass each consistency step) is '
        'official_td.train\'s only; set run.consistency_weight = 0 or train '
        'with official_td.train.')
  if run.train_steps % run.steps_per_loop:
    raise ValueError(
        f'run.train_steps={run.train_steps} is not a multiple of '
        f'run.steps_per_loop={run.steps_per_loop}: fit runs whole loops; '
        'set one to divide the other.')
  if data.use_next_sentence_label:
    raise ValueError('data.use_next_sentence_label: the KerasHub masked-LM '
                     'task has no next-sentence head; set it to False or '
                     'train with official_td.train.')
  devices = keras.distribution.list_devices()
  masked_lm.check_devices(len(devices))
  if len(devices) > 1:
    # Data parallel over every device (JAX); the table is replicated and
    # every device computes the same update (the step sees the global batch).
    for size, name in ((run.global_batch_size, 'run.global_batch_size'),
                       (run.eval_batch_size, 'run.eval_batch_size')):
      if size % len(devices):
        raise ValueError(f'{name}={size} does not divide over the '
                         f'{len(devices)} devices; make it a multiple.')
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices))
  vocab = vocab_lib.load_vocab(data.vocab_file)
  masking = pretrain_dataloader.masking_config(data, vocab)
  keras.utils.set_random_seed(run.seed)
  # The run's precision, before any layer is built (the task's `compile`
  # adds dynamic loss scaling under mixed_float16; the importance table and
  # the loss stay float32).
  keras.mixed_precision.set_global_policy(run.mixed_precision)
  backbone = build_backbone(encoder_config, vocab)
  tokenizer = keras_hub_tokenizer(
      vocab, casing_lib.Casing.of(data.lower_case, data.strip_accents))
  preprocessor = masked_lm.TokenDropBertMaskedLM.preprocessor_cls(
      tokenizer, sequence_length=data.seq_length,
      mask_selection_length=data.max_predictions_per_seq)
  # No preprocessor on the task: the batches are already masked (it is
  # saved beside the backbone, for the preset's users).
  task = masked_lm.TokenDropBertMaskedLM(backbone, drop_seed_input=True)
  pretraining.check_optimizer(optimizer_config)
  # Nothing reads the pooled output in masked-LM pretraining: the Model
  # Garden trainer leaves the pooler out of its step, and so does this one.
  task.compile(optimizer=optimization.build_optimizer(
      task, run.train_steps, **dataclasses.asdict(optimizer_config),
      untrained=backbone.pooled_dense.weights), jit_compile=True)
  phases = keep.phase_steps(
      keep.keep_phases(run, data.seq_length,
                       keep.encoder_keep_k(encoder_config, data.seq_length)),
      run.train_steps)
  schedule = masked_lm.KeepSchedule(backbone, phases, data.seq_length)
  log = LoopLog(run.train_steps)
  step, seconds_before = 0, 0.0
  created = not tf.io.gfile.exists(model_dir)
  initialized = None
  if resume is not None:
    checkpoints.restore(task, model_dir, resume)
    step, seconds_before = resume['step'], resume['train_seconds']
    log.history = resume['history']
    print(f'Resuming from step {step} ({model_dir})', flush=True)
  else:
    if init_source is not None:
      initialized = continued.initialize(task, init_source, vocab)
      print(f'Initialized from {run.init_checkpoint}: ' + ', '.join(
          k for k, v in initialized.items() if v), flush=True)
      if init_source.adopted:
        print('From the checkpoint: ' + ', '.join(
            f'encoder.{k} = {v!r}' for k, v in init_source.adopted.items()),
              flush=True)
    tf.io.gfile.makedirs(os.path.join(model_dir, checkpoints.DIRECTORY))
    publish.write_json(os.path.join(model_dir, checkpoints.DIRECTORY,
                                    SETTINGS), settings)
  # A resumed run reads on from its step, or with run.resume_data_position =
  # False a fresh order: the rule of official_td.train.
  train = keras_batches(pretrain_dataloader.training_dataset(
      data, run.global_batch_size, run.seed, step, run.resume_data_position,
      masking), run.global_batch_size, run.seed, step)
  _build_for_fit(task, train)
  start_time = time.time()
  saver = checkpoints.Checkpointer(
      model_dir, run.checkpoint_interval, run.train_steps,
      lambda: dict(history=log.history,
                   train_seconds=seconds_before + time.time() - start_time))
  try:
    task.fit(train, steps_per_epoch=run.steps_per_loop,
             initial_epoch=step // run.steps_per_loop,
             epochs=run.train_steps // run.steps_per_loop, verbose=0,
             callbacks=[schedule, log, saver])
  except BaseException:
    if created and checkpoints.latest(model_dir) is None:
      publish.remove_quietly(model_dir)  # nothing a rerun could resume.
    raise
  # The keys official_td.train's results.json uses for the same facts.
  results = dict(step=run.train_steps, resumed_from_step=step,
                 train_seconds=seconds_before + time.time() - start_time,
                 keep_phases=[list(p) for p in phases],
                 data_lower_case=data.lower_case,
                 data_strip_accents=data.strip_accents,
                 mixed_precision=run.mixed_precision,
                 backend=keras.backend.backend(),
                 devices=len(devices),
                 init_checkpoint=run.init_checkpoint or None,
                 history=log.history)
  if init_source is not None:
    results['init_checkpoint_adopted'] = init_source.adopted
    if initialized is not None:
      results['init_checkpoint_loaded'] = initialized
  if data.eval_data:
    def evaluation():
      batches = keras_batches(pretrain_dataloader.load_dataset(
          data.eval_data, data, run.eval_batch_size, False, run.seed,
          masking=masking), run.eval_batch_size, run.seed)
      return batches.take(run.eval_steps) if run.eval_steps > 0 else batches

    results.update(evaluation_lib.final_evaluation(
        task, lambda: evaluation().as_numpy_iterator(), run.eval_batch_size,
        phases, data.seq_length, run.eval_with_dropping))
    print(f'Final eval (full sequences): MLM accuracy '
          f'{results["eval_mlm_accuracy"]:.4f}, loss '
          f'{results["eval_mlm_loss"]:.4f}', flush=True)
  staging = publish.staging_dir(model_dir)
  backbone.save_to_preset(staging)
  preprocessor.save_to_preset(staging)
  checkpoints.save_task_weights(task, staging)  # the MLM head.
  publish.write_json(os.path.join(staging, RESULTS), results)
  publish.publish_into(staging, model_dir, marker=RESULTS)
  print(f'KerasHub preset: {model_dir}', flush=True)
  return results


def _build_for_fit(task, train) -> None:
  """Builds the task's loss and metrics from `train`'s element spec.

  Keras's `fit` builds what is unbuilt from a batch of a first iterator of
  the dataset, then trains on a second one; the input pipeline reshuffles on
  each new iterator (as a repeated dataset must across epochs), so the run
  would train on another order than `official_td.train` reads, one that
  depends on Keras's internals. Built beforehand, `fit` iterates once.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  batch = tf.nest.map_structure(
      lambda spec: np.zeros([d or 1 for d in spec.shape],
                            spec.dtype.as_numpy_dtype), train.element_spec)
  task._symbolic_build(data_batch=batch)  # pylint: disable=protected-access


def _settings(encoder_config, data, run, optimizer_config) -> Dict:
  """The gin settings of the run, as JSON values (not where it is: a run
  moved to another directory resumes there)."""
  import json  # pylint: disable=g-import-not-at-top
  run = dataclasses.replace(run, model_dir=None)
  return json.loads(json.dumps(dict(
      encoder=dataclasses.asdict(encoder_config),
      data=dataclasses.asdict(data), run=dataclasses.asdict(run),
      optimizer=dataclasses.asdict(optimizer_config)), default=str))


def _resumable(model_dir: str, settings: Dict):
  """The checkpoint state to resume from, None for a new run; refuses a
  finished run, a directory of something else and other settings."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.exists(model_dir):
    return None
  if tf.io.gfile.exists(os.path.join(model_dir, RESULTS)):
    raise ValueError(f'{model_dir!r} holds a finished run; it is never '
                     'overwritten. Choose a new --model_dir.')
  saved = os.path.join(model_dir, checkpoints.DIRECTORY, SETTINGS)
  state = checkpoints.latest(model_dir)
  if state is None or not tf.io.gfile.exists(saved):
    raise ValueError(f'{model_dir!r} exists and holds no run of '
                     'official_td.keras_hub.train to resume. Choose a new '
                     '--model_dir.')
  before = publish.read_json(saved)
  differ = sorted(f'{group}.{key}' for group in settings
                  for key in set(settings[group]) | set(before.get(group, {}))
                  if settings[group].get(key) != before.get(group, {}).get(key))
  if differ:
    raise ValueError(
        f'{model_dir!r} holds a run with other settings ({", ".join(differ)}'
        '): resume it with the settings it was made with '
        f'({saved}), or choose a new --model_dir.')
  return state


def keras_hub_tokenizer(vocab, casing: casing_lib.Casing):
  """KerasHub's BERT tokenizer on the run's vocab, cased and with accents
  as its data (KerasHub's own default keeps accents: said explicitly; the
  preset saves both)."""
  return preprocessing.TokenDropBertTokenizer(
      vocabulary=vocab, lowercase=casing.lower_case,
      strip_accents=casing.strip_accents)


class LoopLog(keras.callbacks.Callback):
  """One line per loop (`run.steps_per_loop` steps), as `official_td.train`."""

  def __init__(self, train_steps):
    super().__init__()
    self.train_steps, self.history = train_steps, []

  def on_epoch_end(self, epoch, logs=None):
    step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
    self.history.append(dict(step=step, loss=float(logs['loss'])))
    print(f'step {step}/{self.train_steps} train loss {logs["loss"]:.4f}',
          flush=True)


def define_flags():
  """`official_td.train`'s gin and directory flags (no strategy flags: the
  backend's `keras.distribution` places the work)."""
  flags.DEFINE_multi_string('gin_file', [], 'Gin config files (in order).')
  flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
  flags.DEFINE_string('model_dir', None,
                      'Directory to write: a new KerasHub preset and results.')
  flags.DEFINE_bool('verbose', False, 'Tracebacks for user errors.')


def main(argv):
  del argv
  model_dir = cli.configure_from_flags()
  pretrain(model_dir, configurables.encoder(), configurables.data(),
           configurables.run(), configurables.optimizer(),
           configurables.bound_encoder_fields())


def run():
  define_flags()
  app.run(cli.main_with_clean_errors(main, lambda: flags.FLAGS.verbose))


if __name__ == '__main__':
  run()
