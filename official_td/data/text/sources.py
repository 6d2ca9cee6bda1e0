"""Where the documents come from: sources as units read in parallel.

A *unit* is a piece of the corpus read in order by one worker: a text or
JSON-lines file (`.gz` too), a block of a large plain-text file, a slice of a
TFDS split, a part of the embedded corpus, or a share of in-memory documents.
Plain Python (no Beam): the pipeline hands units to workers; tests and
notebooks read them directly.

Plain-text files larger than a block (16 MB by default) are split into
equal blocks on a fixed grid of the file's bytes (set by its size, not
chosen by the runner): a block owns the documents that start in it, so
every document is read exactly once, and the records do not depend on how
many workers read the file.
Compressed files cannot be split: one unit each (shard compressed corpora).
"""

import dataclasses
import posixpath
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf

from official_td.data.text import corpus as corpus_lib
from official_td.data.text import readers


# --------------------------------------------------------------- sources
@dataclasses.dataclass(frozen=True)
class Source:
  """Where the documents come from, as units read in parallel.

  Build with `text_files`, `tfds_dataset`, `embedded` or `in_memory`.
  """
  kind: str
  units: Tuple[str, ...]
  tfds_name: str = ''
  tfds_data_dir: str = ''
  tfds_text_key: str = 'text'
  documents_in_memory: Tuple[str, ...] = ()
  text_key: str = 'text'  # of JSON-lines files.
  skip_bad_lines: bool = False  # of JSON-lines files.
  key_root: str = ''  # of files: the directory their keys are relative to.

  def read(self, unit: str,
           on_bad_line: Optional[Callable[[str], None]] = None
           ) -> Iterator[str]:
    """The documents of one unit, in order.

    Args:
      unit: one of `units`.
      on_bad_line: with `skip_bad_lines`, called for each skipped line of a
        JSON-lines file.
    """
    if self.kind == 'text':
      path, block = split_unit(unit)
      if block is not None:
        return readers.read_text_range(path, *block)
      if readers.is_json_lines(path):
        return readers.read_json_lines(
            path, self.text_key,
            (on_bad_line or (lambda _: None)) if self.skip_bad_lines else None)
      return readers.read_text_file(unit)
    if self.kind == 'tfds':
      return corpus_lib.read_tfds(self.tfds_name, self.tfds_data_dir or None,
                                  unit, self.tfds_text_key)
    if self.kind == 'embedded':
      index, count = (int(x) for x in unit.split('/'))
      return corpus_lib.read_embedded(index, count)
    index, count = (int(x) for x in unit.split('/'))
    return iter(self.documents_in_memory[index::count])

  def documents(self) -> Iterator[str]:
    """All documents, unit after unit (the vocab sample reads a prefix)."""
    for unit in self.units:
      yield from self.read(unit)

  def total_bytes(self) -> Optional[int]:
    """The input's size where it is known up front (plain text, in memory,
    the embedded corpus)."""
    if self.kind == 'memory':
      return sum(len(d.encode()) for d in self.documents_in_memory)
    if self.kind == 'embedded':  # a fixed ~2 MB, read in seconds (cached).
      return corpus_lib.embedded_bytes()
    if self.kind != 'text' or any(u.endswith('.gz') for u in self.units):
      return None
    total = 0
    for unit in self.units:
      path, block = split_unit(unit)
      total += block[1] - block[0] if block else _file_size(path)
    return total

  def key_of(self, unit: str) -> str:
    """The name a unit's keys derive from.

    A file's is its path below `key_root` (the input files' common
    directory), so the same corpus makes the same records wherever it lies (a
    local copy and its `gs://` original). A JSON-lines file is keyed as the
    text file of the same name, so the same documents make the same records in
    either format.
    """
    if self.key_root and unit.startswith(self.key_root):
      unit = unit[len(self.key_root):]
    for suffix in readers.JSON_LINES:
      if self.kind == 'text' and unit.endswith(suffix):
        return unit[:-len(suffix)] + '.txt'
    return unit

  def describe(self) -> Dict:
    out = dict(kind=self.kind, units=len(self.units))
    if self.kind == 'tfds':
      out.update(name=self.tfds_name, text_key=self.tfds_text_key)
    if self.kind == 'text':
      out.update(first_files=list(self.units[:3]), keys_below=self.key_root)
    return out

  def check(self):
    """Raises a clear ValueError before any output if the input is bad."""
    if self.kind == 'text':
      for path in self.units:
        if path.endswith('.gz'):
          readers.check_gzip_header(path)
    if self.kind == 'tfds':
      corpus_lib.check_tfds_text(self.tfds_name, self.tfds_data_dir or None,
                                 self.units[0], self.tfds_text_key)


