"""The Model Garden trainer's optimizers in Keras 3 (TensorFlow only on its backend)."""

import keras


class BertSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """BERT's learning rate: linear warmup over `warmup_steps`, linear decay to
  `end` at `train_steps` (counted from step 0), as the Model Garden's
  `official.nlp.optimization` (Keras 3 has no warmup for a linear decay)."""

  def __init__(self, peak, train_steps, warmup_steps, end=0.0):
    self.peak, self.train_steps = float(peak), int(train_steps)
    self.warmup_steps, self.end = int(warmup_steps), float(end)

  def __call__(self, step):
    step = keras.ops.cast(step, 'float32')
    done = keras.ops.minimum(step, float(self.train_steps)) / self.train_steps
    decay = (self.peak - self.end) * (1.0 - done) + self.end
    if not self.warmup_steps:
      return decay
    warmup = self.peak * step / float(self.warmup_steps)
    return keras.ops.where(step < self.warmup_steps, warmup, decay)

  def get_config(self):
    return dict(peak=self.peak, train_steps=self.train_steps,
                warmup_steps=self.warmup_steps, end=self.end)


@keras.saving.register_keras_serializable(package='OfficialTD')
class AdamW(keras.optimizers.AdamW):
  """Keras's AdamW, clipping by the gradients' true global norm on every
  backend.

  Under TensorFlow an embedding lookup's gradient is a `tf.IndexedSlices`
  (one row per token of the batch, repeated ids not summed), and Keras 3's
  `global_norm` squares those rows one by one: the norm it clips by is not
  the gradient's (4% more on the segment embedding of a 4-sequence batch),
  so the same step clips differently than the Model Garden trainer and the
  JAX backend (whose gradients are dense). Each gradient is made dense
  before the norm (`tests/test_keras_hub.py` compares one step of both
  trainers). An embedding's gradient is as large as the embedding at most,
  the size of the Model Garden trainer's own tied-embedding gradient.
  """

  def _clip_gradients(self, grads):
    if self.global_clipnorm and keras.backend.backend() == 'tensorflow':
      # (TensorFlow is this backend; keras.ops keeps the IndexedSlices.)
      import tensorflow as tf  # pylint: disable=g-import-not-at-top
      grads = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    return super()._clip_gradients(grads)


def decayed(variable) -> bool:
  """The Model Garden's weight-decay rule (`exclude_from_weight_decay=
  ['LayerNorm', 'layer_norm', 'bias']`, searched in the name): no decay for
  any layer norm or bias, the MLM head's `output_bias` included."""
  return not ('bias' in variable.name or 'layer_norm' in variable.path or
              'LayerNorm' in variable.path)


def build_optimizer(model: keras.Model, train_steps: int, type: str = 'adamw',  # pylint: disable=redefined-builtin
                    learning_rate: float = 1e-4, warmup_steps: int = 10000,
                    end_learning_rate: float = 0.0,
                    gradient_clip_norm: float = 1.0, untrained=()
                    ) -> keras.optimizers.Optimizer:
  """AdamW as the Model Garden trainer's (`optimizer.*`): weight decay 0.01
  except on layer norms and biases (`decayed`), epsilon 1e-6, BERT's
  schedule, clipping to a global norm (0: off). `untrained`: variables the
  loss does not reach (the pooler in masked-LM pretraining), which the Model
  Garden trainer leaves out of its step: their gradient is zero, and without
  decay the step leaves them as they are. The only optimizer: Keras 3's
  `Lamb` scales the layer-norm and bias steps by their trust ratio, which
  the Model Garden's excludes, so the two would not train alike."""
  schedule = BertSchedule(learning_rate, train_steps, warmup_steps,
                          end_learning_rate)
  clip = dict(global_clipnorm=gradient_clip_norm) if (
      gradient_clip_norm > 0) else {}
  if type != 'adamw':
    raise ValueError(
        f"optimizer.type={type!r}: the KerasHub trainer has AdamW only "
        "(Keras 3's Lamb adapts LayerNorm and bias steps, the Model Garden's "
        "does not); set optimizer.type = 'adamw' or train with "
        'official_td.train.')
  optimizer = AdamW(learning_rate=schedule,
                    weight_decay=0.01, epsilon=1e-6, **clip)
  untrained = {id(v) for v in untrained}
  optimizer.exclude_from_weight_decay(var_list=[
      v for v in model.trainable_variables
      if not decayed(v) or id(v) in untrained])
  return optimizer
