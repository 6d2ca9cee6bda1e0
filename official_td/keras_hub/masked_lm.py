"""TokenDropBertMaskedLM: masked-LM pretraining of the backbone with `fit`."""

import json

import keras
from keras import ops
import keras_hub
import numpy as np
from keras_hub.src.models.bert.bert_backbone import bert_kernel_initializer  # pylint: disable=g-direct-tensorflow-import
from keras_hub.src.utils import preset_utils  # pylint: disable=g-direct-tensorflow-import

from official_td.keras_hub import preprocessing
from official_td.keras_hub import preset_files
from official_td.keras_hub.backbone import TokenDropBertBackbone


# The Model Garden's masked-LM head (`official.nlp.modeling.layers.MaskedLM`,
# as `official_td.configs.encoders.build_pretrainer` builds it): BERT's
# tanh-approximated GELU and a layer-norm epsilon of 1e-12 (KerasHub's
# `BertMaskedLM` head uses the erf GELU and 1e-5).
MLM_LAYER_NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package='OfficialTD')
def gelu_tanh(x):
  """BERT's GELU, tanh-approximated (the encoder's and the Model Garden
  head's)."""
  return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package='OfficialTD')
class TokenDropBertMaskedLM(keras_hub.models.MaskedLM):
  """`keras_hub.models.BertMaskedLM` for a `TokenDropBertBackbone`, whose
  training step also updates the importance table.

  Inputs: `BertMaskedLM`'s (`token_ids`, `segment_ids`, `padding_mask`,
  `mask_positions`, as `BertMaskedLMPreprocessor` makes them), plus, with
  `drop_seed_input=True`, `drop_seed` `[batch]` (one tie-break seed per
  sequence; without it the tie-break is drawn from the importance layer's
  seed generator). Labels:
  the masked ids; sample weights: 1 for a real prediction slot, 0 for a
  padded one.

  The loss is the weighted mean of the slots' cross-entropy (padded slots
  count nothing), the Model Garden trainer's. In a training step that drops
  tokens, the table takes one moving-average step from the same per-slot
  losses (weighted: a padded slot trains no id's score). Under
  `keras.distribution.DataParallel` on JAX the step sees the global batch,
  so every device computes the same table.
  """

  backbone_cls = TokenDropBertBackbone
  preprocessor_cls = preprocessing.TokenDropBertMaskedLMPreprocessor

  def __init__(self, backbone, preprocessor=None,
               drop_seed_input: bool = False, **kwargs):
    self.backbone = backbone
    self.preprocessor = preprocessor
    self.masked_lm_head = keras_hub.layers.MaskedLMHead(
        vocabulary_size=backbone.vocabulary_size,
        token_embedding=backbone.token_embedding,
        intermediate_activation=gelu_tanh,
        layer_norm_epsilon=MLM_LAYER_NORM_EPSILON,
        kernel_initializer=bert_kernel_initializer(),
        dtype=backbone.dtype_policy,
        name='mlm_head')
    # Tracked here: the table and its seed generator are the task's state.
    self.importance = backbone.importance
    inputs = {
        **backbone.input,
        'mask_positions': keras.Input(shape=(None,), dtype='int32',
                                      name='mask_positions'),
    }
    if drop_seed_input:
      inputs['drop_seed'] = keras.Input(shape=(), dtype='int32',
                                        name='drop_seed')
    sequence = backbone({k: v for k, v in inputs.items()
                         if k != 'mask_positions'})['sequence_output']
    outputs = self.masked_lm_head(sequence, inputs['mask_positions'])
    super().__init__(inputs=inputs, outputs=outputs, **kwargs)
    self.drop_seed_input = bool(drop_seed_input)

  def get_config(self):
    config = super().get_config()
    config['drop_seed_input'] = self.drop_seed_input
    return config

  # The task's own weights are the MLM head's, as `BertMaskedLM`'s: the
  # importance table (tracked here as the task's state) is the backbone's
  # and goes with it (in the backbone's weights file), so a task weights
  # file is interchangeable with KerasHub's `BertMaskedLM` one in both
  # directions.
  def _backbone_objects(self):
    return list(self.backbone._flatten_layers()) + [self.importance]  # pylint: disable=protected-access

  def load_task_weights(self, filepath):
    """KerasHub's `Task.load_task_weights`, the table left to the backbone."""
    if not str(filepath).endswith('.weights.h5'):
      raise ValueError('The filename must end in `.weights.h5`. '
                       f'Received: filepath={filepath}')
    keras.saving.load_weights(self, filepath,
                              objects_to_skip=self._backbone_objects())

  def save_task_weights(self, filepath):
    """KerasHub's `Task.save_task_weights`, the table left to the backbone."""
    if not str(filepath).endswith('.weights.h5'):
      raise ValueError('The filename must end in `.weights.h5`. '
                       f'Received: filepath={filepath}')
    keras.saving.save_weights(self, filepath=filepath,
                              objects_to_skip=self._backbone_objects())

  def compile(self, optimizer='auto', loss='auto', weighted_metrics='auto',
              **kwargs):
    """KerasHub's `MaskedLM.compile`, without a compiled loss: the loss is
    `compute_loss`'s (the weighted masked-LM loss, and the table's update),
    so a loss given here would be ignored; it is refused instead. (An
    unused compiled loss would also stay unbuilt, and `fit` would read a
    batch of a throwaway iterator of its data to build it.)"""
    if loss not in ('auto', None):
      raise ValueError(
          f'loss={loss!r}: TokenDropBertMaskedLM computes its own loss (the '
          'weighted masked-LM loss that also updates the importance table); '
          'compile it without `loss`.')
    super().compile(optimizer=optimizer, loss=None,
                    weighted_metrics=weighted_metrics, **kwargs)

  @classmethod
  def from_preset(cls, preset, load_weights: bool = True, **kwargs):
    """The task a `save_to_preset` wrote, or a fresh MLM head on any BERT
    preset.

    The backbone is `TokenDropBertBackbone.from_preset`'s (its table and
    drop settings; `kwargs` override them, as there); the preprocessor the
    preset's, where it has a tokenizer (or `preprocessor=`); the head's
    weights and `drop_seed_input` its `task.weights.h5` and `task.json`,
    where present. (KerasHub's own `keras_hub.models.MaskedLM.from_preset`
    loads the task's preset as well, with the saved settings only.)
    """
    preprocessor = kwargs.pop('preprocessor', None)
    drop_seed_input = kwargs.pop('drop_seed_input', None)
    backbone = TokenDropBertBackbone.from_preset(
        preset, load_weights=load_weights, **kwargs)
    if preprocessor is None and preset_utils.check_file_exists(
        preset, preset_utils.TOKENIZER_CONFIG_FILE):
      # (KerasHub's loader: the saved preprocessor, or one on the preset's
      # tokenizer where the preset holds none of this class.)
      preprocessor = preset_utils.get_preset_loader(preset).load_preprocessor(
          keras_hub.models.BertMaskedLMPreprocessor)
    if drop_seed_input is None:
      saved = preset_files.read_preset_file(
          preset, preset_utils.TASK_CONFIG_FILE, json.load) or {}
      drop_seed_input = saved.get('config', {}).get('drop_seed_input', False)
    task = cls(backbone, preprocessor=preprocessor,
               drop_seed_input=drop_seed_input)
    if load_weights and preset_utils.check_file_exists(
        preset, preset_utils.TASK_WEIGHTS_FILE):
      task.load_task_weights(preset_utils.get_file(
          preset, preset_utils.TASK_WEIGHTS_FILE))
    return task

  # Without a preprocessor the batches are the model's inputs already:
  # Keras's own loops take them, with no `tf.data` (KerasHub's pipeline
  # model converts every input to a `tf.data` or Grain dataset, so a JAX
  # install without TensorFlow could not `fit` on arrays).
  def fit(self, *args, **kwargs):
    check_devices(_distributed_devices())
    if self.preprocessor is None:
      return keras.Model.fit(self, *args, **kwargs)
    return super().fit(*args, **kwargs)

  def evaluate(self, *args, **kwargs):
    if self.preprocessor is None:
      return keras.Model.evaluate(self, *args, **kwargs)
    return super().evaluate(*args, **kwargs)

  def predict(self, *args, **kwargs):
    if self.preprocessor is None:
      return keras.Model.predict(self, *args, **kwargs)
    return super().predict(*args, **kwargs)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    slot_losses = mlm_slot_losses(y, y_pred)
    weights = (ops.ones_like(slot_losses) if sample_weight is None else
               ops.cast(sample_weight, 'float32'))
    loss = ops.divide(ops.sum(slot_losses * weights),
                      ops.maximum(ops.sum(weights), 1e-9))
    if training and self.backbone.drops(True):
      self.importance.update(y, ops.stop_gradient(slot_losses), weights)
    if self.losses:
      loss = loss + ops.sum(self.losses)
    return loss


