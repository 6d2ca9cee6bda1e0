"""Held-out evaluation of a `TokenDropBertMaskedLM`, as the Model Garden
trainer reports it (no TensorFlow: the batches are numpy)."""

from typing import Dict

import numpy as np


def held_out(task, batches, batch_size: int) -> Dict[str, float]:
  """Weighted MLM loss and accuracy over `batches` (numpy `(x, labels,
  weights)`), as the backbone is set to drop or not. A short last batch is
  padded to `batch_size` with weightless rows (one compiled shape, and a
  batch that divides over the devices)."""
  sums = np.zeros(3)
  for x, labels, weights in batches:
    short = batch_size - len(labels)
    if short:
      x, labels, weights = (
          {k: np.concatenate([v, np.repeat(v[:1], short, 0)])
           for k, v in x.items()},
          np.concatenate([labels, np.repeat(labels[:1], short, 0)]),
          np.concatenate([weights, np.zeros((short,) + weights.shape[1:],
                                            weights.dtype)]))
    logits = np.asarray(task.predict_on_batch(x), np.float64)
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    losses = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    correct = logits.argmax(-1) == labels
    sums += [(losses * weights).sum(), (correct * weights).sum(),
             weights.sum()]
  return dict(mlm_loss=sums[0] / sums[2], mlm_accuracy=sums[1] / sums[2])


def final_evaluation(task, evaluation, batch_size: int, phases,
                     seq_length: int, with_dropping: bool) -> Dict[str, float]:
  """The held-out figures `official_td.train` reports: on full sequences
  (`eval_mlm_loss`, `eval_mlm_accuracy`) whatever phase a keep schedule left
  the backbone in, and with `with_dropping` (`run.eval_with_dropping`) also
  dropping with the last dropping phase's k (`eval_dropped_*`).

  Args:
    task: the `TokenDropBertMaskedLM`.
    evaluation: returns a fresh iterable of numpy `(x, labels, weights)`.
    batch_size: its batch size.
    phases: the keep phases, `[(start_step, keep_k), ...]`.
    seq_length: S (a phase keeping S runs full sequences).
    with_dropping: also evaluate with dropping.
  """
  backbone = task.backbone
  dropping = [k for _, k in phases if k < seq_length]
  variants = [('', False, None)]
  if with_dropping and dropping:
    variants.append(('dropped_', True, dropping[-1]))
  results = {}
  for prefix, drop, keep_k in variants:
    with backbone.force_dropping(drop, keep_k):
      task.make_predict_function(force=True)  # traced with this setting.
      results.update({f'eval_{prefix}{k}': v for k, v in held_out(
          task, evaluation(), batch_size).items()})
  task.make_predict_function(force=True)
  return results
