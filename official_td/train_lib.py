"""Runs a pretraining experiment: configs in, checkpoints and results out.

As the Model Garden's `train_lib.run_experiment`: checks the configuration
and the data before any work, builds the `Pretrainer`, drives it with an
`orbit.Controller` (train, evaluate, checkpoint; resuming from the model
directory), and writes the run's record (`rundir`), its results last.
"""

import contextlib
import dataclasses
import os
import sys
import time
from typing import Collection, Dict, Optional

import numpy as np
import orbit
import tensorflow as tf
import tf_keras

from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.configs.encoders import EncoderConfig
from official_td.configs.pretraining import check_configs
from official_td.configs.pretraining import DataConfig
from official_td.configs.pretraining import OptimizerConfig
from official_td.configs.pretraining import RunConfig
from official_td.input import pretrain_dataloader
from official_td.input import validate
from official_td.interop import init_checkpoint
from official_td.trainers.pretrainer import Pretrainer


def _is_chief(strategy) -> bool:
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == 'chief' or (
      resolver.task_type == 'worker' and resolver.task_id == 0 and
      'chief' not in resolver.cluster_spec().as_dict())


def make_controller(trainer: Pretrainer, ckpt_dir: Optional[str],
                    chief: bool = True, init_fn=None):
  """The orbit Controller (and its CheckpointManager) that drives `trainer`.

  `ckpt_dir=None` makes a controller that writes no checkpoint (benchmarks).
  The controller restores the latest checkpoint of `ckpt_dir`, or, when there
  is none, calls `init_fn` (the CheckpointManager's initialization hook).
  """
  run = trainer.run
  manager = None
  if ckpt_dir is not None:
    manager = tf.train.CheckpointManager(
        trainer.checkpoint(), ckpt_dir, max_to_keep=run.max_checkpoints,
        step_counter=trainer.global_step,
        checkpoint_interval=run.checkpoint_interval, init_fn=init_fn)
  controller = orbit.Controller(
      strategy=trainer.strategy,
      trainer=trainer,
      evaluator=trainer if trainer.data.eval_data else None,
      global_step=trainer.global_step,
      steps_per_loop=run.steps_per_loop,
      checkpoint_manager=manager,
      summary_interval=run.summary_interval,
      summary_dir=os.path.join(run.model_dir, 'train') if chief else None,
      eval_summary_dir=os.path.join(run.model_dir, 'eval') if chief else None)
  return controller, manager



def prepare(encoder_config: EncoderConfig, data: DataConfig, run: RunConfig,
            optimizer_config: Optional[OptimizerConfig] = None,
            bound_encoder_fields: Optional[Collection[str]] = None,
            keras_hub: bool = False):
  """Checks configs, vocab, data and the init checkpoint before any work.

  Returns:
    `(encoder_config, data, init_source)`: the vocab size from the vocab, the
    masking from the data's summary, and what `run.init_checkpoint` holds
    (None without one). The encoder takes the checkpoint's architecture
    (shape, activation) where the configuration does not set it
    (`bound_encoder_fields`: the fields it sets, None: those not at their
    defaults); `init_source.adopted` says which. `keras_hub`: for
    `official_td.keras_hub.train`, which reads other kinds of checkpoint
    (`init_checkpoint.KERAS_HUB_KINDS`; the others are refused).

  Raises:
    ValueError: with what is wrong and how to fix it.
  """
  check_configs(encoder_config, data, run, optimizer_config)
  ids = vocab_lib.resolve_special_token_ids(data.vocab_file)
  if encoder_config.vocab_size and encoder_config.vocab_size != ids.vocab_size:
    raise ValueError(
        f'encoder.vocab_size={encoder_config.vocab_size} differs from the '
        f'{ids.vocab_size} entries of {data.vocab_file!r}; leave vocab_size '
        'unset to take it from the vocab.')
  encoder_config = dataclasses.replace(encoder_config,
                                       vocab_size=ids.vocab_size)
  data, _ = pretrain_dataloader.resolve_data(data)
  init_source = None
  if run.init_checkpoint:
    init_source = init_checkpoint.inspect(run.init_checkpoint, keras_hub)
    encoder_config, init_source.adopted = init_checkpoint.adopt(
        init_source, encoder_config, bound_encoder_fields)
    init_checkpoint.check(init_source,
                          encoders.plain_encoder_kwargs(encoder_config),
                          data.vocab_file, data.lower_case,
                          data.strip_accents)
  for pattern in filter(None, (data.train_data, data.eval_data)):
    validate.validate_pretraining_data(
        pattern, data.seq_length, data.max_predictions_per_seq,
        ids.vocab_size, data.use_next_sentence_label, masking=data.masking)
  return encoder_config, data, init_source


