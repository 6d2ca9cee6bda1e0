r"""TensorFlow's `saved_model_cli`, with the tensorflow-text ops registered.

The exported models tokenize in-graph with tensorflow-text ops, which a
process must register (`import tensorflow_text`) before it loads the graph.
The stock `saved_model_cli` does not, so `saved_model_cli show` works on an
export but `saved_model_cli run` fails with "Op type not registered". This
wrapper takes the same arguments:

  python -m official_td.saved_model_cli run --dir exports/td_bert/1 \
      --tag_set serve --signature_def serving_default \
      --input_exprs 'text=["The quick brown fox."]'
"""

import sys

import tensorflow_text  # pylint: disable=unused-import  # registers the ops.
from tensorflow.python.tools import saved_model_cli  # pylint: disable=g-direct-tensorflow-import

if __name__ == '__main__':
  sys.argv[0] = 'saved_model_cli'
  sys.exit(saved_model_cli.main())