BLOCK = '#bytes='  # unit = PATH#bytes=START-END


def _file_size(path: str) -> int:
  return tf.io.gfile.stat(path).length


def block_grid(size: int, block_bytes: int) -> List[Tuple[int, int]]:
  """The blocks of a file of `size` bytes: the fewest that are at most
  `block_bytes`, of equal size (to a byte), `[(start, end), ...]`.

  Equal, not `block_bytes` and a remainder: the runner deals units to its
  workers, and a short last block would leave one worker with less to do
  than the others (a 256 MB file in 16 MB blocks: 8 full blocks against 7
  and a quarter on two workers).
  """
  count = -(-size // block_bytes)
  bounds = [size * i // count for i in range(count + 1)]
  return list(zip(bounds, bounds[1:]))


def split_unit(unit: str) -> Tuple[str, Optional[Tuple[int, int]]]:
  """`(path, (start, end))` of a block unit, `(path, None)` of a file."""
  path, marker, block = unit.rpartition(BLOCK)
  if not marker:
    return unit, None
  start, end = block.split('-')
  return path, (int(start), int(end))


def common_directory(paths: Sequence[str]) -> str:
  """The longest directory (ending in `/`, or '') that holds all `paths`."""
  prefix = posixpath.commonprefix([p[:p.rfind('/') + 1] for p in paths])
  return prefix[:prefix.rfind('/') + 1]


def text_files(patterns: Sequence[str], text_key: str = 'text',
               skip_bad_lines: bool = False,
               block_bytes: int = 16 << 20) -> Source:
  """Text and JSON-lines files and globs (any tf.io.gfile URL).

  Plain text: blank lines separate documents. JSON lines (`.jsonl`,
  `.jsonl.gz`, `.json.gz`): one document per line, its text under
  `text_key`. `.gz` is decompressed by the worker that reads it. A plain
  text file larger than `block_bytes` becomes one unit per block of
  `block_grid(size, block_bytes)` (equal blocks of at most `block_bytes`,
  set by the file's size alone); any other file is one unit. Units are keyed
  by their path below the files' common directory.
  """
  units = []
  paths = readers.match_input_files(patterns)
  for path in paths:
    size = 0
    if not path.endswith('.gz') and not readers.is_json_lines(path):
      size = _file_size(path)
    if size > block_bytes:
      units += [f'{path}{BLOCK}{start}-{end}'
                for start, end in block_grid(size, block_bytes)]
    else:
      units.append(path)
  return Source('text', tuple(units), text_key=text_key,
                skip_bad_lines=skip_bad_lines,
                key_root=common_directory(paths))


def tfds_dataset(name: str, data_dir: Optional[str], split: str = 'train',
                 text_key: str = 'text', num_units: int = 64) -> Source:
  """A TFDS dataset prepared under `data_dir` (never downloaded), read as up
  to `num_units` contiguous sub-splits (`split[a:b]`)."""
  corpus_lib.check_tfds_text(name, data_dir, split, text_key)
  _, info = corpus_lib.load_prepared_tfds(name, data_dir, split)
  try:
    total, unit = info.splits[split].num_examples, ''
  except KeyError:  # split sizes unknown (e.g. TFDS's mock data): percent.
    total, unit = 100, '%'
  num_units = max(1, min(num_units, total))
  bounds = [total * i // num_units for i in range(num_units + 1)]
  units = tuple(f'{split}[{a}{unit}:{b}{unit}]'
                for a, b in zip(bounds, bounds[1:]) if b > a)
  return Source('tfds', units, tfds_name=name, tfds_data_dir=data_dir or '',
                tfds_text_key=text_key)


def embedded(num_units: int = 8) -> Source:
  """The embedded English corpus (no download), in `num_units` parts."""
  return Source('embedded', tuple(f'{i}/{num_units}'
                                  for i in range(num_units)))


def in_memory(documents: Sequence[str], num_units: int = 1) -> Source:
  """Documents given as strings (tests, notebooks); dealt to `num_units`."""
  documents = tuple(documents)
  num_units = max(1, min(num_units, len(documents)))
  return Source('memory', tuple(f'{i}/{num_units}' for i in range(num_units)),
                documents_in_memory=documents)