def dry_run(strategy, encoder_config: EncoderConfig, data: DataConfig,
            optimizer_config: OptimizerConfig, run: RunConfig,
            bound_encoder_fields: Optional[Collection[str]] = None) -> Dict:
  """Everything a run does before its first step, and one batch read.

  Checks the configuration, the vocab, the data and `run.init_checkpoint`
  (`prepare`); checks that `run.model_dir` can be written, and that a
  checkpoint already there restores into this configuration (a restart
  resumes it); builds the model, the optimizer and the input pipeline on
  `strategy`, initializes the model from `run.init_checkpoint` (every
  tensor mapped and placed) when nothing is there to resume, reads the
  first global batch and traces the first phase's train step on the
  strategy (shape errors surface here), then stops: nothing is trained and
  nothing is left in `run.model_dir`. A launch on a TPU slice or many GPUs
  is checked in a minute instead of failing after its start-up.

  Returns:
    What was checked: replicas, per-replica batch shapes, the model's
    parameter count, the keep phases, the data's casing and masking, the
    checkpoint it would resume or the weights it would start from.
  """
  encoder_config, data, init_source = prepare(encoder_config, data, run,
                                              optimizer_config,
                                              bound_encoder_fields)
  rundir.check_writable(run.model_dir)
  tf_keras.mixed_precision.set_global_policy(run.mixed_precision)
  trainer = Pretrainer(strategy, encoder_config, data, optimizer_config, run)
  resume = tf.train.latest_checkpoint(run.model_dir) if tf.io.gfile.isdir(
      run.model_dir) else None
  initialized = {}
  if resume:
    _check_resumable(trainer, resume)
  elif init_source is not None:
    initialized = init_checkpoint.initialize(
        init_source, trainer.encoder, trainer.model, trainer.importance)
  # The trace makes the trainer's input pipeline; the batch comes from it.
  trainer.compile_train_loop(trainer.phases[0][1])
  local = strategy.experimental_local_results(next(trainer.train_iterator))
  return dict(
      dry_run=True,
      strategy=type(strategy).__name__,
      replicas=strategy.num_replicas_in_sync,
      global_batch_size=run.global_batch_size,
      batch_per_replica={k: list(v.shape) for k, v in sorted(
          local[0].items())},
      parameters=int(trainer.model.count_params()),
      keep_phases=[list(p) for p in trainer.phases],
      traced_train_step=Pretrainer.loop_name(trainer.phases[0][1]),
      resumes=resume,
      init_checkpoint=init_source.kind if init_source else None,
      init_checkpoint_adopted=init_source.adopted if init_source else None,
      initialized=initialized or None,
      data_lower_case=data.lower_case,
      masking=data.masking,
      eval_data=bool(data.eval_data))


def dry_run_line(result: Dict) -> str:
  """The one line that says what `dry_run` checked."""
  return (f'Dry run: {result["strategy"]} with {result["replicas"]} '
          f'replica(s), {result["parameters"]:,} parameters, one batch of '
          f'{result["global_batch_size"]} read, the train step traced'
          + (f', {result["resumes"]} restored' if result['resumes'] else '')
          + (f', initialized from {result["init_checkpoint"]}'
             if result['initialized'] else '')
          + '; nothing trained or written.')


def _check_resumable(trainer: Pretrainer, prefix: str):
  """Restores `prefix` into the trainer's checkpoint objects (as a resume
  would): a clear error if the run there was made with another network."""
  try:
    trainer.checkpoint().read(prefix).assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
    first = str(e).strip().splitlines()[0][:300]
    raise ValueError(
        f'{prefix!r} would be resumed, but it does not restore into this '
        f'configuration ({first}): resume it with the configuration it was '
        'made with (its operative_config.gin), or choose a new --model_dir.'
        ) from None


def _write_operative_config(model_dir: str, operative_config: str):
  with tf.io.gfile.GFile(rundir.path(model_dir, rundir.OPERATIVE_CONFIG),
                         'w') as f:
    f.write(operative_config)
  with tf.summary.create_file_writer(
      os.path.join(model_dir, 'train')).as_default():
    tf.summary.text('operative_config',
                    '\n'.join('    ' + l for l in
                              operative_config.splitlines()), step=0)


@contextlib.contextmanager
def _orbit_lines_to_log(trainer: Pretrainer):
  """The console keeps the trainer's lines while orbit's Controller runs.

  orbit logs each of its lines to absl's log (the run's log file) and prints
  it as well, its output dicts over many lines. Meanwhile this process's
  stdout goes to `os.devnull`, and the trainer prints its progress and
  evaluation lines to the console stdout was before.
  """
  trainer.console = sys.stdout
  with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
    yield


def _train(trainer: Pretrainer, controller, manager) -> Dict:
  """Trains to `run.train_steps` (evaluating on the way); the last eval."""
  run, data = trainer.run, trainer.data
  eval_results = {}
  if trainer.global_step.numpy() < run.train_steps:
    if data.eval_data and run.eval_interval > 0:
      eval_results = controller.train_and_evaluate(
          run.train_steps, run.eval_steps, run.eval_interval) or {}
    else:
      controller.train(run.train_steps)
  if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(
      f'-{run.train_steps}'):
    manager.save(checkpoint_number=trainer.global_step, check_interval=False)
  if data.eval_data and not eval_results:
    eval_results = trainer.evaluate(run.eval_steps)
  return eval_results


