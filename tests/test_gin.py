"""Every gin experiment parses and configures what its header says."""

import glob
import os
import re

import gin

from official_td import cli
from official_td import configurables
from official_td.benchmarks import flops
from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = ["data.train_data = 'd/train-*'", "data.vocab_file = 'd/vocab.txt'",
        "run.init_checkpoint = 'bert-base-uncased'"]


def configure(gin_file, bindings=()):
  gin.clear_config()
  cli.parse_gin([gin_file], list(bindings))
  return (configurables.encoder(), configurables.data(),
          configurables.optimizer(), configurables.run())


class GinTest(tu.TestCase):

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_every_experiment_parses(self):
    files = sorted(glob.glob(os.path.join(REPO, 'gin/experiments/*.gin')))
    self.assertGreaterEqual(len(files), 5)
    for path in files:
      encoder, data, _, run = configure(path, DATA)
      self.assertLessEqual(data.seq_length, encoder.max_sequence_length, path)
      self.assertGreater(run.train_steps, 0, path)
      with open(path) as f:
        self.assertIn('python -m official_td.train', f.read(), path)

  def test_every_figure_a_gin_comment_quotes_stands_in_results(self):
    """A cost, ratio or loss quoted in a gin file's comments (a decimal
    number, in prose rather than in a command or a setting) is a figure of
    docs/results.md; a stale or invented one fails here."""
    results = open(os.path.join(REPO, 'docs', 'results.md')).read()
    # A decimal, alone or as a factor ('0.755x').
    number = re.compile(r'(?<![\w.])(\d+\.\d+)(?![.\d]|[^\Wx])')
    missing, checked = [], 0
    for path in sorted(glob.glob(os.path.join(REPO, 'gin', '*', '*.gin'))):
      lines = open(path).read().splitlines()
      settings = {v for line in lines if not line.startswith('#')
                  for v in number.findall(line)}
      for line in lines:
        # Prose only: a command's lines are indented past '#   '.
        if not line.startswith('#') or line.startswith('#   '):
          continue
        for figure in number.findall(line):
          if figure in settings:
            continue  # a value the file sets, not a measurement.
          checked += 1
          if figure not in results:
            missing.append(f'{os.path.relpath(path, REPO)}: {figure}')
    self.assertGreaterEqual(checked, 8)
    self.assertEqual(missing, [])

  def test_paper_setting(self):
    encoder, data, optimizer, run = configure(
        'gin/experiments/bert_base_token_drop.gin', DATA)
    self.assertEqual((encoder.num_layers, encoder.hidden_size), (12, 768))
    self.assertEqual((data.seq_length, encoder.keep_k), (512, 256))
    self.assertEqual(data.max_predictions_per_seq, 76)
    self.assertEqual((run.global_batch_size, run.train_steps), (512, 1000000))
    self.assertEqual((optimizer.learning_rate, optimizer.warmup_steps),
                     (1e-4, 10000))
    self.assertTrue(encoder.token_drop)
    baseline, _, _, _ = configure('gin/experiments/bert_base_baseline.gin',
                                  DATA)
    self.assertFalse(baseline.token_drop)
    self.assertAlmostEqual(flops.FlopModel(keep_k=encoder.keep_k).ratio(),
                           0.755, places=3)

  def test_continued_pretraining_requires_its_checkpoint(self):
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, r'run.init_checkpoint set to '
                                r'`%gin.REQUIRED`'):
      configure('gin/experiments/bert_base_continued.gin', DATA[:2])
    _, _, _, run = configure('gin/experiments/bert_base_continued.gin', DATA)
    self.assertEqual(run.init_checkpoint, 'bert-base-uncased')

  def test_required_bindings_are_enforced(self):
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, r'data.train_data set to '
                                r'`%gin.REQUIRED` but not subsequently'):
      cli.parse_gin(['gin/experiments/bert_base_token_drop.gin'], [])

  def test_misspelled_binding_names_the_parameter(self):
    with self.assertRaisesRegex(ValueError, 'keep_kk'):
      configure('gin/experiments/demo.gin', ['encoder.keep_kk = 3'])

  def test_missing_gin_file(self):
    with self.assertRaisesRegex(ValueError, 'does not exist'):
      configure('gin/experiments/nope.gin')
    with self.assertRaisesRegex(ValueError, 'does not exist'):
      configure('ram://gin_test_missing/nope.gin')

  def test_gin_file_on_an_object_store_is_read(self):
    """`--gin_file=gs://...` (here ram://, the same tf.io.gfile path): the
    file, and a file it includes by its repo path, are read."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    path = 'ram://gin_test/user.gin'
    with tf.io.gfile.GFile(path, 'w') as f:
      f.write("include 'gin/experiments/demo.gin'\n"
              'encoder.keep_k = 48\n'
              "data.train_data = 'gs://bucket/train-*'\n")
    encoder, data, _, run = configure(path)
    self.assertEqual(encoder.keep_k, 48)
    self.assertEqual(data.train_data, 'gs://bucket/train-*')
    # The included demo's own settings came through.
    _, _, _, demo_run = configure('gin/experiments/demo.gin')
    self.assertEqual(run.train_steps, demo_run.train_steps)
