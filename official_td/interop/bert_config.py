"""A BERT config file as encoder arguments: one mapping for every import.

Hugging Face's `config.json` and google-research/bert's `bert_config.json`
describe a BERT with the same keys (`hidden_size`, `num_hidden_layers`,
`intermediate_size`, `hidden_act`, ...). `encoder_settings` turns either into
this project's encoder shape and activation, and refuses, naming the field,
what the encoder cannot honour: an activation it has no form of, a layer
norm epsilon other than 1e-12, position embeddings other than absolute,
embeddings narrower than the hidden layers.

The two dialects differ in one word: google-research/bert's `gelu` is the
tanh-approximated GELU (its `modeling.gelu`), Hugging Face's `gelu` is the
exact (erf) form and its tanh form is `gelu_new` (also `gelu_pytorch_tanh`,
`gelu_fast`).
"""

import dataclasses
from typing import Dict

HUGGING_FACE = 'huggingface'
GOOGLE = 'google'

# hidden_act -> `EncoderConfig.inner_activation`, per dialect.
_ACTIVATIONS = {
    HUGGING_FACE: {'gelu': 'gelu_erf', 'gelu_new': 'gelu_tanh',
                   'gelu_pytorch_tanh': 'gelu_tanh', 'gelu_fast': 'gelu_tanh',
                   'relu': 'relu'},
    # (`gelu_new`, Hugging Face's word for the same, in converted configs.)
    GOOGLE: {'gelu': 'gelu_tanh', 'gelu_new': 'gelu_tanh', 'relu': 'relu'},
}
# `EncoderConfig.inner_activation` -> Hugging Face's hidden_act (export).
HF_HIDDEN_ACT = {'gelu_tanh': 'gelu_new', 'gelu_erf': 'gelu', 'relu': 'relu'}
LAYER_NORM_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
  """What a BERT config file says of the encoder.

  Attributes:
    shape: the `EncoderConfig` / `BertEncoderV2` shape arguments
      (`vocab_size`, `hidden_size`, `num_layers`, `num_attention_heads`,
      `inner_dim`, `max_sequence_length`, `type_vocab_size`).
    inner_activation: the `EncoderConfig.inner_activation` it needs.
    hidden_act: the file's own word for it.
  """
  shape: Dict[str, int]
  inner_activation: str
  hidden_act: str


def encoder_settings(config: Dict, config_file: str,
                     dialect: str) -> EncoderSettings:
  """The encoder a BERT config file describes.

  Args:
    config: the parsed file.
    config_file: its path, for errors.
    dialect: `HUGGING_FACE` (`config.json`) or `GOOGLE` (`bert_config.json`).

  Raises:
    ValueError: naming the field and its value, for a model this encoder is
      not.
  """
  activations = _ACTIVATIONS[dialect]
  hidden_act = config.get('hidden_act', 'gelu')

  def refuse(field, value, why):
    raise ValueError(f'{config_file!r} has {field}={value!r}: {why}; this '
                     'encoder cannot load it.')

  if hidden_act not in activations:
    refuse('hidden_act', hidden_act,
           f'the encoder has the activations {sorted(activations)} (in this '
           'file\'s words)')
  eps = config.get('layer_norm_eps', LAYER_NORM_EPS)
  if abs(float(eps) - LAYER_NORM_EPS) > 1e-15:
    refuse('layer_norm_eps', eps, f'BertEncoderV2\'s layer norms use '
           f'{LAYER_NORM_EPS}')
  position = config.get('position_embedding_type', 'absolute')
  if position != 'absolute':
    refuse('position_embedding_type', position,
           'BertEncoderV2 has absolute position embeddings only')
  embedding_size = config.get('embedding_size')
  if embedding_size not in (None, config['hidden_size']):
    refuse('embedding_size', embedding_size,
           f'BERT\'s embeddings are as wide as its hidden layers '
           f'({config["hidden_size"]})')
  shape = dict(vocab_size=config['vocab_size'],
               hidden_size=config['hidden_size'],
               num_layers=config['num_hidden_layers'],
               num_attention_heads=config['num_attention_heads'],
               inner_dim=config['intermediate_size'],
               max_sequence_length=config['max_position_embeddings'],
               type_vocab_size=config.get('type_vocab_size', 2))
  return EncoderSettings(shape, activations[hidden_act], hidden_act)
