"""The one module that makes the project's configuration objects gin-visible.

Layers, networks and tasks take plain typed arguments and never import gin;
entry points read their configuration through the names registered here:

  encoder.*     `official_td.configs.encoders.EncoderConfig`
  data.*        `official_td.configs.pretraining.DataConfig`
  optimizer.*   `official_td.configs.pretraining.OptimizerConfig`
  run.*         `official_td.configs.pretraining.RunConfig`
  finetune.*    `official_td.tasks.classification.FinetuneConfig`
"""

import dataclasses
from typing import FrozenSet

import gin

from official_td.configs import encoders
from official_td.configs import pretraining

encoder = gin.external_configurable(encoders.EncoderConfig, 'encoder')
data = gin.external_configurable(pretraining.DataConfig, 'data')
optimizer = gin.external_configurable(pretraining.OptimizerConfig, 'optimizer')
run = gin.external_configurable(pretraining.RunConfig, 'run')

from official_td.tasks import classification  # pylint: disable=g-bad-import-order,g-import-not-at-top

finetune = gin.external_configurable(classification.FinetuneConfig,
                                     'finetune')


def bound_fields(name: str, config_class) -> FrozenSet[str]:
  """The fields of `config_class` that gin binds under `name` (`encoder`):
  what the gin files and bindings set, as opposed to defaults (a continued
  run takes the checkpoint's architecture where they set nothing)."""
  bound = set()
  for field in dataclasses.fields(config_class):
    try:
      gin.query_parameter(f'{name}.{field.name}')
    except ValueError:
      continue
    bound.add(field.name)
  return frozenset(bound)


def bound_encoder_fields() -> FrozenSet[str]:
  return bound_fields('encoder', encoders.EncoderConfig)
