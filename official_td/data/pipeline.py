"""The pretraining-data pipeline on Apache Beam: corpus in, TFRecords out.

  Sources -> ReadTokenizePack -> Mask (or Unmasked) -> Serialize ->
  WriteToTFRecord, per split (train / eval), then `data_summary.json` last.

A *source unit* is a piece of the corpus read in order by one worker: a text
file (`.gz` too), a slice of a TFDS split, a part of the embedded corpus.
Within a unit, documents are streamed (never held as a list), tokenized in
batches with tensorflow-text's `BertTokenizer`, assigned to train or eval by a
hash of their key, and packed across documents into sequences of exactly
`seq_length`. These stages are chained generators inside one DoFn per unit:
packing across documents needs a unit's documents in order, and a
GroupByKey over documents would make a single-machine runner buffer the whole
corpus; chained, the work is a stream and a worker's memory is bounded by one
tokenizer batch and one sequence. Each generator is a plain function with its
own test. Every random choice (split, masks, NSP partners) is seeded from the
sequence's key (unit, index) and the seed: the same multiset of records comes
out whatever the runner, worker count or bundling.

Masking is static (BERT: `dupe_factor` masked copies written, the records
`BertPretrainDataLoader` reads) or dynamic (RoBERTa: unmasked records written
once; `official_td.data.dynamic_masking` draws fresh masks while training).

Runners: the default is Beam's DirectRunner in multi-processing mode on every
core. Beam's own options pass through (`--runner=DataflowRunner
--project=... --region=... --temp_location=gs://...`, Flink, Spark).
"""

import dataclasses
import hashlib
import os
import time
import uuid
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import apache_beam as beam
from apache_beam.options import pipeline_options as beam_options
import numpy as np
import tensorflow as tf

from official_td import io_utils
from official_td.data import corpus as corpus_lib
from official_td.data import packaging
from official_td.data import records
from official_td.data.summary import INCOMPLETE
from official_td.data.summary import SUMMARY
from official_td.data import vocab as vocab_lib
from official_td.layers import special_tokens

METRICS_NAMESPACE = 'official_td'


# --------------------------------------------------------------- options
@dataclasses.dataclass
class DataOptions:
  """How sequences are built and masked.

  Attributes:
    seq_length: tokens per sequence, [CLS] and [SEP]s included.
    max_predictions_per_seq: masked positions per sequence (slots beyond the
      number masked are padded with weight 0).
    masked_lm_prob: fraction of tokens masked.
    whole_word_masking: mask all WordPieces of a word together.
    nsp: build [CLS] A [SEP] B [SEP] pairs with next-sentence labels instead
      of packed sequences.
    dupe_factor: static masking: times each sequence is written, each with a
      different mask.
    masking: 'static' (masked records, `BertPretrainDataLoader`'s format) or
      'dynamic' (unmasked records, masked afresh at every read in training).
    num_shards: TFRecord shards of the train split; 0 lets the runner choose
      (one file per bundle: nothing is shuffled through the runner, which is
      what keeps a single machine's memory bounded). A fixed count adds a
      shuffle of all records, cheap on Dataflow, held in memory by the
      DirectRunner.
    eval_fraction: fraction of documents held out for the eval split.
    seed: seed of the split and the masks.
    lower_case: lower-case the text (uncased vocab).
    tokenize_batch_size: documents tokenized per tensorflow-text call.
  """
  seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  whole_word_masking: bool = False
  nsp: bool = False
  dupe_factor: int = 1
  masking: str = 'static'
  num_shards: int = 0
  eval_fraction: float = 0.05
  seed: int = 12345
  lower_case: bool = True
  tokenize_batch_size: int = 256

  def validate(self):
    """One clear ValueError for options that cannot work."""
    if self.seq_length < 8:
      raise ValueError(f'seq_length={self.seq_length} is too short; use >= 8.')
    body = self.seq_length - (3 if self.nsp else 2)
    if not 0 < self.max_predictions_per_seq <= body:
      raise ValueError(
          f'max_predictions_per_seq={self.max_predictions_per_seq} does not '
          f'fit seq_length={self.seq_length}: a sequence has {body} maskable '
          f'tokens; use 1..{body} (BERT: 20 at 128, 76-80 at 512).')
    if not 0.0 < self.masked_lm_prob < 1.0:
      raise ValueError(f'masked_lm_prob={self.masked_lm_prob} must be in '
                       '(0, 1).')
    if self.num_shards < 0 or self.dupe_factor < 1:
      raise ValueError('num_shards must be >= 0 and dupe_factor >= 1.')
    if self.masking not in ('static', 'dynamic'):
      raise ValueError(f"masking={self.masking!r}: use 'static' or "
                       "'dynamic'.")
    if self.masking == 'dynamic' and self.dupe_factor != 1:
      raise ValueError('dupe_factor applies to static masking only; dynamic '
                       'masking draws new masks at every read.')
    if not 0.0 <= self.eval_fraction < 1.0:
      raise ValueError(f'eval_fraction={self.eval_fraction} must be in '
                       '[0, 1).')


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


