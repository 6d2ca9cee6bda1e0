"""The masked-LM pretraining step shared by training, tests and benchmarks.

One step: forward pass of a `BertPretrainerV2` in training mode, per-slot MLM
losses, the weighted mean loss, gradients, the optimizer update and the
importance-table update from the same per-slot losses (weighted, so padded
prediction slots never train any id's score).
"""

from typing import Dict, Optional

import tensorflow as tf
import tf_keras

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


def train_step(model: tf_keras.Model,
               optimizer,
               features: Dict[str, tf.Tensor],
               importance: Optional[TokenImportance] = None):
  """One replica's pretraining step. Call inside `strategy.run` (or alone).

  Args:
    model: a `BertPretrainerV2` (plain or token-drop encoder).
    optimizer: a tf_keras optimizer.
    features: a batch with the model inputs plus `masked_lm_ids` and
      `masked_lm_weights`.
    importance: the token-drop encoder's `TokenImportance`, updated from this
      step's losses; None for a plain encoder.

  Returns:
    A dict of the replica's weighted sums (`loss_sum`, `correct_sum`,
    `weight_sum`) and the scalar `loss` it optimized.
  """
  weights = tf.cast(features['masked_lm_weights'], tf.float32)
  num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
  with tf.GradientTape() as tape:
    outputs = model(model_inputs(features), training=True)
    slot_losses = mlm_slot_losses(features['masked_lm_ids'],
                                  outputs['mlm_logits'])
    loss = tf.reduce_sum(slot_losses * weights) / tf.maximum(
        tf.reduce_sum(weights), 1.0)
    scaled_loss = loss / num_replicas
  variables = model.trainable_variables
  grads = tape.gradient(scaled_loss, variables)
  # The pooler gets no gradient from the MLM loss alone (no NSP head).
  optimizer.apply_gradients(
      [(g, v) for g, v in zip(grads, variables) if g is not None])
  if importance is not None:
    importance.update(features['masked_lm_ids'],
                      tf.stop_gradient(slot_losses), weights)
  metrics = mlm_metrics(features, outputs['mlm_logits'], slot_losses)
  metrics['loss'] = loss
  return metrics
