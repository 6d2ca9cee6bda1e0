"""The tokenizer and preprocessors of a `TokenDropBertBackbone` preset.

KerasHub finds a preset's tokenizer and preprocessor classes by the backbone
class its `config.json` names (each class's `backbone_cls`). These are
KerasHub's BERT ones registered for `TokenDropBertBackbone`, tokenizing and
masking exactly as theirs, so that `BertTokenizer.from_preset`,
`BertMaskedLMPreprocessor.from_preset` and
`BertTextClassifierPreprocessor.from_preset` (and KerasHub's generic
`Tokenizer` / `MaskedLMPreprocessor` / `TextClassifierPreprocessor`) load a
token-drop preset as they load a BERT one.
"""

import keras
import keras_hub

from official_td.keras_hub.backbone import TokenDropBertBackbone


@keras.saving.register_keras_serializable(package='OfficialTD')
class TokenDropBertTokenizer(keras_hub.models.BertTokenizer):
  """`keras_hub.models.BertTokenizer` of a `TokenDropBertBackbone` preset."""

  backbone_cls = TokenDropBertBackbone


@keras.saving.register_keras_serializable(package='OfficialTD')
class TokenDropBertMaskedLMPreprocessor(
    keras_hub.models.BertMaskedLMPreprocessor):
  """`keras_hub.models.BertMaskedLMPreprocessor` of a
  `TokenDropBertBackbone` preset."""

  backbone_cls = TokenDropBertBackbone
  tokenizer_cls = TokenDropBertTokenizer


@keras.saving.register_keras_serializable(package='OfficialTD')
class TokenDropBertTextClassifierPreprocessor(
    keras_hub.models.BertTextClassifierPreprocessor):
  """`keras_hub.models.BertTextClassifierPreprocessor` of a
  `TokenDropBertBackbone` preset."""

  backbone_cls = TokenDropBertBackbone
  tokenizer_cls = TokenDropBertTokenizer


def bert_tokenizer(tokenizer) -> keras_hub.models.BertTokenizer:
  """KerasHub's own `BertTokenizer` with `tokenizer`'s vocabulary, casing and
  accents (what a fine-tuned classifier saves: it loads without this
  package)."""
  if type(tokenizer) is keras_hub.models.BertTokenizer:  # pylint: disable=unidiomatic-typecheck
    return tokenizer
  config = dict(tokenizer.get_config(), vocabulary=tokenizer.get_vocabulary())
  config.pop('name', None)
  return keras_hub.models.BertTokenizer.from_config(config)
