"""What a data directory and a run directory hold: their files and facts.

The one place that knows the layout of the directories this project writes
and what each says about itself; every reader (training, fine-tuning, both
exports, the study, `run.init_checkpoint`) asks here instead of re-deriving
a fact from a file name or a default.

A data directory (`create_pretraining_data --output_dir`):
  train-*.tfrecord, eval-*.tfrecord, `vocab.txt`, and `data_summary.json`,
  written last: the settings (casing, shapes, masking) and the counts; a
  directory without it is incomplete.

A pretraining run (`official_td.train --model_dir`):
  checkpoints, `operative_config.gin`, `importance.npy` (the final importance
  table), `encoder_config.json` (the `BertEncoderV2` arguments), `vocab.txt`
  (the data's), and `results.json`, written last: the run's figures and its
  data's casing and accents (`data_lower_case`, `data_strip_accents`).

A fine-tuning run (`official_td.finetune --model_dir`):
  a checkpoint (encoder and classifier), `finetune_config.json` (the encoder
  arguments, labels, sequence length, casing), `vocab.txt`, and
  `results.json`, written last.

A run is finished when its `results.json` is there.
"""

import dataclasses
import os
from typing import Dict, Optional

import tensorflow as tf

from official_td import casing as casing_lib
from official_td import publish
from official_td import vocab as vocab_lib

# Data directory.
DATA_SUMMARY = 'data_summary.json'
INCOMPLETE = '.incomplete'  # present while a pipeline writes a directory.
VOCAB = 'vocab.txt'
# Run directories.
RESULTS = 'results.json'
ENCODER_CONFIG = 'encoder_config.json'
FINETUNE_CONFIG = 'finetune_config.json'
IMPORTANCE = 'importance.npy'
OPERATIVE_CONFIG = 'operative_config.gin'

PRETRAINING = 'pretraining'
FINETUNING = 'finetuning'


def path(directory: str, name: str) -> str:
  """`directory/name` (any tf.io.gfile URL)."""
  return os.path.join(directory, name)


# ------------------------------------------------------------ data directory
def read_data_summary(data_dir: str) -> Dict:
  """`data_summary.json` of a data directory; a clear error if it is not
  there (an interrupted or foreign directory)."""
  summary_path = path(data_dir, DATA_SUMMARY)
  if not tf.io.gfile.exists(summary_path):
    raise ValueError(
        f'{data_dir!r} has no {DATA_SUMMARY}: its data creation did not '
        'finish (interrupted?) or it was not written by official_td. Re-run '
        '`python -m official_td.data.create_pretraining_data` (an interrupted '
        'output is cleared and completed), or set data.require_summary = '
        'False for records written by other tools.')
  summary = publish.read_json(summary_path)
  if 'nsp' in summary:  # written before the setting had training's name.
    summary['use_next_sentence_label'] = summary.pop('nsp')
  return summary


def data_lower_case(summary: Dict, vocab_file: Optional[str] = None) -> bool:
  """The casing a data directory was made with (its summary's, else what its
  vocab was made for, else BERT's uncased default)."""
  if 'lower_case' in summary:
    return bool(summary['lower_case'])
  return _vocab_lower_case(vocab_file)


def data_strip_accents(summary: Dict, vocab_file: Optional[str] = None
                       ) -> bool:
  """Whether a data directory's text had its accents stripped (its
  summary's; data made before the setting existed: as its casing)."""
  if summary.get('strip_accents') is not None:
    return bool(summary['strip_accents'])
  return _vocab_strip_accents(vocab_file, data_lower_case(summary,
                                                          vocab_file))


def _vocab_lower_case(vocab_file: Optional[str]) -> bool:
  if vocab_file and tf.io.gfile.exists(vocab_file):
    decided = vocab_lib.vocab_lower_case(vocab_lib.load_vocab(vocab_file))
    if decided is not None:
      return decided
  return True


def _vocab_strip_accents(vocab_file: Optional[str], lower_case: bool) -> bool:
  """A record without `strip_accents`: False where the vocab holds accents
  (they were kept), else as the casing (Hugging Face's rule)."""
  if vocab_file and tf.io.gfile.exists(vocab_file):
    if vocab_lib.vocab_casing(vocab_lib.load_vocab(vocab_file))[1] is False:
      return False
  return lower_case


# ------------------------------------------------------------ run directory
@dataclasses.dataclass(frozen=True)
class Run:
  """A finished pretraining or fine-tuning run, as its directory records it.

  Attributes:
    path: the run directory.
    kind: `PRETRAINING` or `FINETUNING`.
    encoder_kwargs: the `BertEncoderV2` arguments of its encoder.
    lower_case: whether its text is lower-cased (the data's casing, carried
      into fine-tuning).
    results: its `results.json`.
    finetune: a fine-tuning run's `finetune_config.json` (None otherwise).
    strip_accents: whether its text's accents are stripped (the data's).
  """
  path: str
  kind: str
  encoder_kwargs: Dict
  lower_case: bool
  results: Dict
  finetune: Optional[Dict] = None
  strip_accents: Optional[bool] = None

  @property
  def casing(self) -> casing_lib.Casing:
    return casing_lib.Casing.of(self.lower_case, self.strip_accents)

  @property
  def vocab_file(self) -> str:
    return path(self.path, VOCAB)

  @property
  def checkpoint(self) -> str:
    checkpoint = tf.train.latest_checkpoint(self.path)
    if checkpoint is None:
      raise ValueError(f'{self.path!r} holds no checkpoint: point at the '
                       'model directory of a finished run.')
    return checkpoint


