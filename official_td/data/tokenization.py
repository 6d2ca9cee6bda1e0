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
    tokenizer: a tensorflow-text `BertTokenizer` (int64 ids).
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
    pieces = tokenizer.tokenize(tf.constant(lines))
    # [lines, words, pieces] -> per line: piece ids and the word of each.
    values = pieces.flat_values.numpy()
    word_lengths = pieces.values.row_lengths().numpy()
    words_per_line = pieces.row_lengths().numpy()
    piece_pos = word_pos = 0
    for i, num_words in enumerate(words_per_line):
      lengths = word_lengths[word_pos:word_pos + num_words]
      n = int(lengths.sum())
      doc = owners[i]
      ids = values[piece_pos:piece_pos + n]
      word_ids = next_word[doc] + np.repeat(np.arange(num_words), lengths)
      next_word[doc] += num_words
      piece_pos += n
      word_pos += num_words
      if n:
        docs[doc].sentences.append(ids)
        docs[doc].words.append(word_ids)
  for doc in docs:
    if doc.sentences:
      yield doc

