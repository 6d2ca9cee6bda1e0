"""KerasHub's own test harness on the token-drop classes.

`keras_hub.src.tests.test_case.TestCase` (from the keras-hub wheel) is what
KerasHub runs on every backbone and task it ships; the cases here are its
`BertBackbone` and `BertMaskedLM` tests with this package's classes: the
config and serialization round trips, variable lengths, compiled and
`tf.data` predict, mixed precision and quantization policies, `fit` from raw
strings through the preprocessor, `.keras` files, and presets (saved here,
loaded back by `from_preset`, with and without weights).

The harness needs TensorFlow (`tf.data`) and Grain on every backend:
tests/test_keras_hub.py runs it in its TensorFlow worker (`run_cases`, the
`harness` check) and, on JAX, whose worker runs without TensorFlow, in a
process of its own once that worker is done (`python -m
tests.keras_hub_harness RESULT.json`); it asserts on the cases run and that
none failed.
"""

import json
import os
import sys
import unittest

import keras
import keras_hub
from keras import ops
from keras_hub.src.tests import test_case  # pylint: disable=g-direct-tensorflow-import

from official_td.keras_hub import TokenDropBertBackbone
from official_td.keras_hub import TokenDropBertMaskedLM

VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'quick',
         'brown', 'fox', '.']
SEQ = 8


def backbone_kwargs():
  """Two layers (the window [0, 1)), k = 4 of 8, the vocab's special ids."""
  return dict(vocabulary_size=len(VOCAB), num_layers=2, num_heads=2,
              hidden_dim=4, intermediate_dim=8, max_sequence_length=SEQ,
              keep_k=4, **TokenDropBertBackbone.special_ids(VOCAB))


class TokenDropBertBackboneHarnessTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    self.init_kwargs = backbone_kwargs()
    self.input_data = dict(token_ids=ops.ones((2, SEQ), 'int32'),
                           segment_ids=ops.zeros((2, SEQ), 'int32'),
                           padding_mask=ops.ones((2, SEQ), 'int32'))

  def test_backbone_basics(self):
    self.run_backbone_test(
        cls=TokenDropBertBackbone, init_kwargs=self.init_kwargs,
        input_data=self.input_data,
        expected_output_shape=dict(sequence_output=(2, SEQ, 4),
                                   pooled_output=(2, 4)))

  def test_saved_model(self):
    self.run_model_saving_test(cls=TokenDropBertBackbone,
                               init_kwargs=self.init_kwargs,
                               input_data=self.input_data)

  def test_preset(self):
    backbone = TokenDropBertBackbone(**self.init_kwargs)
    preset = os.path.join(self.get_temp_dir(), 'backbone')
    backbone.save_to_preset(preset)
    self.run_preset_test(cls=TokenDropBertBackbone, preset=preset,
                         input_data=self.input_data,
                         expected_output=backbone(self.input_data))


class TokenDropBertMaskedLMHarnessTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    # KerasHub's BertMaskedLM test: every token a prediction slot.
    self.preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=VOCAB),
        mask_selection_rate=1.0, mask_token_rate=1.0, random_token_rate=0.0,
        mask_selection_length=5, sequence_length=SEQ)
    self.init_kwargs = dict(preprocessor=self.preprocessor,
                            backbone=TokenDropBertBackbone(**backbone_kwargs()))
    self.train_data = (['the quick brown fox.', 'the slow brown fox.'],)
    self.input_data = self.preprocessor(*self.train_data)[0]

  def test_masked_lm_basics(self):
    self.run_task_test(cls=TokenDropBertMaskedLM,
                       init_kwargs=self.init_kwargs,
                       train_data=self.train_data,
                       expected_output_shape=(2, 5, len(VOCAB)))

  def test_saved_model(self):
    self.run_model_saving_test(cls=TokenDropBertMaskedLM,
                               init_kwargs=self.init_kwargs,
                               input_data=self.input_data)

  def test_preset(self):
    task = TokenDropBertMaskedLM(**self.init_kwargs)
    preset = os.path.join(self.get_temp_dir(), 'task')
    task.save_to_preset(preset)
    self.run_preset_test(cls=TokenDropBertMaskedLM, preset=preset,
                         input_data=self.input_data,
                         expected_output=task(self.input_data))


def run_cases():
  """Runs the cases here; what ran, failed and was skipped."""
  keras.utils.set_random_seed(0)
  suite = unittest.defaultTestLoader.loadTestsFromModule(
      sys.modules[__name__])
  result = unittest.TextTestRunner(verbosity=2).run(suite)
  name = lambda test: f'{type(test).__name__}.{test._testMethodName}'  # pylint: disable=protected-access
  return dict(
      run=result.testsRun,
      failed=[f'{name(test)}:\n{trace}'
              for test, trace in result.failures + result.errors],
      skipped=[f'{name(test)}: {reason}' for test, reason in result.skipped])


def main(result_path):
  result = dict(run_cases(), backend=keras.backend.backend())
  with open(result_path, 'w') as f:
    json.dump(result, f)


if __name__ == '__main__':
  main(sys.argv[1])
