"""Text corpora: TFDS datasets and an embedded default (files: `readers`).

A corpus is an iterable of documents (strings). The embedded corpus is the
English prose every CPython install carries, so that a first run needs no
download: the reference topics of `pydoc_data.topics` and the docstrings of
the standard library's modules, classes and functions (read with `ast`, never
imported), with code examples, doctests and indented blocks removed.

Reading it parses some 700 files (seconds of CPU), so the first complete
read keeps the cleaned documents in a cache file (`cache_dir()`), named by a
hash of everything they derive from: the Python version, this module's own
source, and the path, size and modification time of every standard-library
file read. Any change to those names another file; a cache that cannot be
read or written is passed over (the corpus is extracted as without one).
"""

import ast
import collections
import functools
import hashlib
import itertools
import json
import os
import re
import sys
import sysconfig
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf

_CODE_LINE = re.compile(
    r'^\s*(>>>|\.\.\.|\$ |%|#|def |class |import |from \S+ import|return\b)'
    r'|[{};=]\s*$|^\s*[\]\)}]')


def clean_prose(text: str) -> str:
  """Keeps the prose of a docstring or help topic; drops code and markup.

  Indented blocks (code samples), doctest prompts, lines that end like code,
  and reStructuredText directives are removed; paragraphs are re-joined into
  single lines.

  Args:
    text: raw text.

  Returns:
    Paragraphs separated by newlines; empty if nothing prose-like remains.
  """
  paragraphs, current = [], []
  base_indent = None
  for line in text.expandtabs().splitlines():
    stripped = line.strip()
    if not stripped:
      if current:
        paragraphs.append(' '.join(current))
        current = []
      continue
    indent = len(line) - len(line.lstrip())
    if base_indent is None:
      base_indent = indent
    if (indent > base_indent or _CODE_LINE.search(line) or
        stripped.startswith('.. ') or stripped.endswith('::') or
        set(stripped) <= set('=-*~^"+`#')):
      continue
    current.append(stripped)
  if current:
    paragraphs.append(' '.join(current))
  prose = [p for p in paragraphs if len(p.split()) >= 5 and
           sum(c.isalpha() for c in p) > 0.6 * len(p)]
  return '\n'.join(prose)


def paragraph_lines(text: str) -> List[str]:
  """The non-blank lines of `text`, their whitespace collapsed: the
  one-paragraph-per-line form of a corpus file's document."""
  return [' '.join(line.split()) for line in text.splitlines()
          if line.strip()]


def md5_split(key: str, splits: Sequence[Tuple[str, int]]) -> str:
  """The split of `key` (a message's file name, a headword): the one of
  `splits` ((name, share of 100), in order) its MD5's bucket 0-99 falls in."""
  bucket = int(hashlib.md5(key.encode('utf-8')).hexdigest(), 16) % 100
  for split, share in splits:
    if bucket < share:
      return split
    bucket -= share
  raise ValueError(f'The shares of {splits} add up to less than 100.')


def _excluded(path: str) -> bool:
  return 'site-packages' in path or os.sep + 'test' in path


@functools.lru_cache(maxsize=None)
def _stdlib_files() -> Tuple[str, ...]:
  """The standard library's `.py` files outside tests and site-packages,
  sorted: the files `glob('STDLIB/**/*.py', recursive=True)` finds (hidden
  names skipped, linked directories followed), without walking the
  directories it would leave out."""
  stdlib = sysconfig.get_paths()['stdlib']
  files = []
  for root, dirs, names in os.walk(stdlib, followlinks=True):
    dirs[:] = [d for d in dirs if not d.startswith('.') and
               not _excluded(os.path.join(root, d))]
    files.extend(os.path.join(root, n) for n in names
                 if n.endswith('.py') and not n.startswith('.'))
  return tuple(sorted(p for p in files if not _excluded(p)))


# Nodes that hold statements (the only places a docstring can be): a BFS over
# them alone visits the definitions in `ast.walk`'s order, without walking
# every expression.
_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_STATEMENT_FIELDS = frozenset(('body', 'orelse', 'finalbody', 'handlers', 'cases'))


@functools.lru_cache(maxsize=None)
def _file_docstrings(path: str) -> Tuple[str, ...]:
  """The docstrings of one standard-library file, in `ast.walk` order.

  Cached: a run reads the embedded corpus twice (the vocab sample, then the
  records), and the standard library is a fixed ~2 MB of prose.
  """
  try:
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read())
  except (SyntaxError, UnicodeDecodeError, ValueError):
    return ()
  docs, queue = [], collections.deque([tree])
  while queue:
    node = queue.popleft()
    for field in node._fields:  # in the node's own order, as ast.walk.
      if field not in _STATEMENT_FIELDS:
        continue
      queue.extend(child for child in getattr(node, field, ())
                   if isinstance(child, ast.AST))
    if isinstance(node, _DOC_NODES):
      doc = ast.get_docstring(node)
      if doc:
        docs.append(doc)
  return tuple(docs)