# ------------------------------------------------------- pure stages
@dataclasses.dataclass
class TokenizedDocument:
  """A document as sentences of WordPiece ids, with word ids for WWM."""
  key: str
  sentences: List[np.ndarray]
  words: List[np.ndarray]


def stable_hash(*parts) -> int:
  """A 64-bit hash of `parts` that is the same in every process."""
  digest = hashlib.blake2b(repr(parts).encode('utf-8'), digest_size=8)
  return int.from_bytes(digest.digest(), 'little')


def split_of(key: str, seed: int, eval_fraction: float) -> str:
  """'eval' for a fraction `eval_fraction` of document keys, else 'train'."""
  return ('eval' if stable_hash('split', seed, key) / 2.0**64 < eval_fraction
          else 'train')


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


def mask_sequence(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions,
                  rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """BERT masking of one sequence, padded to `seq_length` / predictions.

  Picks `round(masked_lm_prob * maskable tokens)` positions (at most
  `max_predictions_per_seq`; never [CLS]/[SEP]); of those, 80% become
  [MASK], 10% a random id, 10% stay. With whole-word masking, all pieces of
  a chosen word are masked together.
  """
  n, s = len(seq.tokens), options.seq_length
  p = options.max_predictions_per_seq
  candidates = np.where(seq.words >= 0)[0]
  if options.whole_word_masking:
    groups = [candidates[seq.words[candidates] == w]
              for w in np.unique(seq.words[candidates])]
  else:
    groups = [np.array([c]) for c in candidates]
  order = rng.permutation(len(groups))
  budget = min(p, max(1, int(round(len(candidates) *
                                   options.masked_lm_prob))))
  chosen = []
  for g in order:
    if len(chosen) + len(groups[g]) > budget:
      continue
    chosen.extend(groups[g].tolist())
    if len(chosen) >= budget:
      break
  positions = np.sort(np.array(chosen, np.int64))
  input_ids = seq.tokens.copy()
  labels = input_ids[positions].copy()
  for pos in positions:
    r = rng.random()
    if r < 0.8:
      input_ids[pos] = ids.mask_id
    elif r < 0.9:
      input_ids[pos] = rng.integers(len(vocab_lib.RESERVED_TOKENS),
                                    vocab_size)
  pad = s - n
  features = dict(
      input_ids=np.pad(input_ids, (0, pad), constant_values=ids.pad_id),
      input_mask=np.pad(np.ones(n, np.int64), (0, pad)),
      segment_ids=np.pad(seq.segment_ids.astype(np.int64), (0, pad)),
      masked_lm_positions=np.pad(positions, (0, p - len(positions))),
      masked_lm_ids=np.pad(labels, (0, p - len(labels)),
                           constant_values=ids.pad_id),
      masked_lm_weights=np.pad(np.ones(len(positions), np.float32),
                               (0, p - len(positions))))
  if options.nsp:
    features['next_sentence_labels'] = np.array([seq.next_sentence_label])
  return features


def masked_copies(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions
                  ) -> Iterator[Dict[str, np.ndarray]]:
  """`dupe_factor` maskings of `seq`, each seeded by (seed, key, copy)."""
  for dupe in range(options.dupe_factor):
    rng = np.random.default_rng(stable_hash('mask', options.seed, seq.key,
                                            dupe))
    yield mask_sequence(seq, ids, vocab_size, options, rng)


def unmasked_features(seq: PackedSequence,
                      ids: special_tokens.SpecialTokenIds,
                      options: DataOptions) -> Dict[str, np.ndarray]:
  """The record of dynamic masking: ids, mask, segments and word ids."""
  pad = options.seq_length - len(seq.tokens)
  features = dict(
      input_ids=np.pad(seq.tokens, (0, pad), constant_values=ids.pad_id),
      input_mask=np.pad(np.ones(len(seq.tokens), np.int64), (0, pad)),
      segment_ids=np.pad(seq.segment_ids, (0, pad)),
      word_ids=np.pad(seq.words, (0, pad), constant_values=-1))
  if options.nsp:
    features['next_sentence_labels'] = np.array([seq.next_sentence_label])
  return features


# ------------------------------------------------------------ beam stages
class ReadTokenizePack(beam.DoFn):
  """Source unit -> packed sequences, tagged 'train' or 'eval'.

  Reads the unit's documents in order (streamed), splits them by a hash of
  their key, tokenizes in batches and packs each split's stream.
  """

  def __init__(self, source: Source, vocab_file: str, options: DataOptions):
    self._source = source
    self._vocab_file = vocab_file
    self._options = options

  def setup(self):
    self._tokenizer = vocab_lib.make_tokenizer(self._vocab_file,
                                               self._options.lower_case)
    self._ids = special_tokens.resolve_special_token_ids(self._vocab_file)
    counter = beam.metrics.Metrics.counter
    self._counters = {
        (split, name): counter(METRICS_NAMESPACE, f'{split}_{name}')
        for split in ('train', 'eval')
        for name in ('documents', 'sequences', 'tokens', 'text_bytes')}

  def process(self, unit: str):
    options = self._options
    unit_key = f'u{stable_hash("unit", unit):016x}'

    def keyed(split):
      for i, text in enumerate(self._source.read(unit)):
        key = f'{unit_key}/{i}'
        if split_of(key, options.seed, options.eval_fraction) == split:
          self._counters[(split, 'documents')].inc()
          self._counters[(split, 'text_bytes')].inc(len(text.encode()))
          yield key, text

    # The unit is read once per split: reading is cheap next to
    # tokenization, and each split's stream stays a plain generator.
    for split in ('train', 'eval') if options.eval_fraction else ('train',):
      docs = tokenize(keyed(split), self._tokenizer,
                      options.tokenize_batch_size)
      prefix = f'{unit_key}/{split}'
      if options.nsp:
        sequences = pack_nsp(docs, self._ids, options.seq_length, prefix,
                             options.seed)
      else:
        sequences = pack(docs, self._ids, options.seq_length, prefix)
      for seq in sequences:
        self._counters[(split, 'sequences')].inc()
        self._counters[(split, 'tokens')].inc(len(seq.tokens))
        yield beam.pvalue.TaggedOutput(split, seq)


def _mask_fn(vocab_file, options):
  ids = special_tokens.resolve_special_token_ids(vocab_file)
  if options.masking == 'dynamic':
    return lambda seq: [unmasked_features(seq, ids, options)]
  return lambda seq: masked_copies(seq, ids, ids.vocab_size, options)


_TEMP_DIR = '.beam-temp'  # under the output directory, removed at the end.


def _new_temp_file(temp_dir: str, prefix: str) -> str:
  tf.io.gfile.makedirs(temp_dir)
  return os.path.join(temp_dir, f'{prefix}-{uuid.uuid4().hex}.tfrecord')


class _WriteBundle(beam.DoFn):
  """Writes each bundle's records to one new TFRecord file in `temp_dir`."""

  def __init__(self, temp_dir: str, prefix: str):
    self._temp_dir = temp_dir
    self._prefix = prefix

  def start_bundle(self):
    self._writer, self._path = None, None

  def process(self, record: bytes):
    if self._writer is None:
      self._path = _new_temp_file(self._temp_dir, self._prefix)
      self._writer = tf.io.TFRecordWriter(self._path)
    self._writer.write(record)

  def finish_bundle(self):
    if self._writer is not None:
      self._writer.close()
      yield beam.transforms.window.GlobalWindows.windowed_value(self._path)


def _write_group(keyed, temp_dir: str, prefix: str) -> str:
  _, group = keyed
  path = _new_temp_file(temp_dir, prefix)
  with tf.io.TFRecordWriter(path) as writer:
    for record in group:
      writer.write(record)
  return path


def _finalize(paths: List[str], output_dir: str, prefix: str) -> List[str]:
  """Renames the written files to `prefix-SSSSS-of-NNNNN.tfrecord`."""
  paths = sorted(paths)
  final = []
  for i, path in enumerate(paths):
    target = os.path.join(output_dir,
                          f'{prefix}-{i:05d}-of-{len(paths):05d}.tfrecord')
    tf.io.gfile.rename(path, target, overwrite=True)
    final.append(target)
  return final


class WriteTFRecords(beam.PTransform):
  """Writes serialized records as `output_dir/prefix-SSSSS-of-NNNNN.tfrecord`.

  Through tf.io.gfile, so any filesystem TensorFlow reads (local, `gs://`,
  `ram://`, ...) works as the output; Beam's own `WriteToTFRecord` knows only
  Beam's filesystems. Like Beam's file sinks, each bundle (or, with
  `num_shards`, each shard's group) is written to a temporary file and the
  files are renamed into place once all are written; a failed bundle's
  retry writes a new file and the failed one is never renamed.

  Args:
    output_dir: destination directory.
    prefix: `train` or `eval`.
    num_shards: 0: one file per bundle (no shuffle, bounded memory); N: exactly
      N files (records grouped by a hash: a shuffle through the runner).
  """

  def __init__(self, output_dir: str, prefix: str, num_shards: int = 0):
    super().__init__()
    self._output_dir = output_dir
    self._prefix = prefix
    self._num_shards = num_shards

  def expand(self, pcoll):
    temp_dir = os.path.join(self._output_dir, _TEMP_DIR)
    if self._num_shards:
      n = self._num_shards
      paths = (pcoll
               | 'Key' >> beam.Map(lambda r: (stable_hash(r) % n, r))
               | 'Group' >> beam.GroupByKey()
               | 'WriteShards' >> beam.Map(_write_group, temp_dir,
                                           self._prefix))
    else:
      paths = pcoll | 'WriteBundles' >> beam.ParDo(
          _WriteBundle(temp_dir, self._prefix))
    return (paths
            | 'Collect' >> beam.combiners.ToList()
            | 'Finalize' >> beam.Map(_finalize, self._output_dir,
                                     self._prefix))


def build_pipeline(pipeline: beam.Pipeline, source: Source, vocab_file: str,
                   output_dir: str, options: DataOptions):
  """Adds the stages to `pipeline`; shards go to `output_dir/{split}-*`."""
  sequences = (
      pipeline
      | 'Sources' >> beam.Create(list(source.units))
      | 'ReadTokenizePack' >> beam.ParDo(
          ReadTokenizePack(source, vocab_file, options)).with_outputs(
              'train', 'eval'))
  mask = _mask_fn(vocab_file, options)
  for split in ('train', 'eval'):
    num_shards = options.num_shards if split == 'train' else 0
    _ = (sequences[split]
         | f'Mask{split.title()}' >> beam.FlatMap(mask)
         | f'Serialize{split.title()}' >> beam.Map(records.serialize)
         | f'Write{split.title()}' >> WriteTFRecords(output_dir, split,
                                                     num_shards))


# ------------------------------------------------------------ running
def pipeline_options(beam_args: Sequence[str], output_dir: str,
                     num_workers: int = 0) -> beam_options.PipelineOptions:
  """Beam options: the user's, else DirectRunner multi-processing.

  Raises:
    ValueError: on an option no Beam component knows (a typo would otherwise
      be dropped silently).
  """
  beam_args = list(beam_args)
  options = beam_options.PipelineOptions(beam_args)
  known = options.get_all_options(retain_unknown_options=False)
  every = options.get_all_options(retain_unknown_options=True)
  unknown = sorted(set(every) - set(known))
  if unknown:
    raise ValueError(
        f'Unknown option(s) {unknown}: neither a flag of this program nor a '
        f'Beam pipeline option (passed through: {beam_args}); see --help, '
        '`python -m apache_beam.runners.runner --help` or the runner\'s '
        'documentation (e.g. --runner=DataflowRunner --project=... '
        '--region=... --temp_location=gs://...).')
  if not _is_direct(options) and not _is_in_process(options):
    # Remote workers import official_td: ship it unless the user does.
    options = beam_options.PipelineOptions(
        beam_args + packaging.worker_package_args(beam_args))
  if _is_direct(options):
    direct = options.view_as(beam_options.DirectOptions)
    if output_dir.startswith('ram://'):
      # ram:// is one process's memory: workers of their own cannot see it.
      direct.direct_running_mode = 'in_memory'
      direct.direct_num_workers = 1
    else:
      if not any(a.startswith('--direct_running_mode') for a in beam_args):
        direct.direct_running_mode = 'multi_processing'
      if not any(a.startswith('--direct_num_workers') for a in beam_args):
        direct.direct_num_workers = num_workers or os.cpu_count() or 1
  return options


def _is_direct(options: beam_options.PipelineOptions) -> bool:
  return options.get_all_options().get('runner') in (None, 'DirectRunner')


def _is_in_process(options: beam_options.PipelineOptions) -> bool:
  """Runners whose workers share this machine's Python environment."""
  return options.get_all_options().get('runner') in (
      'InteractiveRunner', 'PrismRunner', 'BundleBasedDirectRunner',
      'SwitchingDirectRunner')


def _runner(options: beam_options.PipelineOptions):
  """The runner object for `options`; None lets Beam pick the named runner.

  For the DirectRunner, Beam 2.77 first tries its Prism runner, which
  downloads a binary at run time (and fails offline, or runs with other
  settings); the FnApiRunner is the DirectRunner's own engine, works offline
  and is what `--direct_running_mode` / `--direct_num_workers` configure.
  """
  if _is_direct(options):
    from apache_beam.runners.portability import fn_api_runner  # pylint: disable=g-import-not-at-top
    return fn_api_runner.FnApiRunner()
  return None


def _check_output_dir(output_dir: str):
  """Refuses a complete or foreign output; clears our own interrupted one."""
  if not tf.io.gfile.exists(output_dir):
    return
  if tf.io.gfile.exists(os.path.join(output_dir, SUMMARY)):
    raise ValueError(
        f'{output_dir!r} already holds complete pretraining data '
        f'({SUMMARY} is there); it is never overwritten. Choose a new '
        '--output_dir.')
  contents = tf.io.gfile.listdir(output_dir)
  if not contents:
    return
  if INCOMPLETE.lstrip('/') in [c.rstrip('/') for c in contents]:
    logging.info('%s holds an interrupted run; clearing it.', output_dir)
    tf.io.gfile.rmtree(output_dir)
    return
  raise ValueError(
      f'Output directory {output_dir!r} already exists and is not empty (and '
      'was not written by an interrupted create_pretraining_data); choose a '
      'new --output_dir or remove it first.')


def _metric_counts(result) -> Dict[str, int]:
  counts = {}
  query = result.metrics().query(
      beam.metrics.MetricsFilter().with_namespace(METRICS_NAMESPACE))
  for counter in query['counters']:
    name = counter.key.metric.name
    value = counter.committed if counter.committed is not None else (
        counter.attempted)
    counts[name] = counts.get(name, 0) + int(value or 0)
  return counts


def create_pretraining_data(source,
                            output_dir: str,
                            options: DataOptions,
                            vocab_file: Optional[str] = None,
                            build_vocab_size: Optional[int] = None,
                            vocab_sample_bytes: int = 20 << 20,
                            beam_args: Sequence[str] = (),
                            num_workers: int = 0) -> Dict:
  """Runs the pipeline; returns the summary (also `data_summary.json`).

  Writes `output_dir/{train,eval}-SSSSS-of-NNNNN.tfrecord`, `vocab.txt` and,
  last, `data_summary.json`: a directory without it is incomplete, and
  training refuses it. An interrupted run's directory is cleared and
  rewritten by the next run; a complete output is never overwritten.

  Args:
    source: a `Source` (or a list of document strings, for small corpora).
    output_dir: destination, any tf.io.gfile URL.
    options: `DataOptions`.
    vocab_file: an existing WordPiece vocab, or None to build one.
    build_vocab_size: size of the vocab to build when `vocab_file` is None,
      learned from the first `vocab_sample_bytes` of text.
    vocab_sample_bytes: bound of the vocab-learning sample.
    beam_args: Beam pipeline options (`--runner=...`).
    num_workers: DirectRunner worker processes (0: one per core).

  Returns:
    The summary dict.

  Raises:
    ValueError: before any output, on bad options, input, vocab or output.
  """
  start = time.time()
  options.validate()
  if not isinstance(source, Source):
    source = in_memory(list(source))
  if not source.units or (source.kind == 'memory' and
                          not source.documents_in_memory):
    raise ValueError('The corpus is empty: no document was given.')
  if vocab_file is None and not build_vocab_size:
    raise ValueError('Pass --vocab_file, or --build_vocab_size to build one.')
  if vocab_file is not None:
    special_tokens.resolve_special_token_ids(vocab_file)
  beam_opts = pipeline_options(beam_args, output_dir, num_workers)
  _check_output_dir(output_dir)
  source.check()
  # With a vocab given, one document proves the corpus is not empty.
  sample = _vocab_sample(source, vocab_sample_bytes if vocab_file is None
                         else 1)
  if not sample:
    raise ValueError(
        'The corpus is empty: no document with text was found. Check '
        '--input_files (blank-line-separated documents) or the TFDS split.')

  tf.io.gfile.makedirs(output_dir)
  with tf.io.gfile.GFile(os.path.join(output_dir, INCOMPLETE), 'w') as f:
    f.write('create_pretraining_data is writing this directory.\n')
  vocab_path = os.path.join(output_dir, 'vocab.txt')
  if vocab_file is None:
    sample_bytes = sum(len(d.encode()) for d in sample)
    logging.info('Learning a %d-token vocab from %d documents (%d bytes)...',
                 build_vocab_size, len(sample), sample_bytes)
    vocab_lib.build_vocab(sample, build_vocab_size, vocab_path,
                          options.lower_case)
    vocab_info = dict(built=True, requested_size=build_vocab_size,
                      sample_documents=len(sample), sample_bytes=sample_bytes,
                      sample_limit_bytes=vocab_sample_bytes)
    del sample
  else:
    tf.io.gfile.copy(vocab_file, vocab_path, overwrite=True)
    vocab_info = dict(built=False, source=vocab_file)
  ids = special_tokens.resolve_special_token_ids(vocab_path)

  with beam.Pipeline(runner=_runner(beam_opts), options=beam_opts) as pipeline:
    build_pipeline(pipeline, source, vocab_path, output_dir, options)
  result = pipeline.result if hasattr(pipeline, 'result') else None
  if tf.io.gfile.exists(os.path.join(output_dir, _TEMP_DIR)):
    tf.io.gfile.rmtree(os.path.join(output_dir, _TEMP_DIR))
  counts = _metric_counts(result) if result is not None else {}

  summary = dict(
      format='official_td pretraining data v2',
      masking=options.masking,
      vocab_size=ids.vocab_size,
      seq_length=options.seq_length,
      max_predictions_per_seq=options.max_predictions_per_seq,
      masked_lm_prob=options.masked_lm_prob,
      whole_word_masking=options.whole_word_masking,
      nsp=options.nsp,
      dupe_factor=options.dupe_factor,
      seed=options.seed,
      lower_case=options.lower_case,
      source=source.describe(),
      vocab=vocab_info,
      runner=beam_opts.get_all_options().get('runner') or 'DirectRunner')
  total_docs = 0
  for split in ('train', 'eval'):
    files = sorted(tf.io.gfile.glob(os.path.join(output_dir,
                                                 f'{split}-*.tfrecord')))
    sequences = counts.get(f'{split}_sequences', 0)
    if not sequences:
      for path in files:  # an empty split leaves no empty shard behind.
        tf.io.gfile.remove(path)
      continue
    tokens = counts.get(f'{split}_tokens', 0)
    total_docs += counts.get(f'{split}_documents', 0)
    copies = options.dupe_factor if options.masking == 'static' else 1
    summary[split] = dict(
        documents=counts.get(f'{split}_documents', 0),
        text_bytes=counts.get(f'{split}_text_bytes', 0),
        sequences=sequences * copies,
        unique_sequences=sequences,
        tokens=tokens,
        padding_fraction=round(
            1.0 - tokens / max(sequences * options.seq_length, 1), 4),
        shards=len(files))
  if 'train' not in summary:
    tf.io.gfile.rmtree(output_dir)
    raise ValueError(
        'The corpus is empty after tokenization: no training sequence was '
        'made. Check the input text and the vocab.')
  summary['documents'] = total_docs
  summary['seconds'] = round(time.time() - start, 1)
  # The completion marker, last.
  io_utils.write_json(os.path.join(output_dir, SUMMARY), summary)
  tf.io.gfile.remove(os.path.join(output_dir, INCOMPLETE))
  return summary


def _vocab_sample(source: Source, limit_bytes: int) -> List[str]:
  sample, size = [], 0
  for doc in source.documents():
    if not doc.strip():
      continue
    sample.append(doc)
    size += len(doc.encode())
    if size >= limit_bytes:
      break
  return sample
