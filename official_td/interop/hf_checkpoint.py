"""Reading a Hugging Face BERT directory as the hub publishes it.

The hub's BERTs do not all name their tensors alike. The original Google
BERTs (`bert-base-uncased`, `bert-base-cased`, the multilingual ones),
converted from TensorFlow in 2018-19, keep TensorFlow's layer-norm names
(`...LayerNorm.gamma` / `.beta`), carry the next-sentence head
(`cls.seq_relationship.weight` / `.bias`) and hold the MLM output bias as
`cls.predictions.bias` with no `cls.predictions.decoder.bias` (the key list
of bert-base-uncased's `model.safetensors` is quoted in candle issue #1887;
`transformers` renames gamma/beta while loading, and KerasHub's
`convert_bert.py` detects both namings). Later saves use `.weight` / `.bias`,
may add `cls.predictions.decoder.weight` (a copy of the tied word
embeddings) and `decoder.bias`; a `BertModel` has no `bert.` prefix and no
head; large models come as shards (`model.safetensors.index.json`, whose
`weight_map` names each tensor's file).

`assign` reads every one of these into the Model Garden encoder (and MLM
head) through the one mapping of `huggingface`: the file's naming is
detected, each tensor the model needs is looked up under that naming (a
missing one is an error that names it), and the tensors the model does not
use are reported (`Report.skipped`), never silently dropped. Written here
because neither tf-models-official nor KerasHub reads this format into a
Model Garden model (KerasHub's converter fills its own `BertBackbone`).
"""

import dataclasses
import json
import os
from typing import Dict, List, Tuple

import numpy as np
from safetensors import numpy as safetensors_numpy
import tensorflow as tf

from official_td import publish
from official_td.interop import bert_config
from official_td.interop import huggingface

CONFIG = huggingface.CONFIG
WEIGHTS = huggingface.WEIGHTS
INDEX = 'model.safetensors.index.json'
TOKENIZER_CONFIG = huggingface.TOKENIZER_CONFIG
# The next-sentence head of `BertForPreTraining`: pretraining here has no
# next-sentence task.
NSP_HEAD = ('cls.seq_relationship.weight', 'cls.seq_relationship.bias')
DECODER_WEIGHT = 'cls.predictions.decoder.weight'
DECODER_BIAS = 'cls.predictions.decoder.bias'
OUTPUT_BIAS = 'cls.predictions.bias'


# ------------------------------------------------------------- the files
def weight_files(path: str) -> List[str]:
  """The safetensors files of the directory: `model.safetensors`, or the
  shards its `model.safetensors.index.json` names ([] if neither)."""
  single = os.path.join(path, WEIGHTS)
  if tf.io.gfile.exists(single):
    return [single]
  index = os.path.join(path, INDEX)
  if not tf.io.gfile.exists(index):
    return []
  weight_map = publish.read_json(index).get('weight_map')
  if not isinstance(weight_map, dict) or not weight_map:
    raise ValueError(f'{index!r} has no weight_map (tensor name -> shard '
                     'file): not a safetensors index; download it again.')
  files = [os.path.join(path, name) for name in sorted(set(
      weight_map.values()))]
  missing = [f for f in files if not tf.io.gfile.exists(f)]
  if missing:
    raise ValueError(f'{index!r} names shards that are not there: '
                     f'{missing}; download the whole directory.')
  return files


def is_directory(path: str) -> bool:
  """True if `path` holds a Hugging Face BERT (`config.json` + weights)."""
  return (tf.io.gfile.exists(os.path.join(path, CONFIG)) and
          bool(weight_files(path)))


def read_config(path: str) -> Dict:
  config = publish.read_json(os.path.join(path, CONFIG))
  if config.get('model_type') != 'bert':
    raise ValueError(
        f'{path}/{CONFIG} has model_type={config.get("model_type")!r}; only '
        'Hugging Face BERT directories (model_type "bert") can initialize '
        'this encoder.')
  return config


def encoder_settings(path: str) -> bert_config.EncoderSettings:
  """The encoder a Hugging Face BERT directory's `config.json` describes."""
  return bert_config.encoder_settings(
      read_config(path), os.path.join(path, CONFIG), bert_config.HUGGING_FACE)


def tokenizer_config(path: str) -> Dict:
  """The directory's `tokenizer_config.json` ({} where there is none)."""
  tokenizer = os.path.join(path, TOKENIZER_CONFIG)
  if not tf.io.gfile.exists(tokenizer):
    return {}
  return publish.read_json(tokenizer)


def tensor_names(path: str) -> List[str]:
  """The tensor names of the directory's weights, from the files' headers
  alone (8 bytes of length, then a JSON table), without reading tensors."""
  names = []
  for file in weight_files(path):
    with tf.io.gfile.GFile(file, 'rb') as f:
      length = int.from_bytes(f.read(8), 'little')
      header = json.loads(f.read(length))
    names += [name for name in header if name != '__metadata__']
  return names


def read_tensors(path: str) -> Dict[str, np.ndarray]:
  """Every tensor of the directory's weights, shards merged."""
  tensors = {}
  for file in weight_files(path):
    with tf.io.gfile.GFile(file, 'rb') as f:
      tensors.update(safetensors_numpy.load(f.read()))
  return tensors