def _file_documents(path: str) -> Tuple[str, ...]:
  """The cleaned, non-empty documents of one standard-library file."""
  return tuple(t for t in map(clean_prose, _file_docstrings(path)) if t)


def cache_dir() -> str:
  """Where the embedded corpus is cached: `$OFFICIAL_TD_CACHE`, else
  `$XDG_CACHE_HOME/official_td`, else `~/.cache/official_td`."""
  if os.environ.get('OFFICIAL_TD_CACHE'):
    return os.environ['OFFICIAL_TD_CACHE']
  return os.path.join(os.environ.get('XDG_CACHE_HOME') or
                      os.path.join(os.path.expanduser('~'), '.cache'),
                      'official_td')


def cache_key(files: Sequence[str]) -> str:
  """The hash that names the cache of `files`' documents (module doc)."""
  with open(__file__, 'rb') as f:
    source = hashlib.sha256(f.read()).hexdigest()
  stats = []
  for path in files:
    st = os.stat(path)
    stats.append([path, st.st_size, st.st_mtime_ns])
  return hashlib.sha256(json.dumps([sys.version, source, stats]).encode()
                        ).hexdigest()


def _cache_path(files: Sequence[str]) -> str:
  return os.path.join(cache_dir(), f'embedded-{cache_key(files)[:20]}.json')


# The standard library's documents per file, once per process: read from the
# cache, or extracted by a complete read (then kept here whether or not the
# cache could be written). Cleared by `_forget_documents`.
_DOCUMENTS: Dict[str, Optional[Dict[str, Sequence[str]]]] = {}


def _forget_documents():
  _DOCUMENTS.clear()


def _cached_documents() -> Optional[Dict[str, Sequence[str]]]:
  """The standard library's documents per file, or None (no cache yet)."""
  if 'documents' not in _DOCUMENTS:
    _DOCUMENTS['documents'] = _read_cache()
  return _DOCUMENTS['documents']


def _read_cache() -> Optional[Dict[str, List[str]]]:
  try:
    with open(_cache_path(_stdlib_files()), encoding='utf-8') as f:
      documents = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(documents, dict) or set(documents) != set(
      _stdlib_files()):
    return None
  return documents


def _write_cache(documents: Dict[str, Tuple[str, ...]]):
  """Writes the cache whole (a temporary file renamed into place: a reader
  never sees part of one); an unwritable directory is passed over."""
  path = _cache_path(_stdlib_files())
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
    try:
      os.chmod(tmp, 0o644)
      with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump({k: list(v) for k, v in documents.items()}, f)
      os.replace(tmp, path)
    except BaseException:
      os.remove(tmp)
      raise
  except OSError:
    pass


def _stdlib_documents(paths: Sequence[str], complete: bool) -> Iterator[str]:
  """The documents of `paths` (all the files when `complete`: a read that
  finds no cache writes one)."""
  cached = _cached_documents()
  if cached is None and complete:
    cached = {path: _file_documents(path) for path in paths}
    _write_cache(cached)
    _DOCUMENTS['documents'] = cached
  for path in paths:
    yield from cached[path] if cached is not None else _file_documents(path)


def read_embedded(unit: int, num_units: int,
                  complete: bool = True) -> Iterator[str]:
  """Part `unit` of `num_units` of the embedded corpus, streamed.

  Part 0 holds the help topics; the standard library's files are dealt to
  the parts in turn. Together the parts are `embedded_corpus()`. Without a
  cache, a read of the whole corpus (`num_units` 1, and `complete`: it is
  read to the end) writes one; a part, or a read that stops early, parses
  only the files it reads.
  """
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  if unit == 0:
    for k in sorted(topics.topics):
      text = clean_prose(topics.topics[k])
      if text:
        yield text
  yield from _stdlib_documents(
      _stdlib_files()[unit::num_units],
      complete=complete and num_units == 1)


def embedded_corpus(max_documents: Optional[int] = None) -> List[str]:
  """The embedded English corpus: one document per help topic or docstring.

  Args:
    max_documents: optional cap on the number of documents (in a fixed
      order), for quick runs.

  Returns:
    A list of cleaned documents (about 2 MB of text in all).
  """
  # Lazily: a capped corpus stops reading early (and writes no cache).
  return list(itertools.islice(
      read_embedded(0, 1, complete=not max_documents), max_documents or None))


