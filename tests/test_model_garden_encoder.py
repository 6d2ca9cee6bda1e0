"""Model Garden's own BertEncoderV2 tests, run against TokenDropBertEncoder.

`official/nlp/modeling/networks/bert_encoder_test.py` ships in the
tf-models-official wheel. It is loaded from the installed package with its
`bert_encoder.BertEncoderV2` replaced by our encoder (the parameterized
cases bind the class when the module is executed, so the replacement is in
place before that), and every test that builds a `BertEncoderV2` runs twice:

* on the inference path (the encoder as fine-tuning and serving see it): all
  of them must pass, unchanged;
* with dropping on every call (`drop_at_eval=True`, half the tokens kept):
  all must pass except the ones in `_DIFFERS_WITH_DROPPING`, each with its
  reason, which are run as expected failures (one that starts passing fails
  the suite, so the list cannot go stale).

Tests that build only the v1 `BertEncoder` are not ours and are left out.
"""

import importlib.util
import inspect
import sys
import types
import unittest

import tensorflow as tf
import tf_keras

from official.nlp.modeling.networks import bert_encoder
from official_td.networks import TokenDropBertEncoder

_MODULE = 'official.nlp.modeling.networks.bert_encoder_test'


@tf_keras.utils.register_keras_serializable(package='OfficialTDTest')
class DroppingEncoder(TokenDropBertEncoder):
  """TokenDropBertEncoder dropping at every call (half the tokens kept)."""

  def __init__(self, drop_at_eval=True, **kwargs):
    super().__init__(drop_at_eval=drop_at_eval, **kwargs)


# With dropping, the middle layers see half the tokens: outputs differ from a
# plain encoder's by design, and a dropping call needs token ids.
_DIFFERS_WITH_DROPPING = {
    'BertEncoderV2CompatibilityTest.test_weights_forward_compatible':
        'compares the outputs with a plain BertEncoder holding the same '
        'weights',
    'BertEncoderV2CompatibilityTest.test_checkpoint_forward_compatible':
        'compares the outputs with a plain BertEncoder restored from the '
        'same checkpoint',
    'BertEncoderV2CompatibilityTest.'
    'test_keras_model_checkpoint_forward_compatible':
        'compares the outputs with a plain BertEncoder model restored from '
        'the same checkpoint',
    'BertEncoderTest.test_embeddings_as_inputs':
        'calls with input_word_embeddings and no ids: tokens are ranked by '
        'the importance of their ids, so a dropping call without ids is '
        'refused with a ValueError',
}


def load_model_garden_tests(encoder_cls):
  """Model Garden's test module, executed with `encoder_cls` as
  `bert_encoder.BertEncoderV2`."""
  spec = importlib.util.find_spec(_MODULE)
  shim = types.ModuleType(bert_encoder.__name__)
  shim.__dict__.update(vars(bert_encoder))
  shim.BertEncoderV2 = encoder_cls
  module = types.ModuleType(f'{_MODULE}_{encoder_cls.__name__}')
  module.__file__ = spec.origin
  package = sys.modules['official.nlp.modeling.networks']
  saved = package.bert_encoder
  package.bert_encoder = shim  # what the module's `from ... import` binds.
  try:
    with open(spec.origin) as f:
      exec(compile(f.read(), spec.origin, 'exec'), module.__dict__)  # pylint: disable=exec-used
  finally:
    package.bert_encoder = saved
  assert module.bert_encoder is shim
  return module


def builds_bert_encoder_v2(case_class, name):
  """Whether a test (one parameterized case) builds a BertEncoderV2."""
  method = getattr(case_class, name)
  params = getattr(method, '__x_params_repr__', '')
  if 'encoder_v1' in name:
    return False
  if 'encoder_v2' in name or 'BertEncoderV2' in params:
    return True
  source = inspect.getsource(getattr(method, '__wrapped__', method))
  return 'BertEncoderV2' in source


def suite_of(encoder_cls, expected_failures=()):
  """A unittest suite of the tests that build a BertEncoderV2."""
  module = load_model_garden_tests(encoder_cls)
  suite = unittest.TestSuite()
  selected = []
  for case_class in (module.BertEncoderTest,
                     module.BertEncoderV2CompatibilityTest):
    names = unittest.defaultTestLoader.getTestCaseNames(case_class)
    for name in names:
      if not builds_bert_encoder_v2(case_class, name):
        continue
      key = f'{case_class.__name__}.{name}'
      if key in expected_failures:
        setattr(case_class, name,
                unittest.expectedFailure(getattr(case_class, name)))
      suite.addTest(case_class(name))
      selected.append(key)
  return suite, selected


class ModelGardenEncoderTest(tf.test.TestCase):
  """Runs Model Garden's suite in this process, per mode."""

  test_session = None

  def run_suite(self, encoder_cls, expected_failures=()):
    suite, selected = suite_of(encoder_cls, expected_failures)
    # Every BertEncoderV2 test of the file: 7 parameterized v2 cases, the
    # embeddings and serialization tests and the 3 compatibility tests.
    self.assertLen(selected, 12, selected)
    for name in expected_failures:
      self.assertIn(name, selected)
    result = unittest.TextTestRunner(verbosity=0, stream=_Sink()).run(suite)
    problems = [f'{test.id()}:\n{trace}' for test, trace in
                result.errors + result.failures]
    problems += [f'{test.id()}: passed, but is listed as differing'
                 for test in result.unexpectedSuccesses]
    self.assertEqual(result.testsRun, len(selected))
    self.assertFalse(problems, '\n'.join(problems)[-6000:])
    self.assertLen(result.expectedFailures, len(expected_failures))

  def test_model_garden_suite_on_the_inference_path(self):
    self.run_suite(TokenDropBertEncoder)

  def test_model_garden_suite_with_dropping(self):
    self.run_suite(DroppingEncoder, _DIFFERS_WITH_DROPPING)


class _Sink:
  def write(self, text):
    del text

  def flush(self):
    pass


if __name__ == '__main__':
  tf.test.main()
