"""Fine-tuning a token-dropped checkpoint as a plain BERT, and its export.

The run is cased end to end, as a user's bert-base-cased or multilingual
cased continued pretraining is: cased data with a vocab learned cased, and a
fine-tuning task that only a model seeing case can learn ('Cat' the name or
'cat' the animal). Fine-tuning, the SavedModel's in-graph tokenizer and both
Hugging Face exports take the casing from the run's record.
"""

import csv
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf

from official_td import export
from official_td import vocab as vocab_lib
from official_td.interop import hf_export
from official_td.tasks import classification
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu

TEXTS = ['the Cat sat on the mat', 'a dog ran in the park',
         'the cat looked at the sun', 'a Dog reads a book']
CASE_PAIR = ['the Cat ran in the park', 'the cat ran in the park']


def write_csv(path, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['text', 'label'])
    writer.writerows(rows)


class FinetuneExportTest(tu.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    # A task only case tells apart: the name 'Cat' or the animal 'cat'.
    rows = pu.contrast_task(pu.SENTENCES[1].split(), ('Cat', 'cat'),
                            ('name', 'animal'))
    (_, cls.data_dir, cls.pretrained, cls.finetuned,
     cls.results) = pu.pretrain_and_finetune(
         cls.root, pu.CASED_SENTENCES, rows, 20, lower_case=False)
    cls.exports = os.path.join(cls.root, 'exports')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_pretrained_weights_load_into_plain_bert_encoder_v2(self):
    encoder, run = classification.load_pretrained_encoder(self.pretrained)
    self.assertEqual(type(encoder).__name__, 'BertEncoderV2')
    self.assertEqual(run.encoder_kwargs['num_layers'], 3)
    self.assertTrue(os.path.exists(run.vocab_file))
    reader = tf.train.load_checkpoint(run.checkpoint)
    key = ('encoder/_transformer_layers/1/_attention_layer/_query_dense/'
           'kernel/.ATTRIBUTES/VARIABLE_VALUE')
    layer = encoder.transformer_layers[1]
    self.assertAllEqual(reader.get_tensor(key),
                        layer._attention_layer._query_dense.kernel.numpy())
    self.assertFalse(any('importance' in v.name for v in encoder.variables))

  def test_finetuning_reports_metrics_of_a_task_only_case_tells_apart(self):
    self.assertEqual(self.results['num_classes'], 2)
    self.assertEqual(self.results['label_names'], ['animal', 'name'])
    for key in ('eval_accuracy', 'eval_f1', 'eval_matthews_corr'):
      self.assertIn(key, self.results)
    # Lower-cased, both labels' texts are the same words: chance, 50%.
    self.assertFalse(self.results['lower_case'])
    self.assertGreater(self.results['eval_accuracy'], 0.8)
    self.assertTrue(os.path.exists(self.results['checkpoint'] + '.index'))

  def test_mixed_float16_finetuning_through_the_command(self):
    model_dir = os.path.join(self.root, 'finetuned_fp16')
    bindings = [f"finetune.pretrained_dir = '{self.pretrained}'",
                f"finetune.train_file = '{self.root}/train.csv'",
                f"finetune.eval_file = '{self.root}/eval.csv'",
                'finetune.seq_length = 16', 'finetune.batch_size = 16',
                'finetune.epochs = 2', 'finetune.max_examples = 64',
                'finetune.learning_rate = 3e-3',
                'finetune.dropout = 0.0',
                "finetune.mixed_precision = 'mixed_float16'"]
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.finetune',
         '--gin_file=gin/finetune/csv.gin', f'--model_dir={model_dir}'] +
        [f'--gin_bindings={b}' for b in bindings],
        cwd=pu.REPO, env=pu.env(), capture_output=True, text=True,
        timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
    results = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(results['mixed_precision'], 'mixed_float16')
    self.assertGreater(results['loss_scale'], 1.0)  # a LossScaleOptimizer.
    self.assertTrue(np.isfinite(results['final_train_loss']))

  def test_metrics_match_definitions(self):
    m = classification.classification_metrics([1, 1, 0, 0, 1], [1, 0, 0, 1, 1],
                                              2)
    self.assertAlmostEqual(m['accuracy'], 0.6)
    self.assertAlmostEqual(m['f1'], 2 * 2 / (2 * 2 + 1 + 1))
    self.assertAlmostEqual(m['matthews_corr'], (2 * 1 - 1 * 1) / np.sqrt(
        3 * 3 * 2 * 2))

  def test_bad_csv_column_is_named(self):
    path = os.path.join(self.root, 'bad.csv')
    write_csv(path, [('x', 'y')])
    with self.assertRaisesRegex(ValueError, "no column 'sentence'"):
      classification.read_delimited(path, 'sentence', 'label')

  def finetune_command(self, model_dir, **bindings):
    values = dict(pretrained_dir=self.pretrained,
                  train_file=os.path.join(self.root, 'train.csv'),
                  eval_file=os.path.join(self.root, 'eval.csv'))
    values.update(bindings)
    return (['--gin_file=gin/finetune/csv.gin', f'--model_dir={model_dir}',
             '--gin_bindings=finetune.seq_length = 16'] +
            [f"--gin_bindings=finetune.{k} = '{v}'" for k, v in values.items()])

  def test_finetune_command_ends_bad_inputs_with_one_clean_error(self):
    """Through the command: exit 1, one `Error:` line naming the binding,
    the value and the fix, no traceback, and no model directory."""
    missing = os.path.join(self.root, 'missing.tsv')
    other_columns = os.path.join(self.root, 'other_columns.tsv')
    with open(other_columns, 'w') as f:
      f.write('sentence\tlabel\nthe cat\tcat\n')
    unseen = os.path.join(self.root, 'unseen_label.csv')
    write_csv(unseen, [('the cat sat', 'animal'), ('a dog ran', 'dog')])
    cases = [
        (dict(train_file=missing),
         f"finetune.train_file='{missing}' does not exist: point "
         'finetune.train_file at a CSV'),
        (dict(eval_file=other_columns),
         f"finetune.eval_file='{other_columns}' has no column 'text' "
         "(finetune.text_column); its columns are ['sentence', 'label']: set "
         'finetune.text_column to one of them'),
        (dict(eval_file=unseen),
         f"finetune.eval_file='{unseen}' has labels ['dog'] that "
         'finetune.train_file never has'),
        (dict(pretrained_dir=self.root),
         f"finetune.pretrained_dir='{self.root}' is not a finished run"),
    ]
    for i, (bindings, message) in enumerate(cases):
      model_dir = os.path.join(self.root, f'refused_finetune_{i}')
      proc = pu.run_entry_point('official_td.finetune',
                                self.finetune_command(model_dir, **bindings))
      pu.assert_clean_error(self, proc, message)
      self.assertFalse(os.path.exists(model_dir), message)

  def run_python(self, code):
    proc = entry_points.run([sys.executable, '-c', code], cwd=pu.REPO,
                          env=pu.env(), capture_output=True, text=True,
                          timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
    return proc.stdout

  def test_encoder_export_loads_in_a_fresh_process_with_same_outputs(self):
    path = export.export(self.pretrained, self.exports, 'encoder', 1, 16)
    self.assertEqual(path, os.path.join(self.exports, 'encoder', '1'))
    show = entry_points.run(
        [os.path.join(os.path.dirname(sys.executable), 'saved_model_cli'),
         'show', '--dir', path, '--all'], capture_output=True, text=True,
        timeout=300, env=pu.env())
    self.assertEqual(show.returncode, 0, show.stderr[-2000:])
    for name in ("signature_def['serving_default']",
                 "signature_def['serving_tokenized']", "inputs['text']",
                 "outputs['pooled_output']", "outputs['sequence_output']"):
      self.assertIn(name, show.stdout)
    module = export.build_serving_module(self.pretrained, 16)
    expected = module.serve_text(tf.constant(CASE_PAIR))[
        'pooled_output'].numpy()
    out = self.run_python(
        'import json, tensorflow as tf, tensorflow_text\n'
        f'm = tf.saved_model.load({path!r})\n'
        'r = tf.train.load_checkpoint(' + repr(path + '/variables/variables')
        + ').get_variable_to_shape_map()\n'
        'assert r and not any("importance" in k for k in r), sorted(r)\n'
        f'o = m.signatures["serving_default"](text=tf.constant({CASE_PAIR!r}))\n'
        'print(json.dumps(o["pooled_output"].numpy().tolist()))\n')
    got = np.array(json.loads(out.strip().splitlines()[-1]))
    self.assertAllClose(got, expected, atol=1e-5)
    # The served model sees case: 'Cat' is its own vocab entry, and texts
    # differing only in case give other outputs.
    vocab = vocab_lib.load_vocab(os.path.join(self.data_dir, 'vocab.txt'))
    ids = module.preprocessor(tf.constant(['Cat cat']))['input_word_ids']
    self.assertEqual(list(ids.numpy()[0, :4]),
                     [vocab.index(t) for t in ('[CLS]', 'Cat', 'cat',
                                               '[SEP]')])
    self.assertGreater(np.abs(got[0] - got[1]).max(), 1e-4)
    with self.assertRaisesRegex(ValueError, 'never overwritten'):
      export.export(self.pretrained, self.exports, 'encoder', 1, 16)

  def test_classifier_export_runs_with_saved_model_cli(self):
    path = export.export(self.finetuned, self.exports, 'classifier', 3)
    module = export.build_serving_module(self.finetuned)
    expected = module.serve_text(tf.constant(TEXTS[:1]))
    proc = entry_points.run(
        [sys.executable, '-m', 'official_td.saved_model_cli', 'run', '--dir',
         path, '--tag_set', 'serve', '--signature_def', 'serving_default',
         '--input_exprs', f'text=["{TEXTS[0]}"]'], cwd=pu.REPO, env=pu.env(),
        capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    probs = proc.stdout.split('Result for output key probabilities:')[1]
    values = np.array([float(x) for x in
                       probs.replace('[', ' ').replace(']', ' ').split()])
    self.assertAllClose(values, expected['probabilities'].numpy()[0],
                        atol=1e-5)
    label = expected['label_name'].numpy()[0].decode()
    self.assertIn(f"[b'{label}']", proc.stdout)
    # Tokenized inputs give the same answer as raw text.
    inputs = module.preprocessor(tf.constant(TEXTS[:1]))
    tokenized = module.serve_tokenized(**inputs)
    self.assertAllClose(tokenized['probabilities'], expected['probabilities'])
    # The served classifier tells the name from the animal, as it learned.
    served = tf.saved_model.load(path).signatures['serving_default'](
        text=tf.constant(CASE_PAIR))
    self.assertEqual(list(served['label_name'].numpy()), [b'name', b'animal'])

  def test_hugging_face_exports_keep_the_runs_casing(self):
    for name, run in (('pretrained', self.pretrained),
                      ('finetuned', self.finetuned)):
      target = hf_export.export(run, os.path.join(self.root, f'hf_{name}'))
      tokenizer = json.load(open(os.path.join(target,
                                              'tokenizer_config.json')))
      self.assertIs(tokenizer['do_lower_case'], False, name)


if __name__ == '__main__':
  tf.test.main()
