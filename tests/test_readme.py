"""Runs the commands of the README and of docs/, in order, with tiny settings.

Every `bash` and `python` block of README.md, and of the pages in DOCS, is
executed in a scratch workspace (the package and gin files linked in), so the
paths they use (`runs/...`, `exports/...`) are real: the README first, then
docs/ in the same workspace, which use the README's outputs (a command the
docs repeat runs once). The pages run in two workspaces, on two test workers:
the README with the pages that follow from all of it, and the other pages
after the README commands whose outputs they read (PREREQUISITES), as a
reader who ran only those would; the first of those, which depend on no
command before them, run once for both (SHARED_PREREQUISITES). Each command
gets tiny settings appended (absl takes the last value of a repeated flag,
gin the last binding), never edits of its own bindings, so a command that
lacks a binding it needs fails here as it would for a user. The accelerator
commands run on the machine's proxies: `gs://bucket` is a scratch directory
(holding, under `data/`, the demo's data, as a user's bucket holds theirs),
`--strategy=tpu` and `--strategy=mirrored` two CPU replicas
(`--cpu_replicas=2`), BERT-base the tiny shape; and since the README runs
`train` and `study` in full on one device, those commands are checked with
`--dry_run` (flags, bindings, data and init checkpoint resolved, the model
built on the two replicas, one batch read). A command that cannot run on this
machine is listed in NOT_RUNNABLE with the reason, and every entry there must
skip something (no stale reasons).
"""

import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from tests import checkpoint_utils
from tests import corpus_fakes
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu

README = os.path.join(pu.REPO, 'README.md')
# In the order they run (each may use the outputs of those before it): after
# the whole README, and in a workspace of their own after the README's
# PREREQUISITES.
DOCS_AFTER_README = ('docs/data_pipeline.md', 'docs/interop.md')
DOCS_ON_THEIR_OWN = ('docs/training_internals.md', 'docs/keras_hub.md',
                     'docs/method.md', 'docs/study.md', 'docs/results.md')
DOCS = DOCS_AFTER_README + DOCS_ON_THEIR_OWN
# The README commands whose outputs DOCS_ON_THEIR_OWN read (substring ->
# what): the quickstart's data and run, the fine-tuning data, the Hugging
# Face export.
PREREQUISITES = {
    'official_td.train --gin_file=gin/experiments/demo.gin':
        'runs/demo_data and runs/demo',
    'embedded_classification_task': 'runs/cls_data',
    '--model_dir=runs/demo --export_dir=exports/demo_hf': 'exports/demo_hf',
}
# Of those, the ones whose outputs depend on nothing before them (the
# README's first command, and a task made from the embedded corpus alone):
# run once in a test session, in a workspace of their own, and copied into
# both workspaces (command -> the outputs copied).
SHARED_PREREQUISITES = {
    'official_td.train --gin_file=gin/experiments/demo.gin':
        ('runs/demo_data', 'runs/demo'),
    'embedded_classification_task': ('runs/cls_data',),
}

# Substring of a command -> why it cannot run here.
NOT_RUNNABLE = {
    'DataflowRunner': 'submits a Dataflow job (tests/test_data_pipeline.py '
                      'builds the same job offline with --dry_run=True)',
    'gcloud ': 'needs a TPU slice (the command it starts on the slice is '
               'run above)',
    '--tfds_name=': 'needs a prepared TFDS dataset (a download)',
    'docker run': 'no Docker engine on the test machine',
    'curl ': 'needs the TF Serving container',
    'pytest': 'the quickstart test command: .ci/run executes it verbatim',
    'pip install -r requirements.txt ': 'installs packages: quickstart '
                                        'command 1 installs them',
    'pip install --no-deps .': 'installs the package: '
                               'tests/test_packaging.py does it',
    'git clone': 'the tests run in the clone',
    'storage.googleapis.com': 'a download (a google-research/bert '
                              'directory of the tiny shape is written '
                              'instead, see FAKE_DOWNLOADS)',
    'unzip ': 'the download above',
    'for round in 1 2 3': 'needs a worktree of release 0.2 and the '
                          'benchmark corpus (docs/results.md)',
    'runs/study_results': 'the study behind docs/results.md (an hour); the '
                          "README's study command runs the same program",
    'npm pack': 'a download from the npm and Debian registries (packages '
                'of the same layout are written instead, see FAKE_DOWNLOADS)',
    'scale_': 'the study at scale (hours; docs/results.md)',
}



