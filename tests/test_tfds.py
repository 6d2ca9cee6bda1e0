"""TFDS inputs (pretraining corpus, GLUE fine-tuning) with TFDS's mock data.

`tfds.testing.mock_data` serves random examples with each dataset's real
feature spec, without the download a prepared `data_dir` would need.
"""

import os
import tempfile

import tensorflow_datasets as tfds

from official_td.data import create_pretraining_data as cpd
from official_td.data.beam import pipeline
from official_td.data.examples import options as data_options
from official_td.data.text import corpus
from official_td.tasks import classification
from tests import pretrain_utils as pu
from tests import testing_utils as tu


def mock(num_examples):
  return tfds.testing.mock_data(num_examples=num_examples,
                                policy=tfds.testing.MockPolicy.USE_CODE)


class TfdsTest(tu.TestCase):

  def test_pretraining_data_from_a_tfds_text_dataset(self):
    with mock(30):
      docs = corpus.tfds_corpus('wikipedia/20230601.en', '/prepared',
                                max_documents=20)
      self.assertLen(docs, 20)
      self.assertTrue(all(isinstance(d, str) and d for d in docs))
      # The pipeline streams the dataset in even sub-splits.
      source = cpd.make_source(tfds_name='wikipedia/20230601.en',
                               tfds_data_dir='/prepared', tfds_units=3)
      self.assertLen(set(source.units), 3)
      self.assertEqual(source.units, ('train[0%:33%]', 'train[33%:66%]',
                                      'train[66%:100%]'))
      # (TFDS's mock serves every sub-split whole: 3 x 30 documents here.)
      self.assertLen(list(source.documents()), 90)
      out = os.path.join(tempfile.mkdtemp(), 'data')
      summary = pipeline.create_pretraining_data(
          source, out, data_options.DataOptions(seq_length=16,
                                       max_predictions_per_seq=2),
          build_vocab_size=100, beam_args=pu.IN_PROCESS)
    self.assertGreater(summary['train']['sequences'], 0)
    self.assertEqual(summary['source']['units'], 3)

  def test_glue_pair_task(self):
    with mock(12):
      data = classification.read_tfds_glue('glue/mrpc', '/prepared',
                                           'validation')
    self.assertLen(data.text_a, 12)
    self.assertLen(data.text_b, 12)
    self.assertEqual(data.label_names, ['not_equivalent', 'equivalent'])
    self.assertTrue(set(data.labels.tolist()) <= {0, 1})

  def test_missing_text_feature_is_named(self):
    with mock(3):
      with self.assertRaisesRegex(ValueError, "no feature 'body'"):
        corpus.tfds_corpus('wikipedia/20230601.en', '/prepared',
                           text_key='body')

  def test_unprepared_dataset_says_how_to_prepare_it(self):
    with self.assertRaisesRegex(ValueError, 'tfds build glue'):
      classification.read_tfds_glue('glue/sst2', tempfile.mkdtemp(), 'train')

  def test_unknown_dataset(self):
    with self.assertRaisesRegex(ValueError, 'Unknown TFDS dataset'):
      corpus.tfds_corpus('no_such_dataset', tempfile.mkdtemp())
