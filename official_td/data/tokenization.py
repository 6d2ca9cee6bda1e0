"""Tokenization of keyed documents in batches, with word ids for WWM."""

import dataclasses
from typing import Iterable, Iterator, List, Tuple

import numpy as np
import tensorflow as tf


# ------------------------------------------------------- pure stages
@dataclasses.dataclass
class TokenizedDocument:
  """A document as sentences of WordPiece ids, with word ids for WWM."""
  key: str
  sentences: List[np.ndarray]
  words: List[np.ndarray]


def tokenize(documents: Iterable[Tuple[str, str]], tokenizer,
             batch_size: int = 256) -> Iterator[TokenizedDocument]:
  """Tokenizes keyed documents (one sentence per line), batch by batch.

  Args:
    documents: `(key, text)` pairs.
    tokenizer: a `WordPieceTokenizer`.
    batch_size: documents per tokenizer call.

  Yields:
    `TokenizedDocument`s (documents without any token are skipped), with
    word ids numbered from 0 within each document.
  """
  batch = []
  for item in documents:
    batch.append(item)
    if len(batch) == batch_size:
      yield from _tokenize_batch(batch, tokenizer)
      batch = []
  if batch:
    yield from _tokenize_batch(batch, tokenizer)


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
    lower_case: lower-case, NFD-normalize and strip accents (uncased BERT).
  """

  def __init__(self, vocab_file: str, lower_case: bool = True):
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    with tf.io.gfile.GFile(vocab_file) as f:
      vocab = [line.rstrip('\n') for line in f]
    self._tokenizer = text.FastBertTokenizer(
        vocab=vocab, token_out_type=tf.int64, unknown_token='[UNK]',
        lower_case_nfd_strip_accents=lower_case)
    self.starts_word = np.array([not t.startswith('##') for t in vocab])
    self._tokenize = tf.function(
        lambda lines: self._ragged_parts(self._tokenizer.tokenize(lines)),
        input_signature=[tf.TensorSpec([None], tf.string)])

  @staticmethod
  def _ragged_parts(pieces):
    return pieces.flat_values, pieces.row_lengths()

  def tokenize(self, lines: List[str]) -> Tuple[np.ndarray, np.ndarray]:
    """`(ids, pieces per line)` of a batch of lines."""
    ids, lengths = self._tokenize(tf.constant(lines))
    return ids.numpy(), lengths.numpy()


def _tokenize_batch(batch, tokenizer):
  lines, owners = [], []
  for d, (_, text) in enumerate(batch):
    for line in text.splitlines():
      if line.strip():
        lines.append(line)
        owners.append(d)
  docs = [TokenizedDocument(key, [], []) for key, _ in batch]
  next_word = [0] * len(batch)
  if lines:
    values, lengths = tokenizer.tokenize(lines)
    starts = tokenizer.starts_word[values]
    position = 0
    for i, n in enumerate(lengths):
      if not n:
        continue
      doc = owners[i]
      piece = slice(position, position + n)
      # Word ids: one more at every piece that starts a word.
      local = np.maximum(np.cumsum(starts[piece]) - 1, 0)
      docs[doc].sentences.append(values[piece])
      docs[doc].words.append(next_word[doc] + local)
      next_word[doc] += int(local[-1]) + 1
      position += n
  for doc in docs:
    if doc.sentences:
      yield doc
