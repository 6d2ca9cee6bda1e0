"""Packing tokenized documents into sequences of exactly `seq_length`.

Streaming generators: a stream of documents in, a stream of sequences out,
holding at most one tokenizer batch (or, with NSP, a small pool of partner
documents). `pack_batches` cuts each tokenizer batch into a
`SequenceBatch` (arrays, what masking consumes); `pack` gives the same
sequences one by one.
"""

import dataclasses
import itertools
from typing import Iterable, Iterator, List, Sequence

import numpy as np

from official_td import vocab as vocab_lib
from official_td.data.examples.keys import stable_hash
from official_td.data.examples.tokenization import TokenizedBatch
from official_td.data.examples.tokenization import TokenizedDocument


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


@dataclasses.dataclass
class SequenceBatch:
  """Packed sequences as arrays, one row each, padded to `seq_length`.

  Row `r` is the sequence `keys[r]`: its first `lengths[r]` entries of
  `tokens` (then the pad id), `segment_ids` (then 0) and `words` (-1 at
  [CLS]/[SEP] and past the sequence).
  """
  keys: List[str]
  tokens: np.ndarray
  segment_ids: np.ndarray
  words: np.ndarray
  lengths: np.ndarray
  next_sentence_labels: np.ndarray

  def __len__(self) -> int:
    return len(self.keys)

  def rows(self, start: int, stop: int) -> 'SequenceBatch':
    return SequenceBatch(self.keys[start:stop], self.tokens[start:stop],
                         self.segment_ids[start:stop], self.words[start:stop],
                         self.lengths[start:stop],
                         self.next_sentence_labels[start:stop])

  @classmethod
  def concat(cls, batches: Sequence['SequenceBatch']) -> 'SequenceBatch':
    if len(batches) == 1:
      return batches[0]
    return cls(sum((b.keys for b in batches), []),
               *(np.concatenate([getattr(b, name) for b in batches])
                 for name in ('tokens', 'segment_ids', 'words', 'lengths',
                              'next_sentence_labels')))

  def sequences(self) -> Iterator[PackedSequence]:
    for r, key in enumerate(self.keys):
      n = int(self.lengths[r])
      yield PackedSequence(key, self.tokens[r, :n].copy(),
                           self.segment_ids[r, :n].copy(),
                           self.words[r, :n].copy(),
                           int(self.next_sentence_labels[r]))

  @classmethod
  def of(cls, seqs: Sequence[PackedSequence], seq_length: int,
         pad_id: int) -> 'SequenceBatch':
    """`seqs` as a batch (each at most `seq_length` long)."""
    out = cls.empty([seq.key for seq in seqs], seq_length, pad_id)
    for r, seq in enumerate(seqs):
      n = len(seq.tokens)
      out.tokens[r, :n], out.segment_ids[r, :n], out.words[r, :n] = (
          seq.tokens, seq.segment_ids, seq.words)
      out.lengths[r] = n
      out.next_sentence_labels[r] = seq.next_sentence_label
    return out

  @classmethod
  def empty(cls, keys: List[str], seq_length: int,
            pad_id: int) -> 'SequenceBatch':
    """Rows of `keys`, all padding, to fill in."""
    rows = len(keys)
    return cls(keys, np.full((rows, seq_length), pad_id, np.int64),
               np.zeros((rows, seq_length), np.int64),
               np.full((rows, seq_length), -1, np.int64),
               np.zeros(rows, np.int64), np.zeros(rows, np.int64))


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


def pack_batches(batches: Iterable[TokenizedBatch],
                 ids: vocab_lib.SpecialTokenIds, seq_length: int,
                 key_prefix: str) -> Iterator[SequenceBatch]:
  """Packs documents, in order, into sequences of exactly `seq_length`.

  Consecutive sentences and documents fill each sequence (`[CLS] ... [SEP]
  ... [SEP]`, a [SEP] closing every document; no sequence starts at a
  document boundary), so only the stream's last sequence is padded. A
  document longer than a sequence continues in the next one. Streaming: at
  most one tokenizer batch (and the part of a sequence it leaves) is held;
  each batch becomes one array stream, cut into rows by one gather.

  Args:
    batches: tokenized documents in a fixed order (`tokenize_batches`).
    ids: the vocab's special ids.
    seq_length: tokens per sequence.
    key_prefix: prefix of the sequences' keys (`{prefix}/{index}`).

  Yields:
    A `SequenceBatch` of the sequences each tokenizer batch completes.
  """
  body = seq_length - 2
  tokens, words = np.zeros(0, np.int64), np.zeros(0, np.int64)
  next_word, index = 0, 0
  for batch in itertools.chain(batches, [None]):
    if batch is not None:
      more, more_words, next_word = _stream(batch, ids.sep_id, next_word)
      tokens = np.concatenate([tokens, more])
      words = np.concatenate([words, more_words])
    starts, position, n = [], 0, len(tokens)
    is_sep = (tokens == ids.sep_id).tolist()
    while True:
      while position < n and is_sep[position]:
        position += 1  # no sequence starts at a document boundary.
      if position >= n or (n - position < body and batch is not None):
        break  # the rest waits for the next batch (or was the last).
      starts.append(position)
      position += body
    if starts:
      yield _cut(tokens, words, np.array(starts), body, ids,
                 [f'{key_prefix}/{i}' for i in range(index,
                                                      index + len(starts))])
      index += len(starts)
    tokens, words = tokens[position:], words[position:]


def _cut(tokens, words, starts, body, ids, keys) -> SequenceBatch:
  """The sequences of `body` pieces from each of `starts` (the last may run
  short at the stream's end), between [CLS] and [SEP]; each sequence's
  words numbered from 0 by one running count over the stream."""
  count = _renumber_ascending(words)
  out = SequenceBatch.empty(keys, body + 2, ids.pad_id)
  lengths = np.minimum(len(tokens) - starts, body)
  columns = np.arange(body)
  inside = columns < lengths[:, None]
  at = np.minimum(starts[:, None] + columns, len(tokens) - 1)
  piece_words = np.where(inside & (count[at] >= 0),
                         count[at] - count[starts][:, None], -1)
  out.tokens[:, 0] = ids.cls_id
  out.tokens[:, 1:-1] = np.where(inside, tokens[at], ids.pad_id)
  out.words[:, 1:-1] = piece_words
  out.lengths[:] = lengths + 2
  rows = np.arange(len(keys))
  out.tokens[rows, lengths + 1] = ids.sep_id
  return out


def chunked(batches: Iterable[SequenceBatch],
            size: int) -> Iterator[SequenceBatch]:
  """The rows of `batches`, in order, in batches of `size` (the last one
  shorter)."""
  pending, count = [], 0
  for batch in batches:
    pending.append(batch)
    count += len(batch)
    if count >= size:
      whole = SequenceBatch.concat(pending)
      cut = count - count % size
      for start in range(0, cut, size):
        yield whole.rows(start, start + size)
      pending, count = [whole.rows(cut, count)], count - cut
  if count:
    yield SequenceBatch.concat(pending)


def pack(batches: Iterable[TokenizedBatch],
         ids: vocab_lib.SpecialTokenIds, seq_length: int,
         key_prefix: str) -> Iterator[PackedSequence]:
  """`pack_batches`, sequence by sequence."""
  for batch in pack_batches(batches, ids, seq_length, key_prefix):
    yield from batch.sequences()


def pack_nsp(documents: Iterable[TokenizedDocument],
             ids: vocab_lib.SpecialTokenIds, seq_length: int,
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

