"""Reading corpus files: documents streamed from text and JSON-lines files.

Plain-text files hold blank-line-separated documents (one sentence per line);
JSON-lines files one document per line. `.gz` is decompressed by the worker
that reads the file. Everything is read through `tf.io.gfile` (local disk,
`gs://`, ...), in blocks.
"""

import contextlib
import gzip
import json
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple
import zlib

import tensorflow as tf


def _lines(stream, position: int = 0, block: int = 1 << 20
           ) -> Iterator[Tuple[int, bytes]]:
  """`(byte offset, line)` of each line of a binary stream read from
  `position` (a line start) on, newline dropped. Read in blocks: a `GFile`'s
  own `readline` costs microseconds of Python a line."""
  rest = b''
  while True:
    chunk = stream.read(block)
    if not chunk:
      break
    lines = (rest + chunk).split(b'\n')
    rest = lines.pop()
    for line in lines:
      yield position, line
      position += len(line) + 1
  if rest:
    yield position, rest


def split_documents(lines: Iterable[str]) -> Iterator[str]:
  """Blank-line-separated blocks of `lines`, streamed: one document each.

  The lines of a document are its sentences; a file without blank lines is
  one document.
  """
  current = []
  for line in lines:
    line = line.strip()
    if line:
      current.append(line)
    elif current:
      yield '\n'.join(current)
      current = []
  if current:
    yield '\n'.join(current)


def open_bytes(path: str):
  """A binary stream of `path` (any tf.io.gfile URL); `.gz` is
  decompressed."""
  if path.endswith('.gz'):
    return gzip.GzipFile(fileobj=tf.io.gfile.GFile(path, 'rb'))
  return tf.io.gfile.GFile(path, 'rb')


class CorruptInputError(ValueError):
  """An input file cannot be read to its end (raised on the worker that
  reads it; the pipeline reports its message alone)."""

  PREFIX = 'Corrupt input: '


def read_text_file(path: str) -> Iterator[str]:
  """The documents of one text file, streamed (never the whole file).

  A `.gz` is decompressed here, once, by the worker that reads it; a corrupt
  one raises `CorruptInputError` naming it.
  """
  with _reading(path) as lines:
    yield from split_documents(lines)


@contextlib.contextmanager
def _reading(path: str):
  """The lines of `path` as text (UTF-8, an invalid byte read as U+FFFD); a
  decompression failure inside the block becomes a `CorruptInputError`
  naming the file."""
  try:
    with open_bytes(path) as f:
      yield (line.decode('utf-8', 'replace') for _, line in _lines(f))
  except (OSError, EOFError, zlib.error) as e:
    raise CorruptInputError(
        f'{CorruptInputError.PREFIX}{path!r} is not a readable gzip file '
        f'({e}); recompress it or leave it out of --input_files.') from None


# JSON-lines corpora (C4, The Pile, most crawls): one document per line.
JSON_LINES = ('.jsonl', '.jsonl.gz', '.json.gz')


def is_json_lines(path: str) -> bool:
  return path.endswith(JSON_LINES)


def read_json_lines(path: str, text_key: str = 'text',
                    on_bad_line: Optional[Callable[[str], None]] = None
                    ) -> Iterator[str]:
  """The documents of a JSON-lines file: the string under `text_key`.

  Args:
    path: a `.jsonl`, `.jsonl.gz` or `.json.gz` file.
    text_key: the field holding the text.
    on_bad_line: called with a description of a line that is not a JSON
      object with a string under `text_key`, which is then skipped; None: such
      a line is an error naming the file and line.
  """
  with _reading(path) as lines:
    for number, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        text = json.loads(line)[text_key]
        if not isinstance(text, str):
          raise TypeError(f'{text_key!r} is not a string')
      except (ValueError, KeyError, TypeError, IndexError) as e:
        problem = (f'{path}:{number} is not a JSON object with a string '
                   f'under {text_key!r} ({type(e).__name__}: {e})')
        if on_bad_line is None:
          raise CorruptInputError(
              f'{CorruptInputError.PREFIX}{problem}; fix the line, set '
              '--text_key, or pass --skip_bad_lines.') from None
        on_bad_line(problem)
        continue
      if text.strip():
        yield text


def read_text_range(path: str, start: int, end: int,
                    window: int = 1 << 16) -> Iterator[str]:
  """The documents of a plain-text file that start in bytes `[start, end)`.

  A document starts at a non-blank line after a blank line (or at the
  file's first non-blank line), as in `split_documents`; a document is
  owned by the range its first line starts in, and read to its end even
  past `end`. Over a grid of ranges every document is read exactly once,
  whatever the grid (as Beam's `ReadFromText` splits at lines, here at
  blank lines).
  """
  with tf.io.gfile.GFile(path, 'rb') as f:
    previous_blank, position = True, 0
    if start > 0:
      # The first line starting at or after `start`, and whether the line
      # before it is blank (then a document may start there).
      f.seek(start - 1)
      f.readline()
      position = f.tell()
      back = max(0, position - 1 - window)
      f.seek(back)
      before = f.read(position - 1 - back)
      previous_blank = not before[before.rfind(b'\n') + 1:].strip()
      f.seek(position)
    current = []
    for position, line in _lines(f, position):
      if not current and position >= end:
        break  # any document starting from here is the next range's.
      text = line.decode('utf-8', errors='replace').strip()
      if not text:
        if current:
          yield '\n'.join(current)
          current = []
      elif current or (previous_blank and position < end):
        current.append(text)
      elif previous_blank:  # a document starting in the next range.
        break
      previous_blank = not text
    if current:
      yield '\n'.join(current)


def check_gzip_header(path: str):
  """What the launcher checks of a `.gz`, cheaply: it is not empty and
  starts with the gzip magic bytes. The rest is checked where it is read."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    magic = f.read(2)
  if magic != b'\x1f\x8b':
    what = 'empty' if not magic else 'no gzip header'
    raise ValueError(
        f'{path!r} is not a gzip file ({what}); recompress it, rename it, '
        'or leave it out of --input_files.')


def match_input_files(patterns: Sequence[str]) -> List[str]:
  """The sorted files matching `patterns` (any tf.io.gfile URL)."""
  files = []
  for pattern in patterns:
    matched = sorted(tf.io.gfile.glob(pattern))
    if not matched:
      raise ValueError(f'No file matches the input pattern {pattern!r}.')
    files.extend(m for m in matched if not tf.io.gfile.isdir(m))
  if not files:
    raise ValueError(f'The input patterns {list(patterns)} match only '
                     'directories; name the text files (e.g. DIR/*.txt).')
  return sorted(set(files))
