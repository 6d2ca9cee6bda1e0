"""Checkpoints of `official_td.keras_hub.train`: a killed run resumes exactly.

Keras's `BackupAndRestore` restarts at an epoch boundary but leaves the data
at its first record and the dropout seeds where a fresh model has them, so a
resumed run would see other batches and other dropout masks than an unbroken
one. A checkpoint here is what the next step depends on:

- the task's weights file (`Model.save_weights`: every layer's weights, the
  importance table among them, and the optimizer's variables and step);
- the state of every `SeedGenerator` (dropout), which weights files leave out;
- the loop log and the training seconds so far (for results.json).

`ckpt-STEP.weights.h5` is written first (under a hidden name, then renamed),
then `checkpoint.json` names it (written whole or not at all): a run killed at
any point leaves the last complete checkpoint named, as TensorFlow's
checkpoint state file does for `official_td.train`. The training data are
positioned by the step (the input pipeline is deterministic; the drop seeds
are the examples' global indices). Any tf.io.gfile path.
"""

import os
import tempfile
import uuid
from typing import Dict, List, Optional

import keras
import numpy as np

from official_td import publish

DIRECTORY = 'checkpoints'
STATE = 'checkpoint.json'
KEEP = 2  # checkpoints kept (the last one and the one before).


def _seed_states(task) -> List:
  return [v for v in task.variables if 'seed_generator_state' in v.path]


def latest(model_dir: str) -> Optional[Dict]:
  """The last complete checkpoint's state, or None."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_dir, DIRECTORY, STATE)
  return publish.read_json(path) if tf.io.gfile.exists(path) else None


def save(task, model_dir: str, step: int, log: Dict) -> None:
  """Writes the checkpoint of `step` (see the module docstring)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  directory = os.path.join(model_dir, DIRECTORY)
  tf.io.gfile.makedirs(directory)
  name = f'ckpt-{step}.weights.h5'
  with tempfile.TemporaryDirectory() as local:
    # h5py writes local files only; the file then goes to any URL.
    weights = os.path.join(local, name)
    task.save_weights(weights)
    hidden = os.path.join(directory, f'.tmp-{name}-{uuid.uuid4().hex[:12]}')
    tf.io.gfile.copy(weights, hidden)
    tf.io.gfile.rename(hidden, os.path.join(directory, name), overwrite=True)
  previous = latest(model_dir)
  before = [] if previous is None else previous['kept']
  kept = before[-(KEEP - 1):] + [name]
  publish.write_json(os.path.join(directory, STATE), dict(
      step=step, weights=name, kept=kept,
      seed_states={v.path: [int(x) for x in
                            np.asarray(keras.ops.convert_to_numpy(v)).ravel()]
                   for v in _seed_states(task)}, **log))
  for old in set(before) - set(kept):
    publish.remove_quietly(os.path.join(directory, old))


def restore(task, model_dir: str, state: Dict) -> None:
  """Loads the checkpoint `state` names into the compiled, built `task`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not task.optimizer.built:
    task.optimizer.build(task.trainable_variables)
  with tempfile.TemporaryDirectory() as local:
    weights = os.path.join(local, state['weights'])
    tf.io.gfile.copy(os.path.join(model_dir, DIRECTORY, state['weights']),
                     weights)
    task.load_weights(weights)
  seeds = {v.path: v for v in _seed_states(task)}
  if set(seeds) != set(state['seed_states']):
    raise ValueError(
        f'{model_dir!r}: its checkpoint does not restore into this '
        'configuration (other dropout layers); resume it with the '
        f'settings it was made with ({DIRECTORY}/settings.json there), or '
        'choose a new --model_dir.')
  for path, value in state['seed_states'].items():
    variable = seeds[path]
    variable.assign(np.asarray(value, variable.dtype).reshape(variable.shape))


class Checkpointer(keras.callbacks.Callback):
  """Saves at the end of the loop (`fit` epoch) that reaches or passes each
  `interval` steps since the last save, and at the last step (as orbit's
  Controller does for `official_td.train`)."""

  def __init__(self, model_dir: str, interval: int, train_steps: int,
               state: callable):
    super().__init__()
    self.model_dir, self.interval = model_dir, interval
    self.train_steps, self.state = train_steps, state

  def on_train_begin(self, logs=None):
    self.saved = int(keras.ops.convert_to_numpy(
        self.model.optimizer.iterations))

  def on_epoch_end(self, epoch, logs=None):
    step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
    if (self.interval and step - self.saved >= self.interval) or (
        step >= self.train_steps):
      save(self.model, self.model_dir, step, self.state())
      self.saved = step


def save_task_weights(task, preset_dir: str) -> None:
  """The task's own weights (the MLM head), as KerasHub's `task.weights.h5`
  in `preset_dir` (any tf.io.gfile URL; h5py writes a local file first)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from keras_hub.src.utils import preset_utils  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as local:
    path = os.path.join(local, preset_utils.TASK_WEIGHTS_FILE)
    task.save_task_weights(path)
    tf.io.gfile.copy(path, os.path.join(preset_dir,
                                        preset_utils.TASK_WEIGHTS_FILE))
