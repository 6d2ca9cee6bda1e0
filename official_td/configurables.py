"""The one module that makes the project's configuration objects gin-visible.

Layers, networks and tasks take plain typed arguments and never import gin;
entry points read their configuration through the names registered here:

  encoder.*     `official_td.tasks.pretrain.EncoderConfig`
  data.*        `official_td.tasks.pretrain.DataConfig`
  optimizer.*   `official_td.tasks.pretrain.OptimizerConfig`
  run.*         `official_td.tasks.pretrain.RunConfig`
  finetune.*    `official_td.tasks.classification.FinetuneConfig`
"""

import gin

from official_td.tasks import pretrain

encoder = gin.external_configurable(pretrain.EncoderConfig, 'encoder')
data = gin.external_configurable(pretrain.DataConfig, 'data')
optimizer = gin.external_configurable(pretrain.OptimizerConfig, 'optimizer')
run = gin.external_configurable(pretrain.RunConfig, 'run')

from official_td.tasks import classification  # pylint: disable=g-bad-import-order,g-import-not-at-top

finetune = gin.external_configurable(classification.FinetuneConfig,
                                     'finetune')