def _google_bert_mini(directory, work):
  """Stands for Google's BERT-Mini download: a google-research/bert
  directory of the tiny model's shape, with the demo data's vocab."""
  vocab = os.path.join(work, 'runs', 'demo_data', 'vocab.txt')
  shape = dict(vocab_size=len(open(vocab).read().splitlines()),
               hidden_size=32, num_layers=3, num_attention_heads=2,
               inner_dim=64, max_sequence_length=32, type_vocab_size=2)
  checkpoint_utils.write_google_bert_directory(directory, shape, vocab)


def _registry_packages(directory, work):
  """Stands for the npm dataset packages and the Debian commentary
  packages: tiny archives of their layout."""
  del work
  corpus_fakes.write_fake_packages(directory)


def _hugging_face_bert(directory, work):
  """Stands for `huggingface-cli download bert-base-uncased`: a Hugging Face
  BERT directory in bert-base-uncased's published layout (gamma/beta, the
  next-sentence head, hidden_act 'gelu'; `checkpoint_utils`) of the tiny
  model's shape with the demo data's vocab, written without the project's
  exporter."""
  vocab = os.path.join(work, 'runs', 'demo_data', 'vocab.txt')
  shape = dict(vocab_size=len(open(vocab).read().splitlines()),
               hidden_size=32, num_layers=3, num_attention_heads=2,
               inner_dim=64, max_sequence_length=32, type_vocab_size=2)
  checkpoint_utils.write_hf_bert_directory(directory, shape, vocab)


# Paths the docs download (not possible here) -> what writes a stand-in.
FAKE_DOWNLOADS = {'uncased_L-4_H-256_A-4': _google_bert_mini,
                  'downloads': _registry_packages,
                  'bert-base-uncased': _hugging_face_bert}
# Where a user's bucket would be: a scratch directory of the workspace, its
# `data/` the demo's data.
BUCKET = 'gs://bucket'
BUCKET_DATA = ('data', os.path.join('runs', 'demo_data'))
# Commands on accelerators: two CPU replicas instead, and for the programs
# the README runs in full on one device, a dry run.
ACCELERATOR_FLAGS = ('--strategy=tpu', '--strategy=mirrored')
DRY_RUN_PROGRAMS = ('official_td.train', 'official_td.study')

TINY_DATA = ['--vocab_sample_mb=0.25', '--seq_length=32',
             '--max_predictions_per_seq=5', '--build_vocab_size=400']
TINY_MODEL = ['encoder.num_layers = 3', 'encoder.hidden_size = 32',
              'encoder.num_attention_heads = 2', 'encoder.inner_dim = 64',
              'encoder.max_sequence_length = 32', 'encoder.keep_k = 16',
              'data.seq_length = 32', 'data.max_predictions_per_seq = 5',
              'run.train_steps = 10', 'run.steps_per_loop = 5',
              'run.checkpoint_interval = 5', 'run.eval_interval = 10',
              'run.summary_interval = 5', 'run.global_batch_size = 8',
              'run.eval_batch_size = 8', 'run.eval_steps = 3']
TINY_FINETUNE = ['finetune.seq_length = 32', 'finetune.epochs = 1',
                 'finetune.max_examples = 64', 'finetune.batch_size = 16']
TINY_STUDY = ['--budgets=1.0', '--seeds=1', '--evals_per_run=1',
              '--benchmark_steps=2']
TINY_DATA_BENCHMARK = ['--size_mb=0.3', '--scale=2', '--vocab_size=500',
                       '--seq_length=32', '--max_predictions_per_seq=5',
                       '--noone_worker_8x']
TINY_INPUT_RATE = ['--seq_lengths=32', '--batches=2', '--max_documents=40',
                   '--global_batch_size=16', '--replicas=2']
TINY_BENCHMARK = ['--num_layers=2', '--hidden_size=16',
                  '--num_attention_heads=2', '--inner_dim=32',
                  '--vocab_size=300', '--seq_length=32', '--keep_k=16',
                  '--max_predictions=4', '--batch_size=2', '--steps=1']


def blocks(text):
  """(language, body) of each fenced block."""
  return re.findall(r'```(bash|python)\n(.*?)```', text, re.S)


def bash_commands(body):
  """Commands of a bash block: continuation lines joined, comments dropped."""
  commands, current = [], ''
  for line in body.splitlines():
    if not current and line.lstrip().startswith('#'):
      continue
    current += line.rstrip('\\').rstrip() + ' ' if line.endswith('\\') else line
    if not line.endswith('\\'):
      if current.strip():
        commands.append(current.strip())
      current = ''
  return commands


