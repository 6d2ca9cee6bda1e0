"""Where the documents come from: sources as units read in parallel.

A *unit* is a piece of the corpus read in order by one worker: a text file
(`.gz` too), a slice of a TFDS split, a part of the embedded corpus, or a
share of in-memory documents. Plain Python (no Beam): the pipeline hands
units to workers; tests and notebooks read them directly.
"""

import dataclasses
from typing import Dict, Iterator, Optional, Sequence, Tuple

from official_td.data import corpus as corpus_lib


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

  def read(self, unit: str) -> Iterator[str]:
    """The documents of one unit, in order."""
    if self.kind == 'text':
      return corpus_lib.read_text_file(unit)
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

  def describe(self) -> Dict:
    out = dict(kind=self.kind, units=len(self.units))
    if self.kind == 'tfds':
      out.update(name=self.tfds_name, text_key=self.tfds_text_key)
    if self.kind == 'text':
      out.update(first_files=list(self.units[:3]))
    return out

  def check(self):
    """Raises a clear ValueError before any output if the input is bad."""
    if self.kind == 'text':
      for path in self.units:
        if path.endswith('.gz'):
          corpus_lib.check_gzip(path)
    if self.kind == 'tfds':
      corpus_lib.check_tfds_text(self.tfds_name, self.tfds_data_dir or None,
                                 self.units[0], self.tfds_text_key)


def text_files(patterns: Sequence[str]) -> Source:
  """Text files and globs (any tf.io.gfile URL; `.gz` decompressed); blank
  lines separate documents. Each file is a unit."""
  return Source('text', tuple(corpus_lib.match_input_files(patterns)))


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