def embedded_bytes() -> int:
  """The embedded corpus's size in bytes (UTF-8)."""
  return sum(len(doc.encode()) for doc in read_embedded(0, 1))


def embedded_classification_task(output_dir: str,
                                 examples_per_class: int = 1000,
                                 eval_fraction: float = 0.2,
                                 seed: int = 0):
  """Writes a CPU-sized classification task from the embedded corpus.

  Each example is one paragraph; the label says where it comes from: the
  Python language reference (`reference`, from `pydoc_data.topics`) or a
  library docstring (`docstring`). Balanced classes, no download.

  Args:
    output_dir: where `train.csv` and `eval.csv` are written (columns `text`,
      `label`); created if missing, existing files are not overwritten.
    examples_per_class: paragraphs drawn per class (fewer if not available).
    eval_fraction: share of the examples in `eval.csv`.
    seed: sampling seed.

  Returns:
    `(train_path, eval_path)`.
  """
  import csv  # pylint: disable=g-import-not-at-top
  import random  # pylint: disable=g-import-not-at-top
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  paths = (os.path.join(output_dir, 'train.csv'),
           os.path.join(output_dir, 'eval.csv'))
  if any(tf.io.gfile.exists(p) for p in paths):
    raise ValueError(f'{output_dir!r} already holds train.csv/eval.csv; '
                     'choose another directory.')
  def paragraphs(texts):
    out = []
    for text in texts:
      out.extend(p for p in text.split('\n') if 8 <= len(p.split()) <= 120)
    return sorted(set(out))
  rng = random.Random(seed)
  reference = paragraphs(clean_prose(topics.topics[k])
                         for k in sorted(topics.topics))
  docstrings = paragraphs(_stdlib_documents(_stdlib_files(), complete=True))
  n = min(examples_per_class, len(reference), len(docstrings))
  rows = ([(t, 'reference') for t in rng.sample(reference, n)] +
          [(t, 'docstring') for t in rng.sample(docstrings, n)])
  rng.shuffle(rows)
  split = int(len(rows) * (1 - eval_fraction))
  tf.io.gfile.makedirs(output_dir)
  for path, part in zip(paths, (rows[:split], rows[split:])):
    with tf.io.gfile.GFile(path, 'w') as f:
      writer = csv.writer(f)
      writer.writerow(['text', 'label'])
      writer.writerows(part)
  return paths


def load_prepared_tfds(name: str, data_dir: Optional[str], split: str):
  """`tfds.load` of a dataset already prepared under `data_dir`, no download.

  Returns:
    `(dataset, info)`.

  Raises:
    ValueError: naming the fix, if the dataset is unknown or not prepared.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.load(name, split=split, data_dir=data_dir or None,
                     download=False, with_info=True)
  except AssertionError as e:  # what tfds raises for unprepared data.
    raise ValueError(
        f'TFDS dataset {name!r} is not prepared under data_dir={data_dir!r}. '
        f'Prepare it first (`tfds build {name.split("/")[0]} '
        '--data_dir=...`) on a machine with network access.') from e
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f'Unknown TFDS dataset {name!r}; check the name '
                     '(e.g. wikipedia/20230601.en, c4/en).') from e


def check_tfds_text(name: str, data_dir: Optional[str], split: str,
                    text_key: str):
  """Raises a clear ValueError unless the dataset is prepared with `text_key`."""
  _, info = load_prepared_tfds(name, data_dir, split)
  if text_key not in info.features:
    raise ValueError(f'TFDS dataset {name!r} has no feature {text_key!r}; '
                     f'features are {sorted(info.features)}.')


def read_tfds(name: str, data_dir: Optional[str], split: str,
              text_key: str = 'text') -> Iterator[str]:
  """The documents of a prepared TFDS split (or sub-split), streamed."""
  check_tfds_text(name, data_dir, split, text_key)
  ds, _ = load_prepared_tfds(name, data_dir, split)
  for example in ds.as_numpy_iterator():
    text = example[text_key]
    text = text.decode('utf-8') if isinstance(text, bytes) else text
    if text.strip():
      yield text


def tfds_corpus(name: str,
                data_dir: Optional[str],
                split: str = 'train',
                text_key: str = 'text',
                max_documents: Optional[int] = None) -> List[str]:
  """Documents of a prepared TFDS dataset as a list (small corpora, tests).

  Raises:
    ValueError: if the dataset is unknown, not prepared under `data_dir`, or
      has no `text_key` feature.
  """
  return list(itertools.islice(read_tfds(name, data_dir, split, text_key),
                               max_documents))