def tiny(command):
  """Appends the tiny settings to each `python -m` invocation it holds."""
  command = re.sub(r'python3 -m venv \.venv && \.venv/bin/pip install -q '
                   r'uv==[0-9.]+ && \.venv/bin/uv pip install -q '
                   r'--compile-bytecode --python \.venv/bin/python -r '
                   r'requirements(-dataflow)?\.txt && ', '', command)
  if 'pip install' in command:
    raise ValueError(f'tiny() left an install in {command!r}')
  command = command.replace('.venv/bin/python', 'python')
  # Split at `&&`, `||` and a subshell's closing parenthesis (not one inside
  # a quoted gin value).
  parts = re.split(r'(&&|\|\||\)(?=\s*(?:&&|\|\||$)))', command)
  out = []
  for part in parts:
    extra = []
    if 'official_td.data.create_pretraining_data' in part:
      extra = TINY_DATA
    elif 'official_td.keras_hub.train' in part:
      extra = ['--gin_bindings=' + b for b in TINY_MODEL]
    elif 'official_td.keras_hub.finetune' in part:
      extra = ['--gin_bindings=' + b for b in TINY_FINETUNE]
    elif 'official_td.benchmarks.keras_step_time' in part:
      extra = TINY_BENCHMARK
    elif 'official_td.train' in part or 'official_td.study' in part:
      extra = ['--gin_bindings=' + b for b in TINY_MODEL]
      if 'official_td.study' in part:
        extra += ['--finetune_bindings=' + b for b in TINY_FINETUNE]
        extra += TINY_STUDY
    elif 'official_td.finetune' in part:
      extra = ['--gin_bindings=' + b for b in TINY_FINETUNE]
    elif 'official_td.benchmarks.step_time' in part and '--gin_file' in part:
      extra = ['--gin_bindings=' + b for b in TINY_MODEL] + ['--steps=1']
    elif 'official_td.benchmarks.step_time' in part:
      extra = TINY_BENCHMARK
    elif 'official_td.benchmarks.input_rate' in part:
      extra = TINY_INPUT_RATE
    elif 'official_td.benchmarks.data_pipeline' in part:
      extra = TINY_DATA_BENCHMARK
    elif 'official_td.export' in part:
      extra = ['--seq_length=32']
    out.append(part.rstrip() + (' ' + ' '.join(f"'{e}'" for e in extra) + ' '
                                if extra else ''))
  return ''.join(out)


class ReadmeTest(tu.TestCase):

  def test_quickstart_is_first_and_ci_runs_its_test_command(self):
    text = open(README).read()
    quick = text.split('## Quickstart', 1)[1].split('\n## ', 1)[0]
    commands = bash_commands(blocks(quick)[0][1])
    self.assertLen(commands, 2)
    self.assertIn('official_td.train --gin_file=gin/experiments/demo.gin',
                  commands[0])
    self.assertIn('pytest', commands[1])
    ci = open(os.path.join(pu.REPO, '.ci', 'run')).read()
    self.assertIn('## Quickstart', ci)  # .ci/run reads the command from here.

  def test_every_page_of_docs_is_run(self):
    pages = sorted(os.path.relpath(p, pu.REPO) for p in glob.glob(
        os.path.join(pu.REPO, 'docs', '*.md')))
    self.assertEqual(pages, sorted(DOCS))

  def test_every_skip_names_a_command_it_skips(self):
    """No stale reasons: each NOT_RUNNABLE entry skips some command of the
    README or of docs/ (read, not run)."""
    commands = [c for page in [README] + [os.path.join(pu.REPO, p)
                                          for p in DOCS]
                for language, body in blocks(open(page).read())
                if language == 'bash' for c in bash_commands(body)]
    self.assertEqual(sorted(k for k in NOT_RUNNABLE
                            if not any(k in c for c in commands)), [],
                     'NOT_RUNNABLE entries that skip nothing')