# ------------------------------------------------------------- the names
@dataclasses.dataclass(frozen=True)
class Naming:
  """How a file names the tensors of `huggingface`'s mapping."""
  prefix: str  # 'bert.' (BertForMaskedLM, BertForPreTraining) or ''.
  layer_norm: Tuple[str, str]  # ('weight', 'bias') or ('gamma', 'beta').

  @classmethod
  def of(cls, names) -> 'Naming':
    prefix = 'bert.' if any(n.startswith('bert.') for n in names) else ''
    gamma = any(n.endswith('LayerNorm.gamma') for n in names)
    return cls(prefix, ('gamma', 'beta') if gamma else ('weight', 'bias'))

  def __call__(self, name: str) -> str:
    """The file's name for a name of the mapping (prefix `bert.`, layer
    norms `.weight` / `.bias`)."""
    if self.layer_norm != ('weight', 'bias') and '.LayerNorm.' in name:
      stem, leaf = name.rsplit('.', 1)
      name = f'{stem}.{self.layer_norm[0 if leaf == "weight" else 1]}'
    if name.startswith('bert.'):
      name = self.prefix + name[len('bert.'):]
    return name


@dataclasses.dataclass
class Report:
  """What `assign` did with a directory's tensors."""
  assigned: int
  mlm_head: bool
  pooler: bool
  naming: Naming
  skipped: List[Tuple[str, str]]  # (file's name, why), in file order.

  def skipped_line(self) -> str:
    """The skipped tensors, said once ('' when none)."""
    if not self.skipped:
      return ''
    by_reason = {}
    for name, why in self.skipped:
      by_reason.setdefault(why, []).append(name)
    return 'not used: ' + '; '.join(
        f'{", ".join(names)} ({why})' for why, names in by_reason.items())


def _unused_reason(name: str, tensors, word_embeddings: str) -> str:
  if name in NSP_HEAD:
    return 'the next-sentence head; pretraining here has no NSP task'
  if name.endswith('embeddings.position_ids'):
    return 'a buffer of position ids, not a weight'
  if name == DECODER_WEIGHT:
    if np.array_equal(tensors[name], tensors[word_embeddings]):
      return 'the decoder, a copy of the tied word embeddings'
    return ('an untied decoder: the MLM head decodes with the word '
            'embeddings, as BERT does')
  if name == DECODER_BIAS:
    return f'the same output bias as {OUTPUT_BIAS}'
  return 'not part of a BERT encoder or its MLM head'


def with_output_bias(tensors: Dict[str, np.ndarray]
                     ) -> Dict[str, np.ndarray]:
  """A copy of `tensors` holding the MLM output bias as `OUTPUT_BIAS`
  (files that hold it as `DECODER_BIAS` alone: moved there)."""
  tensors = dict(tensors)
  if OUTPUT_BIAS not in tensors and DECODER_BIAS in tensors:
    tensors[OUTPUT_BIAS] = tensors.pop(DECODER_BIAS)
  return tensors


def assign(tensors: Dict[str, np.ndarray], encoder, masked_lm=None
           ) -> Report:
  """Assigns a Hugging Face BERT's tensors to the encoder (and MLM head).

  Accepts `BertModel` names (no `bert.` prefix) and `BertForMaskedLM` /
  `BertForPreTraining` names, layer norms as `weight`/`bias` or
  `gamma`/`beta`, the output bias as `cls.predictions.bias` or
  `cls.predictions.decoder.bias`. The MLM head is assigned when the
  directory holds one (otherwise it keeps its initial values), the pooler
  likewise (a `BertForMaskedLM` has none).

  Raises:
    ValueError: naming the first missing or mis-shaped tensor, or a head
      that is there in part.
  """
  naming = Naming.of(tensors)
  tensors = with_output_bias(tensors)
  pooler = naming('bert.pooler.dense.weight') in tensors
  entries = huggingface.encoder_entries(encoder, pooler=pooler)
  head = huggingface.mlm_entries(masked_lm) if masked_lm is not None else []
  missing_head = [naming(e.name) for e in head
                  if naming(e.name) not in tensors]
  if missing_head and len(missing_head) < len(head):
    raise ValueError(f'The MLM head is incomplete: {missing_head} missing.')
  if not missing_head:
    entries += head
  used = set()
  for entry in entries:
    name = naming(entry.name)
    if name not in tensors:
      raise ValueError(f'{name} is missing from the Hugging Face weights: '
                       'not a BERT checkpoint of this shape.')
    value = entry.from_hf(np.asarray(tensors[name], np.float32))
    if list(value.shape) != entry.variable.shape.as_list():
      raise ValueError(
          f'{name} has shape {list(tensors[name].shape)}; the encoder needs '
          f'{entry.variable.shape.as_list()} (after layout).')
    entry.variable.assign(value)
    used.add(name)
  words = naming('bert.embeddings.word_embeddings.weight')
  skipped = [(name, _unused_reason(name, tensors, words))
             for name in tensors if name not in used]
  if masked_lm is None or missing_head:
    # No head to load: the head's tensors are not this model's.
    skipped = [(n, 'the MLM head; this model has none' if n.startswith(
        'cls.predictions.') else why) for n, why in skipped]
  return Report(len(entries), bool(head) and not missing_head, pooler,
                naming, skipped)