def _results(trainer: Pretrainer, manager, start_step: int, seconds: float,
             eval_results: Dict) -> Dict:
  return dict(
      step=int(trainer.global_step.numpy()),
      resumed_from_step=start_step,
      seconds=round(seconds, 1),
      train_seconds=round(float(trainer.train_seconds.numpy()), 2),
      compile_seconds=round(trainer.compile_seconds, 2),
      init_checkpoint=trainer.run.init_checkpoint or None,
      token_drop=trainer.token_drop,
      keep_k=trainer.keep_k,
      keep_phases=[list(p) for p in trainer.phases],
      compiled_train_loops={str(k): n for k, n in
                            sorted(trainer.loop_traces.items())},
      consistency_steps=(int(trainer.consistency_steps.numpy())
                         if trainer.consistency else None),
      seq_length=trainer.data.seq_length,
      strategy=type(trainer.strategy).__name__,
      replicas=trainer.strategy.num_replicas_in_sync,
      data_lower_case=trainer.data.lower_case,
      data_strip_accents=trainer.data.strip_accents,
      checkpoint=manager.latest_checkpoint,
      tensorboard=trainer.run.model_dir,
      **{f'eval_{k.replace("/", "_")}': v for k, v in eval_results.items()})


def run_pretraining(strategy, encoder_config: EncoderConfig, data: DataConfig,
                    optimizer_config: OptimizerConfig, run: RunConfig,
                    operative_config: Optional[str] = None,
                    bound_encoder_fields: Optional[Collection[str]] = None
                    ) -> Dict:
  """Pretrains (resuming from `run.model_dir` if it holds a checkpoint).

  Args:
    strategy: a tf.distribute strategy.
    encoder_config, data, optimizer_config, run: the configuration.
    operative_config: text written to the run's operative config and to
      TensorBoard (the gin config in effect).
    bound_encoder_fields: the encoder fields the configuration sets (see
      `prepare`).

  Returns:
    The final results (also written to the run's record, `rundir`).
  """
  encoder_config, data, init_source = prepare(encoder_config, data, run,
                                              optimizer_config,
                                              bound_encoder_fields)
  tf_keras.mixed_precision.set_global_policy(run.mixed_precision)
  tf_keras.utils.set_random_seed(run.seed)
  chief = _is_chief(strategy)
  tf.io.gfile.makedirs(run.model_dir)
  ckpt_dir = run.model_dir
  if not chief:
    resolver = strategy.cluster_resolver
    ckpt_dir = os.path.join(run.model_dir, '.workers',
                            f'{resolver.task_type}_{resolver.task_id}')

  trainer = Pretrainer(strategy, encoder_config, data, optimizer_config, run)
  initialized = {}

  def init_fn():  # only when ckpt_dir holds no checkpoint.
    initialized.update(init_checkpoint.initialize(
        init_source, trainer.encoder, trainer.model, trainer.importance))

  with _orbit_lines_to_log(trainer):
    controller, manager = make_controller(
        trainer, ckpt_dir, chief, init_fn if init_source else None)
    if initialized:
      # Step 0 is the imported weights: a restart resumes from here (or
      # later), never from run.init_checkpoint again.
      manager.save(checkpoint_number=0, check_interval=False)
      print(f'Initialized from {run.init_checkpoint}: '
            + ', '.join(k for k, v in initialized.items()
                        if v and k != 'not_used'),
            file=trainer.console, flush=True)
      if initialized.get('not_used'):
        print(f'  {initialized["not_used"]}', file=trainer.console,
              flush=True)
    if init_source is not None and init_source.adopted:
      print('From the checkpoint: ' + ', '.join(
          f'encoder.{k} = {v!r}' for k, v in init_source.adopted.items()),
            file=trainer.console, flush=True)
    if operative_config is not None and chief:
      _write_operative_config(run.model_dir, operative_config)

    start = time.time()
    start_step = int(trainer.global_step.numpy())
    eval_results = _train(trainer, controller, manager)
  results = _results(trainer, manager, start_step, time.time() - start,
                     eval_results)
  if init_source is not None:
    # The encoder fields taken from the checkpoint (`prepare`).
    results['init_checkpoint_adopted'] = init_source.adopted
  if trainer.importance is not None:
    with tf.io.gfile.GFile(rundir.path(ckpt_dir, rundir.IMPORTANCE),
                           'wb') as f:
      np.save(f, trainer.importance_table())
    results['top_tokens'] = trainer.top_tokens(10)
    results['bottom_tokens'] = trainer.top_tokens(10, bottom=True)
    # What the selection did over the run (`trainers/selection.py`).
    results['selection'] = trainer.selection_summary()
  if chief:
    rundir.write_pretraining_run(
        run.model_dir, encoders.plain_encoder_kwargs(trainer.encoder_config),
        data.vocab_file, results)
  return results