class ReadmeCommandsTest(tu.TestCase):

  def test_readme_then_the_data_and_interop_docs_run(self):
    """The README's commands, then those of DOCS_AFTER_README in the same
    workspace: the docs use the README's outputs (runs/demo, its fine-tuning
    data, its Hugging Face export) as a reader who followed the README has
    them."""
    with Workspace(self) as work:
      work.copy_shared_prerequisites()
      work.run_pages([README])
      from_readme = len(work.ran)
      self.assertGreaterEqual(from_readme, 10)
      self.assertTrue(os.path.exists(os.path.join(
          work.path, 'runs', 'study', 'loss_vs_time.png')))
      self.assertTrue(os.path.exists(os.path.join(
          work.path, 'exports', 'td_bert', '1', 'saved_model.pb')))
      work.run_pages([os.path.join(pu.REPO, page)
                      for page in DOCS_AFTER_README])
      self.assertGreaterEqual(len(work.ran) - from_readme, 15)
      # The cased walkthrough (docs/interop.md) stayed cased to the end.
      self.assertIs(work.read('runs', 'cased', 'results.json')[
          'data_lower_case'], False)
      self.assertIs(work.read('runs', 'cased_finetune',
                              'finetune_config.json')['lower_case'], False)
      self.assertIs(work.read('exports', 'cased_hf', 'tokenizer_config.json')[
          'do_lower_case'], False)


class DocsCommandsTest(tu.TestCase):

  def test_the_other_docs_run_after_the_readme_commands_they_read(self):
    """DOCS_ON_THEIR_OWN, after the README's PREREQUISITES (each names one
    README command: no stale entries)."""
    with Workspace(self) as work:
      work.run_readme_prerequisites()
      self.assertLen(work.ran, len(PREREQUISITES))
      work.run_pages([os.path.join(pu.REPO, page)
                      for page in DOCS_ON_THEIR_OWN])
      self.assertGreaterEqual(len(work.ran) - len(PREREQUISITES), 10)
      # docs/keras_hub.md: fit on JAX ends where the Model Garden trainer
      # does on the same data, config and steps (tiny here; the demo's
      # figures are in docs/results.md).
      garden, keras_hub = (work.read('runs', name, 'results.json')
                           for name in ('demo', 'demo_keras'))
      self.assertEqual(keras_hub['backend'], 'jax')
      self.assertEqual(keras_hub['step'], garden['step'])
      self.assertLess(abs(keras_hub['eval_mlm_loss'] -
                          garden['eval_mlm_loss']), 0.05)


