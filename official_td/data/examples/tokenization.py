"""Tokenization of keyed documents in batches, with word ids for WWM."""

import dataclasses
from typing import Iterable, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from official_td import casing as casing_lib
from official_td import vocab as vocab_lib


# ------------------------------------------------------- pure stages
@dataclasses.dataclass
class TokenizedDocument:
  """A document as sentences of WordPiece ids, with word ids for WWM."""
  key: str
  sentences: List[np.ndarray]
  words: List[np.ndarray]


@dataclasses.dataclass
class TokenizedBatch:
  """The documents of one tokenizer call, flat (what packing consumes).

  Documents without any token are left out. `ids` holds every piece,
  document after document (a document's lines in order); `words` the word
  of each piece, numbered from 0 within its document; `doc_lengths` the
  pieces of each document and `line_lengths` those of each line (sentence).
  """
  keys: List[str]
  ids: np.ndarray
  words: np.ndarray
  doc_lengths: np.ndarray
  line_lengths: np.ndarray
  line_docs: np.ndarray

  def documents(self) -> Iterator[TokenizedDocument]:
    """The batch as `TokenizedDocument`s (sentences split back out)."""
    bounds = np.cumsum(self.line_lengths)[:-1]
    sentences = np.split(self.ids, bounds)
    words = np.split(self.words, bounds)
    first = np.searchsorted(self.line_docs, np.arange(len(self.keys) + 1))
    for d, key in enumerate(self.keys):
      lines = slice(first[d], first[d + 1])
      yield TokenizedDocument(key, sentences[lines], words[lines])


def tokenize_batches(documents: Iterable[Tuple[str, str]], tokenizer,
                     batch_size: int = 256) -> Iterator[TokenizedBatch]:
  """Tokenizes keyed documents (one sentence per line), batch by batch.

  Args:
    documents: `(key, text)` pairs.
    tokenizer: a `WordPieceTokenizer`.
    batch_size: documents per tokenizer call.

  Yields:
    A `TokenizedBatch` per tokenizer call that found any token.
  """
  batch = []
  for item in documents:
    batch.append(item)
    if len(batch) == batch_size:
      tokenized = _tokenize_batch(batch, tokenizer)
      if tokenized is not None:
        yield tokenized
      batch = []
  if batch:
    tokenized = _tokenize_batch(batch, tokenizer)
    if tokenized is not None:
      yield tokenized


def tokenize(documents: Iterable[Tuple[str, str]], tokenizer,
             batch_size: int = 256) -> Iterator[TokenizedDocument]:
  """`tokenize_batches`, document by document (documents without any token
  are skipped; word ids numbered from 0 within each document)."""
  for batch in tokenize_batches(documents, tokenizer, batch_size):
    yield from batch.documents()


class WordPieceTokenizer:
  """BERT's WordPiece tokenization at the speed of one C++ kernel.

  tensorflow-text's `FastBertTokenizer` (LinMaxMatch: normalization,
  pre-tokenization and WordPiece in one op) over a BERT `vocab.txt`, traced
  once for string batches. Word boundaries, which whole-word masking needs,
  come from the vocab: a piece starts a word unless it has the `##` suffix
  indicator, as in BERT's own data script. The ids equal `text.BertTokenizer`'s
  (tests/test_data_pipeline.py compares them on a mixed sample).

  Args:
    vocab_file: the WordPiece vocab.
    casing: a `casing.Casing` (default: uncased BERT's lower-casing, NFD and
      accents stripped), or a bool: lower-cased and stripped, or neither.
  """

  def __init__(self, vocab_file: str, casing=True):
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    casing = casing_lib.Casing.coerce(casing)
    vocab = vocab_lib.load_vocab(vocab_file)
    self._tokenizer = text.FastBertTokenizer(
        vocab=vocab, token_out_type=tf.int64, unknown_token='[UNK]',
        lower_case_nfd_strip_accents=casing.tokenizer_lower_case)
    self.starts_word = np.array([not t.startswith('##') for t in vocab])
    # Traced as is: AutoGraph would convert tensorflow-text's Python (a
    # second of every worker's start-up) and finds no tensor control flow.
    self._tokenize = tf.function(
        lambda lines: self._ragged_parts(self._tokenizer.tokenize(
            casing.normalize(lines))),
        input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)

  @staticmethod
  def _ragged_parts(pieces):
    return pieces.flat_values, pieces.row_lengths()

  def tokenize(self, lines: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    """`(ids, pieces per line)` of a batch of lines."""
    ids, lengths = self._tokenize(tf.constant(lines))
    return ids.numpy(), lengths.numpy()


def _tokenize_batch(batch, tokenizer) -> Optional[TokenizedBatch]:
  """One tokenizer call for the non-blank lines of `batch`; word ids by
  array operations.

  A word starts at every piece without the `##` prefix; a line's first piece
  always belongs to the line's first word (a line starting with a `##` piece
  joins it to the next word start), and each line's words continue the
  document's numbering.
  """
  lines, owners = [], []
  for d, (_, text) in enumerate(batch):
    for line in text.splitlines():
      if line.strip():
        lines.append(line)
        owners.append(d)
  if not lines:
    return None
  values, lengths = tokenizer.tokenize(lines)
  kept = lengths > 0  # lines without any piece make no sentence.
  if not kept.any():
    return None
  lengths, owners = lengths[kept], np.asarray(owners)[kept]
  first = np.cumsum(lengths) - lengths  # each line's first piece.
  starts = np.cumsum(tokenizer.starts_word[values])
  before = np.where(first > 0, starts[first - 1], 0)
  local = np.maximum(starts - np.repeat(before + 1, lengths), 0)
  line_words = local[first + lengths - 1] + 1
  # Exclusive running count of words per document, at each line.
  running = np.cumsum(line_words) - line_words
  doc_ids, doc_first_line = np.unique(owners, return_index=True)
  offset = running - running[doc_first_line][np.searchsorted(doc_ids,
                                                              owners)]
  line_docs = np.searchsorted(doc_ids, owners)
  return TokenizedBatch(
      keys=[batch[d][0] for d in doc_ids], ids=values,
      words=local + np.repeat(offset, lengths),
      doc_lengths=np.bincount(line_docs, weights=lengths).astype(np.int64),
      line_lengths=lengths, line_docs=line_docs)
