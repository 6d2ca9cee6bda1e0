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

from official_td import configurables
from official_td import runtime

FLAGS = flags.FLAGS

flags.DEFINE_multi_string('gin_file', [], 'Gin config files (in order).')
flags.DEFINE_multi_string('gin_bindings', [], 'Extra gin bindings.')
flags.DEFINE_string('model_dir', None, 'Where the fine-tuned model goes.')
flags.DEFINE_enum('strategy', 'one_device',
                  ['one_device', 'mirrored', 'multi_worker_mirrored', 'tpu'],
                  'tf.distribute strategy.')
flags.DEFINE_string('tpu', None, 'TPU address (`local` on a Colab / TPU VM).')
flags.DEFINE_bool('verbose', False, 'Show tracebacks of configuration errors.')


def main(argv):
  del argv
  if not FLAGS.model_dir:
    raise ValueError('--model_dir is required.')
  runtime.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  config = configurables.finetune(model_dir=FLAGS.model_dir)
  strategy = runtime.make_strategy(FLAGS.strategy, FLAGS.tpu)
  from official_td.tasks import classification  # pylint: disable=g-import-not-at-top
  results = classification.finetune(config, strategy)
  print(json.dumps(results))
  print(f'Fine-tuned: eval accuracy {results["eval_accuracy"]:.4f}; '
        f'checkpoint {results["checkpoint"]}')


if __name__ == '__main__':
  app.run(runtime.main_with_clean_errors(main, lambda: FLAGS.verbose))
