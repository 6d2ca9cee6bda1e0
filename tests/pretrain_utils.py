"""Helpers of the pretraining tests: a tiny corpus, data, and train runs."""

import atexit
import copy
import os
import random
import shutil
import sys
import tempfile

from official_td.data.beam import pipeline
from official_td.data.examples import options as data_options
from official_td.data.text import sources
from tests import entry_points
from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SENTENCES = [
    'the cat sat on the mat and looked at the dog.',
    'a dog ran in the park with a red ball.',
    'the sun is bright and the sky is blue today.',
    'she reads a book about the history of the sea.',
    'we eat bread and cheese for lunch every day.',
    'the train leaves the station at nine in the morning.',
]


def tiny_corpus(num_documents=60, sentences=SENTENCES):
  """Repetitive documents: a tiny model learns them in tens of steps."""
  return ['\n'.join(sentences[(d + i) % len(sentences)] for i in range(4))
          for d in range(num_documents)]


# The same prose as a cased BERT sees it: capitals that an uncased model
# would lose ('Cat' and 'cat' are different words here).
CASED_SENTENCES = [s[0].upper() + s[1:] for s in SENTENCES] + [
    'Cat and Dog are the names of the two ships.',
    'the Cat sat with Dog in the park.',
]


COMMON_WORDS = (
    'the a cat dog sun sea book train park bread red blue runs reads eats '
    'with about and for at in on of').split()
SYLLABLES = 'ka lo mi nu pe ra si to vu ze bar con del fin gor hul'.split()


def varied_corpus(num_documents=60, seed=0):
  """Random sentences of common words and made-up long words (several
  WordPieces each under a small vocab): no two sequences alike, so an
  epoch's records are all different."""
  rng = random.Random(seed)

  def word():
    if rng.random() < 0.7:
      return rng.choice(COMMON_WORDS)
    return ''.join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))

  return ['\n'.join(' '.join(word() for _ in range(rng.randint(6, 14))) + '.'
                    for _ in range(4)) for _ in range(num_documents)]


# Beam in the test process (no worker start-up): the data of most tests.
IN_PROCESS = ('--direct_running_mode=in_memory', '--direct_num_workers=1')


def make_data(output_dir, documents=None, beam_args=IN_PROCESS, **overrides):
  options = data_options.DataOptions(seq_length=32, max_predictions_per_seq=5,
                            num_shards=2, eval_fraction=0.2, seed=1)
  for k, v in overrides.items():
    setattr(options, k, v)
  if documents is None:
    documents = sources.in_memory(tiny_corpus())
  return pipeline.create_pretraining_data(documents, output_dir, options,
                                     build_vocab_size=200,
                                     beam_args=beam_args)


# This process's default tiny data (make_data's), made once: [(dir, summary)].
_TINY_DATA = []


def tiny_data(output_dir):
  """Writes make_data's default tiny data to `output_dir` and returns its
  summary. The data are made once per test process and copied after: they
  are deterministic (seed 1), and every TinyDataTestCase class trains on them
  (a class's own copy, which it may damage)."""
  if not _TINY_DATA:
    made = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, made, True)
    source = os.path.join(made, 'data')
    _TINY_DATA.append((source, make_data(source)))
  source, summary = _TINY_DATA[0]
  shutil.copytree(source, output_dir)
  return copy.deepcopy(summary)


def data_bindings(data_dir):
  return [f"data.train_data = '{data_dir}/train-*'",
          f"data.eval_data = '{data_dir}/eval-*'",
          f"data.vocab_file = '{data_dir}/vocab.txt'"]


def train_command(model_dir, bindings=(), gin_file='gin/experiments/ci_tiny.gin',
                  extra_flags=()):
  cmd = [sys.executable, '-m', 'official_td.train', f'--gin_file={gin_file}',
         f'--model_dir={model_dir}']
  cmd += [f'--gin_bindings={b}' for b in bindings]
  return cmd + list(extra_flags)


