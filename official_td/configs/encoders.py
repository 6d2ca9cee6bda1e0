"""The encoder of pretraining: its configuration and how it is built.

As the Model Garden's `official/nlp/configs/encoders.py`: a dataclass (in
`encoder_config`, which needs no TensorFlow) and a `build_encoder` that turns
it into a network (`BertEncoderV2` for the baseline, `TokenDropBertEncoder`
with token dropping).
"""

from typing import Dict

import tf_keras

from official.modeling import tf_utils
from official.nlp.modeling import models
from official.nlp.modeling import networks
from official_td.configs import encoder_config
from official_td.configs.encoder_config import activation_kwargs
from official_td.configs.encoder_config import activation_of
from official_td.configs.encoder_config import DEFAULT_ACTIVATION
from official_td.configs.encoder_config import EncoderConfig
from official_td.configs.encoder_config import INNER_ACTIVATIONS
from official_td.networks import TokenDropBertEncoder


def plain_encoder_kwargs(config: EncoderConfig) -> Dict:
  """`BertEncoderV2` arguments of `config`: what fine-tuning and export load.

  Recorded in the run directory (`rundir`) next to its vocab, so a
  pretraining directory is self-contained, like a released BERT checkpoint.
  """
  return dict(
      vocab_size=config.vocab_size,
      hidden_size=config.hidden_size,
      num_layers=config.num_layers,
      num_attention_heads=config.num_attention_heads,
      inner_dim=config.inner_dim,
      max_sequence_length=config.max_sequence_length,
      type_vocab_size=config.type_vocab_size,
      output_dropout=config.dropout,
      attention_dropout=config.dropout,
      **activation_kwargs(config.inner_activation))


def build_encoder(config: EncoderConfig, vocab_file: str):
  """The encoder for `config`; token-drop ids resolved from `vocab_file`."""
  common = plain_encoder_kwargs(config)
  if not config.token_drop:
    return networks.BertEncoderV2(**common)
  return TokenDropBertEncoder(drop_mode=config.drop_mode,
                              vocab_file=vocab_file,
                              **encoder_config.drop_kwargs(config), **common)


MLM_INITIALIZER_RANGE = 0.02


def build_pretrainer(encoder, inner_activation: str = DEFAULT_ACTIVATION
                     ) -> models.BertPretrainerV2:
  """BERT's masked-LM pretrainer over `encoder`.

  The MLM head's transform uses the encoder's activation, as Hugging Face's
  `BertForMaskedLM` does (`hidden_act`); for BERT's (tanh-approximated) GELU
  that is the Model Garden's masked-LM task's `mlm_activation='gelu'`.
  `BertPretrainerV2`'s own default is no activation.
  """
  value = INNER_ACTIVATIONS[inner_activation]
  activation = (tf_utils.get_activation('gelu') if value is None else
                tf_keras.activations.get(value))
  # BERT's initializer for the head's transform (google-research/bert's
  # `initializer_range`, the Model Garden masked-LM task's
  # `mlm_initializer_range`); BertPretrainerV2's own default is Glorot.
  return models.BertPretrainerV2(
      encoder, mlm_activation=activation,
      mlm_initializer=tf_keras.initializers.TruncatedNormal(
          stddev=MLM_INITIALIZER_RANGE),
      name='bert')
