"""The encoder's configuration: BERT's shape and the token-dropping settings.

Plain Python (no TensorFlow): the Model Garden encoder (`encoders`), the
KerasHub backbone (`official_td.keras_hub`) and the FLOP model all read it.
"""

import dataclasses
from typing import Dict, Optional


# The encoder's inner (feed-forward) activation, by the names of this config,
# as `BertEncoderV2`'s `inner_activation` argument (None: its default, BERT's
# tanh-approximated GELU). `gelu_erf` is the exact GELU (Hugging Face's
# `gelu`); the two differ by up to ~1e-3 per activation.
INNER_ACTIVATIONS = {'gelu_tanh': None, 'gelu_erf': 'gelu', 'relu': 'relu'}
DEFAULT_ACTIVATION = 'gelu_tanh'


def activation_kwargs(name: str, setting: str = 'encoder.inner_activation'
                      ) -> Dict:
  """`BertEncoderV2` arguments for the activation `name` (none for the
  default, so a run's recorded encoder arguments stay BertEncoderV2's
  defaults)."""
  if name not in INNER_ACTIVATIONS:
    raise ValueError(f'{setting}={name!r} is not an activation the encoder '
                     f'has; use one of {sorted(INNER_ACTIVATIONS)}.')
  value = INNER_ACTIVATIONS[name]
  return {} if value is None else dict(inner_activation=value)


def activation_of(encoder_kwargs: Dict) -> str:
  """The activation name of `BertEncoderV2` arguments (a run's record)."""
  value = encoder_kwargs.get('inner_activation')
  for name, argument in INNER_ACTIVATIONS.items():
    if argument == value:
      return name
  raise ValueError(f'Unknown inner_activation {value!r} in the encoder '
                   f'arguments; this project writes one of '
                   f'{sorted(v for v in INNER_ACTIVATIONS.values() if v)}.')


@dataclasses.dataclass
class EncoderConfig:
  """The encoder: BERT's shape plus the token-dropping settings.

  `token_drop=False` builds a plain `BertEncoderV2` (the baseline).
  """
  vocab_size: Optional[int] = None  # None: read from the vocab file.
  hidden_size: int = 768
  num_layers: int = 12
  num_attention_heads: int = 12
  inner_dim: int = 3072
  max_sequence_length: int = 512
  type_vocab_size: int = 2
  dropout: float = 0.1
  inner_activation: str = DEFAULT_ACTIVATION  # a key of INNER_ACTIVATIONS.
  token_drop: bool = True
  keep_k: Optional[int] = None
  keep_ratio: Optional[float] = 0.5
  drop_start_layer: Optional[int] = None
  drop_end_layer: Optional[int] = None
  importance_mode: str = 'mlm_loss'
  # 'window' (token dropping) or 'random_ltd' (DeepSpeed's random-LTD:
  # every layer but the first and last on its own random tokens).
  drop_mode: str = 'window'
  importance_beta: float = 0.995
  importance_initial_value: float = 10.0
  # 0: the keep_k most important tokens; τ > 0: a sample without
  # replacement, in proportion to importance^(1/τ) (frequency mode:
  # (1 + count)^(-1/τ)).
  importance_sampling_temperature: float = 0.0


def drop_kwargs(config: EncoderConfig) -> Dict:
  """The token-dropping arguments an `EncoderConfig` gives an encoder (the
  Model Garden's `TokenDropBertEncoder` and KerasHub's
  `TokenDropBertBackbone` take the same ones): `keep_k` wins over
  `keep_ratio`."""
  return dict(
      keep_k=config.keep_k,
      keep_ratio=None if config.keep_k is not None else config.keep_ratio,
      drop_start_layer=config.drop_start_layer,
      drop_end_layer=config.drop_end_layer,
      importance_mode=config.importance_mode,
      importance_beta=config.importance_beta,
      importance_initial_value=config.importance_initial_value,
      importance_sampling_temperature=config.importance_sampling_temperature)