class Workspace:
  """A scratch directory with the package and gin files linked in, where
  commands run as a user's shell runs them, with tiny settings."""

  def __init__(self, test, path=None):
    """A workspace for `test`: a fresh temporary directory removed at the
    end, or `path` (made here, and kept)."""
    self.test = test
    self.ran, self.skipped = [], []
    self.ran_parts = set()
    self.keep = path is not None
    self.path = path

  def __enter__(self):
    if self.keep:
      os.makedirs(self.path)
    else:
      self.path = tempfile.mkdtemp()
    work = self.path
    for name in ('official_td', 'gin', 'requirements.txt'):
      os.symlink(os.path.join(pu.REPO, name), os.path.join(work, name))
    bindir = os.path.join(work, 'bin')
    os.makedirs(bindir)
    # The shell's `python`: the venv's interpreter, or for a Model Garden
    # entry point a process forked from a warm one (tests/entry_points.py).
    entry_points.shared_relay().shim(os.path.join(bindir, 'python'))
    for tool in ('saved_model_cli',):
      os.symlink(os.path.join(os.path.dirname(sys.executable), tool),
                 os.path.join(bindir, tool))
    self.env = pu.env(PATH=bindir + os.pathsep + os.environ['PATH'],
                      PYTHONPATH=work)
    # Inputs the "your own data" examples name.
    os.makedirs(os.path.join(work, 'corpus'))
    with open(os.path.join(work, 'corpus', 'a.txt'), 'w') as f:
      f.write('\n\n'.join(pu.tiny_corpus(40)))
    with open(os.path.join(work, 'corpus', 'b.jsonl'), 'w') as f:
      for document in pu.tiny_corpus(40):
        f.write(json.dumps({'text': document}) + '\n')
    os.makedirs(os.path.join(work, 'domain'))
    with open(os.path.join(work, 'domain', 'notes.txt'), 'w') as f:
      f.write('\n\n'.join(pu.tiny_corpus(30)))
    return self

  def __exit__(self, *exc):
    if not self.keep:
      shutil.rmtree(self.path, ignore_errors=True)

  def read(self, *parts):
    return json.load(open(os.path.join(self.path, *parts)))

  def run_readme_prerequisites(self):
    """The README commands PREREQUISITES names, in the README's order (the
    shared ones copied)."""
    self.copy_shared_prerequisites()
    for command in readme_commands(self.test, PREREQUISITES):
      if not _parts(command) <= self.ran_parts:
        self.run_command(command)

  def copy_shared_prerequisites(self):
    """The outputs of the README's SHARED_PREREQUISITES, copied from the
    session's run of them (made by the first test to ask, under a file
    lock); the commands count as run here."""
    shared = os.path.join(os.environ['OFFICIAL_TD_TESTS_SHARED'],
                          'readme_prerequisites')
    os.makedirs(shared, exist_ok=True)
    commands = readme_commands(self.test, SHARED_PREREQUISITES)
    with open(os.path.join(shared, 'lock'), 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes.
      done = os.path.join(shared, 'done')
      if not os.path.exists(done):
        # (What a test that failed here left is made again.)
        shutil.rmtree(os.path.join(shared, 'work'), ignore_errors=True)
        with Workspace(self.test, os.path.join(shared, 'work')) as first:
          for command in commands:
            first.run_command(command)
        open(done, 'w').close()
    for command in commands:
      key, = [k for k in SHARED_PREREQUISITES if k in command]
      for output in SHARED_PREREQUISITES[key]:
        shutil.copytree(os.path.join(shared, 'work', output),
                        os.path.join(self.path, output))
      self.ran.append(command)
      self.ran_parts |= _parts(command)

  def run_pages(self, pages):
    """Every python and bash block of `pages`, in order."""
    text = '\n'.join(open(page).read() for page in pages)
    for language, body in blocks(text):
      if language == 'python':
        proc = subprocess.run([sys.executable, '-c', body], cwd=self.path,
                              env=self.env, capture_output=True, text=True,
                              timeout=600)
        self.test.assertEqual(proc.returncode, 0, body + proc.stderr[-3000:])
        self.ran.append(body.splitlines()[0])
        continue
      for command in bash_commands(body):
        if _parts(command) <= self.ran_parts:
          continue  # run above (docs repeat the README, or a part of it).
        reason = [r for k, r in NOT_RUNNABLE.items() if k in command]
        if reason:
          self.skipped.append((command, reason[0]))
          continue
        self.run_command(command)

  def on_this_machine(self, command):
    return _on_this_machine(command, self.path)

  def run_command(self, command):
    """One bash command of the docs, with tiny settings."""
    work = self.path
    if 'vocab.txt' in command and 'create_pretraining_data' in command:
      command = command.replace('--vocab_file=vocab.txt',
                                '--vocab_file=runs/demo_data/vocab.txt')
    if 'train.tsv' in command:
      _write_tsv(work)
    for path, write in FAKE_DOWNLOADS.items():
      if path in command and not os.path.exists(os.path.join(work, path)):
        write(os.path.join(work, path), work)
    command = self.on_this_machine(command)
    proc = subprocess.run(['bash', '-c', tiny(command)], cwd=work,
                          env=self.env, capture_output=True, text=True,
                          timeout=900)
    self.test.assertEqual(proc.returncode, 0,
                          f'{command}\n{proc.stdout[-2000:]}\n'
                          f'{proc.stderr[-4000:]}')
    self.ran.append(command)
    self.ran_parts |= _parts(command)


def readme_commands(test, keys):
  """The README's bash commands that hold one of `keys`, in the README's
  order; each key names exactly one (no stale entries)."""
  commands = [c for language, body in blocks(open(README).read())
              if language == 'bash' for c in bash_commands(body)]
  for key in keys:
    test.assertLen([c for c in commands if key in c], 1, key)
  return [c for c in commands if any(key in c for key in keys)]


def _parts(command):
  """The programs a command runs: its parts between `&&`, as a user's
  shell in the activated environment would run them."""
  return {p.strip().replace('.venv/bin/python', 'python')
          for p in command.split('&&')}


def _on_this_machine(command, work):
  """The proxies of module docstring: the bucket, the replicas, dry runs."""
  bucket = os.path.join(work, 'gs-bucket')
  if BUCKET in command:
    name, source = BUCKET_DATA
    if not os.path.exists(os.path.join(bucket, name)):
      shutil.copytree(os.path.join(work, source), os.path.join(bucket, name))
    command = command.replace(BUCKET, bucket)
  if any(flag in command for flag in ACCELERATOR_FLAGS):
    extra = ['--cpu_replicas=2']
    if any(f'-m {p} ' in command for p in DRY_RUN_PROGRAMS):
      extra.append('--dry_run')
    command += ' ' + ' '.join(extra)
  return command


def _write_tsv(work):
  for name in ('train.tsv', 'dev.tsv'):
    with open(os.path.join(work, name), 'w') as f:
      f.write('text\tlabel\n')
      for i, sentence in enumerate(pu.SENTENCES * 4):
        f.write(f'{sentence}\t{"cat" if "cat" in sentence else i % 2}\n')