def env(**extra):
  environ = dict(os.environ)
  environ['PYTHONPATH'] = REPO + os.pathsep + environ.get('PYTHONPATH', '')
  # The entry points choose their own console level, as for a user.
  environ.pop('TF_CPP_MIN_LOG_LEVEL', None)
  environ.update(extra)
  return environ


def run_train(model_dir, bindings=(), timeout=600, check=True, **kwargs):
  proc = entry_points.run(train_command(model_dir, bindings, **kwargs),
                        cwd=REPO, env=env(), capture_output=True, text=True,
                        timeout=timeout)
  if check and proc.returncode:
    raise AssertionError(f'train failed ({proc.returncode}):\n'
                         f'{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}')
  return proc


def assert_clean_error(test, proc, message):
  """A user's mistake ended as designed: exit code 1, exactly one `Error:`
  line (naming `message`) on stderr, and no traceback anywhere."""
  test.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
  errors = [l for l in proc.stderr.splitlines() if l.startswith('Error: ')]
  test.assertLen(errors, 1, proc.stderr[-3000:])
  test.assertIn(message, proc.stderr)
  test.assertNotIn('Traceback', proc.stdout + proc.stderr)


def contrast_task(context, words, labels, n=160, seed=0):
  """`n` (text, label) rows that one word alone tells apart: five words of
  `context` with `words[0]` (label `labels[0]`) or `words[1]` (`labels[1]`)
  inserted at random."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(n):
    text = list(rng.choice(context, 5))
    first = rng.random() < 0.5
    text.insert(int(rng.integers(0, 5)), words[0] if first else words[1])
    rows.append((' '.join(text), labels[0] if first else labels[1]))
  return rows


def pretrain_and_finetune(root, sentences, rows, train_steps, **data_options):
  """Data from `tiny_corpus(sentences=sentences)` (with `data_options`),
  a run of `train_steps` on it, and a classifier fine-tuned from it on
  `rows` ((text, label); the first 128 train, the rest evaluate), in `root`.

  Returns:
    (the data's summary, the data dir, the pretraining run, the fine-tuning
    run, the fine-tuning results).
  """
  import csv  # pylint: disable=g-import-not-at-top
  from official_td.tasks import classification  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(root, 'data')
  summary = make_data(data_dir, sources.in_memory(tiny_corpus(
      sentences=sentences)), **data_options)
  pretrained = os.path.join(root, 'pretrained')
  run_train(pretrained, data_bindings(data_dir) + [
      f'run.train_steps = {train_steps}'])
  for name, part in (('train', rows[:128]), ('eval', rows[128:])):
    with open(os.path.join(root, f'{name}.csv'), 'w', newline='') as f:
      writer = csv.writer(f)
      writer.writerow(['text', 'label'])
      writer.writerows(part)
  finetuned = os.path.join(root, 'finetuned')
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import  (the exports' ops)
  results = classification.finetune(classification.FinetuneConfig(
      pretrained_dir=pretrained, model_dir=finetuned,
      train_file=os.path.join(root, 'train.csv'),
      eval_file=os.path.join(root, 'eval.csv'), seq_length=16,
      batch_size=16, epochs=15, learning_rate=3e-3, dropout=0.0))
  return summary, data_dir, pretrained, finetuned, results


class TinyDataTestCase(tu.TestCase):
  """The tiny pretraining data in a temp dir of the class's own."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.data_dir = os.path.join(cls.root, 'data')
    cls.summary = tiny_data(cls.data_dir)
    cls.bindings = data_bindings(cls.data_dir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()


def run_entry_point(module, args, timeout=600):
  """Runs `python -m MODULE ARGS` from the repository, as a user would."""
  return entry_points.run([sys.executable, '-m', module] + list(args),
                        cwd=REPO, env=env(), capture_output=True, text=True,
                        timeout=timeout)
