"""The masked-LM pretraining step shared by training, tests and benchmarks.

One step: forward pass of a `BertPretrainerV2` in training mode, per-slot MLM
losses, the weighted mean loss, gradients, the optimizer update and the
importance-table update from the same per-slot losses (weighted, so padded
prediction slots never train any id's score).
"""

from typing import Dict, Optional

import tensorflow as tf
import tf_keras

from official.modeling import grad_utils
from official_td.layers.token_importance import TokenImportance

ENCODER_INPUTS = ('input_word_ids', 'input_mask', 'input_type_ids')
MODEL_INPUTS = ENCODER_INPUTS + ('masked_lm_positions', 'drop_seed')


def model_inputs(features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """The subset of a batch that the pretrainer model reads."""
  return {k: features[k] for k in MODEL_INPUTS if k in features}


def mlm_slot_losses(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Per-slot cross-entropy, float32 `[batch, predictions]`."""
  return tf_keras.losses.sparse_categorical_crossentropy(
      labels, tf.cast(logits, tf.float32), from_logits=True)


def mlm_metrics(features, logits, slot_losses):
  """Weighted sums for the MLM loss and accuracy of one (local) batch."""
  weights = tf.cast(features['masked_lm_weights'], tf.float32)
  predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
  correct = tf.cast(
      tf.equal(predictions, tf.cast(features['masked_lm_ids'], tf.int32)),
      tf.float32)
  return dict(
      loss_sum=tf.reduce_sum(slot_losses * weights),
      correct_sum=tf.reduce_sum(correct * weights),
      weight_sum=tf.reduce_sum(weights))


def cls_distribution_kl(teacher_layers, student_layers) -> tf.Tensor:
  """KL(teacher || student) of the [CLS] distributions, per example.

  Each layer's [CLS] state (position 0) becomes a distribution by a softmax
  over its hidden units; the KL is averaged over the given layers. Float32,
  `[batch]`.
  """
  kls = []
  for teacher, student in zip(teacher_layers, student_layers):
    log_p = tf.nn.log_softmax(tf.cast(teacher[:, 0, :], tf.float32), axis=-1)
    log_q = tf.nn.log_softmax(tf.cast(student[:, 0, :], tf.float32), axis=-1)
    kls.append(tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1))
  return tf.add_n(kls) / float(len(kls))


def consistency_layer_count(encoder, layers: int) -> int:
  """How many last layers the consistency loss compares (0: those after the
  drop window)."""
  if layers:
    return layers
  _, end = encoder.drop_window
  return max(len(encoder.transformer_layers) - end, 1)


def trained_variables(model: tf_keras.Model):
  """The variables the MLM loss reaches.

  Without classification heads (no NSP) nothing reads the pooled output, so
  the pooler gets no gradient; it is left out rather than warned about.
  """
  variables = model.trainable_variables
  encoder = getattr(model, 'encoder_network', None)
  if getattr(model, 'classification_heads', None) or encoder is None:
    return variables
  pooler = getattr(encoder, 'pooler_layer', None)
  unused = {v.ref() for v in pooler.trainable_variables} if pooler else set()
  return [v for v in variables if v.ref() not in unused]


def train_step(model: tf_keras.Model,
               optimizer,
               features: Dict[str, tf.Tensor],
               importance: Optional[TokenImportance] = None,
               gradient_clip_norm: float = 1.0,
               consistency_weight: float = 0.0,
               consistency_layers: int = 0):
  """One replica's pretraining step. Call inside `strategy.run` (or alone).

  The math does not depend on how the global batch is split over replicas:
  the loss is the weighted sum of this replica's slot losses divided by the
  *global* (all-reduced) sum of prediction weights, so the all-reduced
  gradient is the gradient of the global batch's mean loss; it is clipped by
  its global norm after the all-reduce (tf-models-official's
  `grad_utils.minimize_using_explicit_allreduce`, which the legacy AdamW then
  applies without clipping again per replica).

  With a `LossScaleOptimizer` (`mixed_float16`) the loss is scaled before the
  gradient and the gradients unscaled after the all-reduce; a step whose
  gradients overflow is skipped by the optimizer and leaves the importance
  table untouched too. The table is always updated from the unscaled float32
  per-slot losses.

  Args:
    model: a `BertPretrainerV2` (plain or token-drop encoder).
    optimizer: a tf_keras optimizer, optionally a `LossScaleOptimizer`.
    features: a batch with the model inputs plus `masked_lm_ids` and
      `masked_lm_weights`.
    importance: the token-drop encoder's `TokenImportance`, updated from this
      step's losses; None for a plain encoder.
    gradient_clip_norm: clip the all-reduced gradients to this global norm;
      0 disables clipping.
    consistency_weight: if > 0 (a token-drop model traced with dropping),
      also run the full sequence through the encoder in inference mode, as a
      teacher without gradient, and add this weight times the mean over the
      global batch of `cls_distribution_kl(full, dropped)` at the last
      `consistency_layers` layers (see `consistency_layer_count`) to the loss.

  Returns:
    A dict of the replica's weighted sums (`loss_sum`, `correct_sum`,
    `weight_sum`), the global batch's mean `loss`, the all-reduced
    `gradient_norm` before clipping and `clipped` (1.0 if clipping shrank
    the gradient); with consistency, `consistency_kl`, the global batch's
    mean KL.
  """
  weights = tf.cast(features['masked_lm_weights'], tf.float32)
  ctx = tf.distribute.get_replica_context()
  global_weight = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                 tf.reduce_sum(weights))
  if consistency_weight:
    encoder = model.encoder_network
    layers = consistency_layer_count(encoder, consistency_layers)
    with encoder.force_dropping(False):
      teacher = encoder({k: features[k] for k in ENCODER_INPUTS},
                        training=False)['encoder_outputs'][-layers:]
    teacher = [tf.stop_gradient(t) for t in teacher]
    global_examples = ctx.all_reduce(
        tf.distribute.ReduceOp.SUM,
        tf.cast(tf.shape(weights)[0], tf.float32))
  with tf.GradientTape() as tape:
    outputs = model(model_inputs(features), training=True)
    slot_losses = mlm_slot_losses(features['masked_lm_ids'],
                                  outputs['mlm_logits'])
    loss = tf.reduce_sum(slot_losses * weights) / tf.maximum(global_weight,
                                                             1.0)
    if consistency_weight:
      kl = tf.reduce_sum(cls_distribution_kl(
          teacher, outputs['encoder_outputs'][-layers:])) / global_examples
      loss += consistency_weight * kl
  finite, norms = [], []

  def check_and_clip(grads_and_vars):
    grads, variables = zip(*grads_and_vars)
    finite.append(tf.reduce_all(
        [tf.reduce_all(tf.math.is_finite(g)) for g in grads]))
    norms.append(tf.linalg.global_norm(grads))
    if gradient_clip_norm and gradient_clip_norm > 0:
      grads, _ = tf.clip_by_global_norm(grads, gradient_clip_norm,
                                        use_norm=norms[0])
    return list(zip(grads, variables))

  grad_utils.minimize_using_explicit_allreduce(
      tape, optimizer, loss, trained_variables(model),
      post_allreduce_callbacks=[check_and_clip])
  if importance is not None:
    # A skipped (overflowing) step observes nothing: zero weights.
    applied = tf.cast(finite[0], tf.float32)
    importance.update(features['masked_lm_ids'],
                      tf.stop_gradient(slot_losses), weights * applied)
  metrics = mlm_metrics(features, outputs['mlm_logits'], slot_losses)
  metrics['loss'] = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
  if consistency_weight:
    metrics['consistency_kl'] = ctx.all_reduce(tf.distribute.ReduceOp.SUM, kl)
  # The all-reduced gradient's norm before clipping (the same on every
  # replica), and whether clipping changed it.
  metrics['gradient_norm'] = norms[0]
  if gradient_clip_norm and gradient_clip_norm > 0:
    metrics['clipped'] = tf.cast(norms[0] > gradient_clip_norm, tf.float32)
  else:
    metrics['clipped'] = tf.constant(0.0)
  return metrics
