"""Continued pretraining in `official_td.keras_hub.train`: `run.init_checkpoint`.

`train_lib.prepare(keras_hub=True)` has read the source
(`official_td.interop.init_checkpoint.inspect`: a KerasHub BERT preset, a run
of this trainer among them, or a Hugging Face BERT directory), made the
encoder its architecture or refused it, and checked the vocab and casing,
all before any work. `initialize` then puts its weights into the run's task:

- the backbone through `TokenDropBertBackbone.from_preset`, that is
  KerasHub's own preset loader, and for a Hugging Face directory KerasHub's
  own converter (every naming the hub uses); every backbone weight is copied,
  the importance table with them (a `TokenDropBertBackbone` preset's, else
  the initial table);
- the MLM head from a preset's `task.weights.h5` (KerasHub's task weights)
  where it has one, or from a Hugging Face directory's `cls.predictions.*`
  where it has them, read under the file's naming by
  `official_td.interop.hf_checkpoint` (KerasHub's converter reads the
  backbone only). Without one the head keeps its initial weights.

A resumed run restores its own checkpoint instead and is never initialized
again.
"""

from typing import Dict

import keras
import numpy as np

from official_td.interop import hf_checkpoint
from official_td.keras_hub import backbone as backbone_lib
from official_td.keras_hub import masked_lm

# The MLM head of a Hugging Face BERT (BertForMaskedLM / BertForPreTraining
# names; `hf_checkpoint.Naming` gives the file's), and where each goes in
# KerasHub's `MaskedLMHead`: (name, sublayer, weight, transposed).
_HF_HEAD = (
    ('cls.predictions.transform.dense.weight', '_intermediate_dense',
     'kernel', True),
    ('cls.predictions.transform.dense.bias', '_intermediate_dense', 'bias',
     False),
    ('cls.predictions.transform.LayerNorm.weight',
     '_intermediate_layer_norm', 'gamma', False),
    ('cls.predictions.transform.LayerNorm.bias', '_intermediate_layer_norm',
     'beta', False),
    (hf_checkpoint.OUTPUT_BIAS, None, '_bias', False),
)


def initialize(task: masked_lm.TokenDropBertMaskedLM, source,
               vocab) -> Dict[str, bool]:
  """Loads `source` (an `init_checkpoint.CheckpointSource`) into `task`.

  Returns:
    What was loaded: `{'encoder': True, 'mlm_head': bool, 'importance':
    bool}`.

  Raises:
    ValueError: naming what does not fit (a head there in part, a weight of
      another shape).
  """
  special = backbone_lib.TokenDropBertBackbone.special_ids(vocab)
  head = None  # the preset's MLM head, where it has task weights.
  if source.kind == 'keras_hub' and source.has_head:
    loaded_task = masked_lm.TokenDropBertMaskedLM.from_preset(source.path,
                                                              **special)
    loaded, head = loaded_task.backbone, loaded_task.masked_lm_head
  else:
    loaded = backbone_lib.TokenDropBertBackbone.from_preset(source.path,
                                                            **special)
  _copy(loaded.weights, task.backbone.weights, source.path)
  result = dict(encoder=True, mlm_head=False,
                importance=bool(source.has_importance))
  if source.has_importance:  # (the table is state, not among the weights)
    _copy([loaded.importance.table], [task.backbone.importance.table],
          source.path)
  if head is not None:
    _copy(head.weights, task.masked_lm_head.weights, source.path)
    result['mlm_head'] = True
  elif source.kind == 'huggingface' and source.has_head:
    _assign_hf_head(task.masked_lm_head, source.path)
    result['mlm_head'] = True
  return result


def _copy(sources, targets, path):
  if len(sources) != len(targets):
    raise ValueError(f'run.init_checkpoint={path!r} holds {len(sources)} '
                     f'weights where the model has {len(targets)}.')
  for source, target in zip(sources, targets):
    if tuple(source.shape) != tuple(target.shape):
      raise ValueError(
          f'run.init_checkpoint={path!r}: {source.path} has shape '
          f'{tuple(source.shape)}; the model needs {tuple(target.shape)}.')
    target.assign(keras.ops.convert_to_numpy(source))


def _assign_hf_head(head, path: str):
  """The head of a Hugging Face BERT into KerasHub's `MaskedLMHead`."""
  tensors = hf_checkpoint.with_output_bias(hf_checkpoint.read_tensors(path))
  naming = hf_checkpoint.Naming.of(tensors)
  missing = [naming(name) for name, *_ in _HF_HEAD
             if naming(name) not in tensors]
  if missing:
    raise ValueError(f'run.init_checkpoint={path!r}: the MLM head is '
                     f'incomplete, {missing} missing.')
  for name, layer, weight, transposed in _HF_HEAD:
    value = np.asarray(tensors[naming(name)], np.float32)
    value = value.T if transposed else value
    variable = getattr(getattr(head, layer) if layer else head, weight)
    if tuple(value.shape) != tuple(variable.shape):
      raise ValueError(
          f'run.init_checkpoint={path!r}: {naming(name)} has shape '
          f'{tuple(value.shape)}; the MLM head needs {tuple(variable.shape)} '
          '(after layout).')
    variable.assign(value)
