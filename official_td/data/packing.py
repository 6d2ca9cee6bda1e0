"""Packing tokenized documents into sequences of exactly `seq_length`.

Streaming generators: a stream of documents in, a stream of sequences out,
holding at most one sequence (or, with NSP, a small pool of partner
documents).
"""

import dataclasses
import itertools
from typing import Iterable, Iterator

import numpy as np

from official_td.data.keys import stable_hash
from official_td.data.tokenization import TokenizedBatch
from official_td.data.tokenization import TokenizedDocument
from official_td.layers import special_tokens


@dataclasses.dataclass
class PackedSequence:
  """One sequence before masking: ids, segments and the word of each id.

  `words` numbers the words of the sequence from 0 (-1 for [CLS]/[SEP]);
  `key` identifies it (source unit, split, index) and seeds its masks.
  """
  key: str
  tokens: np.ndarray
  segment_ids: np.ndarray
  words: np.ndarray
  next_sentence_label: int = 0


def _renumber(words: np.ndarray) -> np.ndarray:
  """Word ids 0, 1, 2... in order of appearance (-1 stays -1)."""
  out = np.full(len(words), -1, np.int64)
  real = words >= 0
  if real.any():
    _, inverse = np.unique(words[real], return_inverse=True)
    out[real] = inverse
  return out


def _renumber_ascending(words: np.ndarray) -> np.ndarray:
  """`_renumber` for words that never decrease (all of `pack`'s): a new id
  wherever the word changes."""
  out = np.full(len(words), -1, np.int64)
  real = np.flatnonzero(words >= 0)
  if len(real):
    w = words[real]
    out[real] = np.cumsum(np.concatenate([[0], w[1:] != w[:-1]]))
  return out


def _stream(batch: TokenizedBatch, sep_id: int, first_word: int):
  """The batch as one stream: each document's pieces, then [SEP] (word -1);
  words numbered on from `first_word` across documents."""
  n = len(batch.doc_lengths)
  doc_words = np.zeros(n, np.int64)
  ends = np.cumsum(batch.doc_lengths)
  np.maximum.at(doc_words, np.repeat(np.arange(n), batch.doc_lengths),
                batch.words)
  doc_words += 1
  offsets = first_word + np.cumsum(doc_words) - doc_words
  is_sep = np.zeros(len(batch.ids) + n, bool)
  is_sep[ends + np.arange(n)] = True
  tokens = np.full(len(is_sep), sep_id, np.int64)
  tokens[~is_sep] = batch.ids
  words = np.full(len(is_sep), -1, np.int64)
  words[~is_sep] = batch.words + np.repeat(offsets, batch.doc_lengths)
  return tokens, words, first_word + int(doc_words.sum())


def pack(batches: Iterable[TokenizedBatch],
         ids: special_tokens.SpecialTokenIds, seq_length: int,
         key_prefix: str) -> Iterator[PackedSequence]:
  """Packs documents, in order, into sequences of exactly `seq_length`.

  Consecutive sentences and documents fill each sequence (`[CLS] ... [SEP]
  ... [SEP]`, a [SEP] closing every document; no sequence starts at a
  document boundary), so only the stream's last sequence is padded. A
  document longer than a sequence continues in the next one. Streaming: at
  most one tokenizer batch (and the part of a sequence it leaves) is held;
  each batch becomes one array stream, cut by slicing.

  Args:
    batches: tokenized documents in a fixed order (`tokenize_batches`).
    ids: the vocab's special ids.
    seq_length: tokens per sequence.
    key_prefix: prefix of the sequences' keys (`{prefix}/{index}`).

  Yields:
    `PackedSequence`s.
  """
  body = seq_length - 2
  tokens, words = np.zeros(0, np.int64), np.zeros(0, np.int64)
  next_word, index = 0, 0
  sep, cls = ids.sep_id, ids.cls_id

  def emit(chunk, chunk_words):
    return PackedSequence(
        f'{key_prefix}/{index}',
        np.concatenate([[cls], chunk, [sep]]).astype(np.int64),
        np.zeros(len(chunk) + 2, np.int64),
        _renumber_ascending(np.concatenate([[-1], chunk_words, [-1]])))

  for batch in itertools.chain(batches, [None]):
    if batch is not None:
      more, more_words, next_word = _stream(batch, sep, next_word)
      tokens = np.concatenate([tokens, more])
      words = np.concatenate([words, more_words])
    position, n = 0, len(tokens)
    while True:
      while position < n and tokens[position] == sep:
        position += 1  # no sequence starts at a document boundary.
      if position >= n or (n - position < body and batch is not None):
        break  # the rest waits for the next batch (or was the last).
      yield emit(tokens[position:position + body],
                 words[position:position + body])
      index += 1
      position += body
    tokens, words = tokens[position:], words[position:]


def pack_nsp(documents: Iterable[TokenizedDocument],
             ids: special_tokens.SpecialTokenIds, seq_length: int,
             key_prefix: str, seed: int,
             partner_pool: int = 64) -> Iterator[PackedSequence]:
  """`[CLS] A [SEP] B [SEP]` pairs with next-sentence labels, streamed.

  Each document's sentences are grouped into chunks of up to `seq_length - 3`
  tokens, split at a random sentence into A and B; half the time B is
  replaced by a sentence of an earlier document of the stream (label 1),
  drawn from a pool of the last `partner_pool` documents.
  """
  target = seq_length - 3
  pool, index = [], 0
  for doc in documents:
    rng = np.random.default_rng(stable_hash('nsp', seed, key_prefix,
                                            doc.key))
    chunk, chunk_words, length = [], [], 0
    for i, (sentence, words) in enumerate(zip(doc.sentences, doc.words)):
      chunk.append(sentence)
      chunk_words.append(words)
      length += len(sentence)
      if length < target and i < len(doc.sentences) - 1:
        continue
      if len(chunk) >= 2 or pool:
        split = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
        a, a_words = chunk[:split], chunk_words[:split]
        b, b_words, label = chunk[split:], chunk_words[split:], 0
        if pool and (not b or rng.random() < 0.5):
          other = pool[int(rng.integers(len(pool)))]
          j = int(rng.integers(len(other.sentences)))
          b, b_words, label = [other.sentences[j]], [other.words[j]], 1
        a, a_words = np.concatenate(a), np.concatenate(a_words)
        b, b_words = np.concatenate(b), np.concatenate(b_words)
        while len(a) + len(b) > target:  # truncate the longer side.
          if len(a) > len(b):
            a, a_words = a[:-1], a_words[:-1]
          else:
            b, b_words = b[:-1], b_words[:-1]
        tokens = np.concatenate([[ids.cls_id], a, [ids.sep_id], b,
                                 [ids.sep_id]]).astype(np.int64)
        segments = np.concatenate([np.zeros(len(a) + 2, np.int64),
                                   np.ones(len(b) + 1, np.int64)])
        words = np.concatenate([[-1], a_words, [-1],
                                b_words + 10**9, [-1]])
        yield PackedSequence(f'{key_prefix}/{index}', tokens, segments,
                             _renumber(words), label)
        index += 1
      chunk, chunk_words, length = [], [], 0
    pool.append(doc)
    if len(pool) > partner_pool:
      pool.pop(0)