class KeepSchedule(keras.callbacks.Callback):
  """Moves the backbone to each keep phase at its first step (`phases`:
  `[(start_step, keep_k), ...]`, `keep_k == seq_length` the plain step) and
  rebuilds the compiled train step there: one compiled step per k."""

  def __init__(self, backbone, phases, seq_length):
    super().__init__()
    self.backbone, self.seq_length = backbone, seq_length
    self.starts = dict(phases)

  def on_train_begin(self, logs=None):
    # Counted here, not read from the optimizer each step: a read waits for
    # the step before it and would stall the backend's asynchronous dispatch.
    self.step = int(keras.ops.convert_to_numpy(
        self.model.optimizer.iterations))
    if self.step not in self.starts:
      # A resumed run: the phase the step is in.
      begun = [start for start in self.starts if start < self.step]
      if begun:
        self._enter(self.starts[max(begun)])

  def on_train_batch_begin(self, batch, logs=None):
    if self.step in self.starts:
      self._enter(self.starts[self.step])
    self.step += 1

  def _enter(self, keep_k):
    drop = keep_k < self.seq_length
    self.backbone.set_dropping(drop, keep_k if drop else None)
    self.model.make_train_function(force=True)


def _distributed_devices() -> int:
  distribution = keras.distribution.distribution()
  mesh = getattr(distribution, 'device_mesh', None)
  return 1 if mesh is None else int(np.size(mesh.devices))


def check_devices(devices: int):
  """Refuses several devices where the table would not be one: on JAX
  the step sees the global batch (every device computes the same update);
  under TensorFlow, Keras's DataParallel runs the step per device with no
  cross-replica reduction of the table's update."""
  if devices > 1 and keras.backend.backend() != 'jax':
    raise ValueError(
        f'Token dropping on {devices} devices needs the JAX backend: under '
        f'{keras.backend.backend()}, Keras\'s DataParallel gives the '
        'importance table\'s update no cross-replica reduction, so each '
        'device would keep a table of its own. Set KERAS_BACKEND=jax, use '
        'one device, or train with official_td.train (tf.distribute).')


def mlm_slot_losses(labels, logits):
  """Per-slot cross-entropy, float32 `[batch, predictions]`."""
  return ops.sparse_categorical_crossentropy(
      labels, ops.cast(logits, 'float32'), from_logits=True)
