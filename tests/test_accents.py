"""Casing and accents are two facts: lower-cased text that keeps its accents.

Uncased BERTs of Spanish and Portuguese (Hugging Face `do_lower_case: true,
strip_accents: false`) lower-case and keep accents. Here such a run goes
end to end: data (`--lower_case --nostrip_accents`, a vocab learned so),
pretraining, fine-tuning on a task only accents tell apart ('papá', dad, or
'papa', potato), the SavedModel's in-graph tokenizer and the Hugging Face
export; each reads the fact from the data's summary or the run's record.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from official_td import casing
from official_td import export
from official_td import vocab as vocab_lib
from official_td.data.beam import pipeline
from official_td.data.examples import options as data_options
from official_td.data.examples import tokenization
from official_td.data.text import sources
from official_td.interop import hf_export
from tests import pretrain_utils as pu
from tests import testing_utils as tu

SPANISH = [
    'el papá come una papa en la cocina.',
    'La canción de María es muy bonita.',
    'Él está en el café con su mamá.',
    'mi papá compró papas en el mercado.',
    'la niña leyó un libro de historia.',
    'El tren sale de la estación a las nueve.',
]
ACCENT_PAIR = ['el papá come en la cocina', 'el papa come en la cocina']


class LowerCaseWithAccentsTest(tu.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    rows = pu.contrast_task('el come una en la cocina mi'.split(),
                            ('papá', 'papa'), ('dad', 'potato'))
    (cls.summary, cls.data_dir, cls.pretrained, cls.finetuned,
     cls.results) = pu.pretrain_and_finetune(
         cls.root, SPANISH, rows, 10, lower_case=True, strip_accents=False)
    cls.vocab = vocab_lib.load_vocab(os.path.join(cls.data_dir, 'vocab.txt'))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_data_and_vocab_keep_accents_and_lose_capitals(self):
    self.assertEqual((self.summary['lower_case'],
                      self.summary['strip_accents']), (True, False))
    self.assertEqual(vocab_lib.vocab_casing(self.vocab), (True, False))
    # The data's tokenizer: 'Papá' is 'papá', not 'papa' and not [UNK].
    tokenizer = tokenization.WordPieceTokenizer(
        os.path.join(self.data_dir, 'vocab.txt'), casing.Casing(True, False))
    ids = [tokenizer.tokenize([t])[0].tolist()
           for t in ('Papá', 'papá', 'papa')]
    self.assertEqual(ids[0], ids[1])
    self.assertNotEqual(ids[1], ids[2])
    self.assertNotIn(self.vocab.index('[UNK]'), ids[0] + ids[2])
    # The same vocab with accents stripped is refused before any work.
    with self.assertRaisesRegex(ValueError, r'keeps accents \(entries such '
                                r'as .*pass --nostrip_accents'):
      pipeline.create_pretraining_data(
          sources.in_memory(SPANISH), os.path.join(self.root, 'refused'),
          data_options.DataOptions(seq_length=32, max_predictions_per_seq=5),
          vocab_file=os.path.join(self.data_dir, 'vocab.txt'),
          beam_args=pu.IN_PROCESS)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'refused')))

  def test_runs_record_it_and_fine_tuning_learns_what_only_accents_tell(self):
    results = json.load(open(os.path.join(self.pretrained, 'results.json')))
    self.assertEqual((results['data_lower_case'],
                      results['data_strip_accents']), (True, False))
    config = json.load(open(os.path.join(self.finetuned,
                                         'finetune_config.json')))
    self.assertEqual((config['lower_case'], config['strip_accents']),
                     (True, False))
    self.assertGreaterEqual(self.results['eval_accuracy'], 0.9)

  def test_saved_model_and_hugging_face_export_keep_accents(self):
    path = export.export(self.finetuned, os.path.join(self.root, 'exports'),
                         'classifier', 1)
    served = tf.saved_model.load(path).signatures['serving_default']
    labels = served(text=tf.constant(ACCENT_PAIR + ['EL PAPÁ come en la '
                                                    'cocina']))['label_name']
    self.assertEqual(list(labels.numpy()), [b'dad', b'potato', b'dad'])
    # The in-graph tokenizer gives the data tokenizer's ids.
    module = export.build_serving_module(self.finetuned)
    tokenizer = tokenization.WordPieceTokenizer(
        os.path.join(self.data_dir, 'vocab.txt'), casing.Casing(True, False))
    line = 'Él comió la Papa de mamá'
    ids = module.preprocessor(tf.constant([line]))['input_word_ids'].numpy()
    pieces = tokenizer.tokenize([line])[0]
    self.assertEqual(ids[0, 1:len(pieces) + 1].tolist(), pieces.tolist())
    for name, run in (('pretrained', self.pretrained),
                      ('finetuned', self.finetuned)):
      target = hf_export.export(run, os.path.join(self.root, f'hf_{name}'))
      tokenizer_config = json.load(open(os.path.join(
          target, 'tokenizer_config.json')))
      self.assertEqual((tokenizer_config['do_lower_case'],
                        tokenizer_config['strip_accents']), (True, False),
                       name)


if __name__ == '__main__':
  tf.test.main()
