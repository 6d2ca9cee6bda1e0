"""Packing tokenized documents into sequences of exactly `seq_length`.

Streaming generators: a stream of documents in, a stream of sequences out,
holding at most one sequence (or, with NSP, a small pool of partner
documents).
"""

import dataclasses
from typing import Iterable, Iterator

import numpy as np

from official_td.data.keys import stable_hash
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


def pack(documents: Iterable[TokenizedDocument],
         ids: special_tokens.SpecialTokenIds, seq_length: int,
         key_prefix: str) -> Iterator[PackedSequence]:
  """Packs documents, in order, into sequences of exactly `seq_length`.

  Consecutive sentences and documents fill each sequence (`[CLS] ... [SEP]
  ... [SEP]`, a [SEP] closing every document; no sequence starts at a
  document boundary), so only the stream's last sequence is padded. A
  document longer than a sequence continues in the next one. Streaming: at
  most one sequence is held.

  Args:
    documents: tokenized documents in a fixed order.
    ids: the vocab's special ids.
    seq_length: tokens per sequence.
    key_prefix: prefix of the sequences' keys (`{prefix}/{index}`).

  Yields:
    `PackedSequence`s.
  """
  body = seq_length - 2
  buffer, buffer_words, size, index = [], [], 0, 0
  word_offset = 0

  def emit():
    tokens = np.concatenate([[ids.cls_id]] + buffer + [[ids.sep_id]])
    words = np.concatenate([[-1]] + buffer_words + [[-1]])
    return PackedSequence(f'{key_prefix}/{index}', tokens.astype(np.int64),
                          np.zeros(len(tokens), np.int64), _renumber(words))

  for doc in documents:
    pieces = []
    for sentence, words in zip(doc.sentences, doc.words):
      pieces.append((sentence, words + word_offset))
    word_offset += 1 + max(int(w.max()) for w in doc.words)
    pieces.append((np.array([ids.sep_id]), np.array([-1])))
    for sentence, words in pieces:
      start = 0
      while start < len(sentence):
        if size == 0 and sentence[start] == ids.sep_id:
          start += 1  # no sequence starts at a document boundary.
          continue
        take = min(body - size, len(sentence) - start)
        buffer.append(sentence[start:start + take])
        buffer_words.append(words[start:start + take])
        size += take
        start += take
        if size == body:
          yield emit()
          index += 1
          buffer, buffer_words, size = [], [], 0
  if size:
    yield emit()


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

