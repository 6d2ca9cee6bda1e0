r"""Fine-tunes a pretrained (token-dropped) BERT for classification.

The pretrained weights are loaded into a plain tf-models-official
`BertEncoderV2`: fine-tuning runs no token-drop code.

  python -m official_td.finetune --gin_file=gin/finetune/embedded_source.gin \
      --gin_bindings="finetune.pretrained_dir='runs/demo'" \
      --model_dir=runs/demo_finetune
"""

import os

# TensorFlow's C++ start-up chatter is not for the console unless asked for.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import json

from absl import app
from absl import flags

from official_td import cli
from official_td import configurables

FLAGS = flags.FLAGS

cli.define_flags('Where the fine-tuned model goes.',
                 'Show tracebacks of configuration errors.')


def main(argv):
  del argv
  config = configurables.finetune(model_dir=cli.configure_from_flags())
  strategy = cli.strategy_from_flags()
  from official_td.tasks import classification  # pylint: disable=g-import-not-at-top
  results = classification.finetune(config, strategy)
  print(json.dumps(results))
  print(f'Fine-tuned: eval accuracy {results["eval_accuracy"]:.4f}; '
        f'checkpoint {results["checkpoint"]}')


def run():
  """The console entry point (see pyproject.toml)."""
  app.run(cli.main_with_clean_errors(main, lambda: FLAGS.verbose))


if __name__ == '__main__':
  run()