def is_finished(model_dir: str) -> bool:
  """Whether a run directory holds a finished run."""
  return tf.io.gfile.exists(path(model_dir, RESULTS))


def is_finetuning(model_dir: str) -> bool:
  return tf.io.gfile.exists(path(model_dir, FINETUNE_CONFIG))


def read_results(model_dir: str) -> Dict:
  return publish.read_json(path(model_dir, RESULTS))


def read_run(model_dir: str, setting: str = '--model_dir') -> Run:
  """The finished run in `model_dir`.

  Args:
    model_dir: a pretraining or fine-tuning run directory.
    setting: the flag or binding `model_dir` came from, named in errors.

  Raises:
    ValueError: if `model_dir` holds no finished run.
  """
  if not is_finished(model_dir):
    raise ValueError(
        f'{setting}={model_dir!r} is not a finished run (it has no {RESULTS}):'
        f' point {setting} at the --model_dir of a finished '
        '`python -m official_td.train` (or `official_td.finetune`) run.')
  results = read_results(model_dir)
  vocab_file = path(model_dir, VOCAB)
  if is_finetuning(model_dir):
    finetune = publish.read_json(path(model_dir, FINETUNE_CONFIG))
    lower = finetune.get('lower_case')
    lower = _vocab_lower_case(vocab_file) if lower is None else lower
    strip = finetune.get('strip_accents')
    return Run(model_dir, FINETUNING, finetune['encoder'], lower, results,
               finetune, _vocab_strip_accents(vocab_file, lower)
               if strip is None else strip)
  lower = results.get('data_lower_case')
  lower = _vocab_lower_case(vocab_file) if lower is None else lower
  strip = results.get('data_strip_accents')
  return Run(model_dir, PRETRAINING,
             publish.read_json(path(model_dir, ENCODER_CONFIG)), lower,
             results, None, _vocab_strip_accents(vocab_file, lower)
             if strip is None else strip)


def write_pretraining_run(model_dir: str, encoder_kwargs: Dict,
                          vocab_file: str, results: Dict) -> None:
  """A pretraining run's record: what fine-tuning loads first, then
  `results.json` (with the data's casing), the mark of a finished run, last
  and whole."""
  publish.write_json(path(model_dir, ENCODER_CONFIG), encoder_kwargs)
  _copy_vocab(vocab_file, model_dir)
  publish.write_json(path(model_dir, RESULTS), results)


def write_finetuning_run(model_dir: str, finetune_config: Dict,
                         vocab_file: str, results: Dict) -> None:
  """A fine-tuning run's record (`finetune_config` holds `encoder`,
  `lower_case`, labels and shapes); `results.json` last and whole."""
  publish.write_json(path(model_dir, FINETUNE_CONFIG), finetune_config)
  _copy_vocab(vocab_file, model_dir)
  publish.write_json(path(model_dir, RESULTS), results)


def _copy_vocab(vocab_file: str, model_dir: str) -> None:
  copy = path(model_dir, VOCAB)
  if os.path.abspath(copy) != os.path.abspath(vocab_file):
    tf.io.gfile.copy(vocab_file, copy, overwrite=True)


def vocab_file_of(directory: str) -> str:
  """The `vocab.txt` of a data, run or checkpoint directory."""
  return path(directory, VOCAB)


def check_writable(directory: str) -> None:
  """Raises ValueError unless a run could write `directory` (local or
  `gs://`), leaving nothing behind.

  A file is written and removed in the directory, or, where it does not
  exist yet, in its nearest existing parent (where the run would create
  it): the one test that holds on object stores and for every user.
  """
  parent = directory.rstrip('/')
  while parent and not tf.io.gfile.exists(parent):
    up = os.path.dirname(parent)
    if up == parent or up.endswith(':/') or up.endswith('://'):
      break
    parent = up
  parent = parent or '.'  # a relative path under the working directory.
  try:
    if not tf.io.gfile.isdir(parent):
      raise ValueError(f'{parent!r} is not a directory')
    probe = os.path.join(parent, f'.official_td_write_check-{os.getpid()}')
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('')
    tf.io.gfile.remove(probe)
  except (ValueError, tf.errors.OpError) as e:
    message = getattr(e, 'message', None) or str(e)
    raise ValueError(
        f'--model_dir={directory!r} cannot be written ({message}); choose a '
        'directory you can write to.') from None
