r"""Creates BERT masked-LM pretraining TFRecords from raw text.

Reads a corpus (the embedded default, text files, or a prepared TFDS dataset),
tokenizes it with tensorflow-text's BertTokenizer (given vocab, or one built
from the corpus), packs consecutive sentences and documents into sequences of
exactly `seq_length`, applies BERT masking and writes sharded TFRecords with
the feature names tf-models-official's `BertPretrainDataLoader` reads
(`input_ids`, `input_mask`, `segment_ids`, `masked_lm_positions`,
`masked_lm_ids`, `masked_lm_weights`, and `next_sentence_labels` with --nsp).

Output (written to a temporary directory, renamed into place when complete):
  OUTPUT_DIR/train-00000-of-0000N.tfrecord, eval-....tfrecord, vocab.txt,
  data_summary.json

Examples:

  # The embedded corpus, a vocab built from it (no download):
  python -m official_td.data.create_pretraining_data --output_dir=/tmp/td_data \
      --build_vocab_size=8000 --seq_length=128 --max_predictions_per_seq=20

  # Your own text with BERT's uncased vocab:
  python -m official_td.data.create_pretraining_data \
      --input_files='corpus/*.txt' --vocab_file=uncased_L-12_H-768_A-12/vocab.txt \
      --output_dir=gs://bucket/td_data --seq_length=512 \
      --max_predictions_per_seq=76 --num_shards=256
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Dict, Iterable, List, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from official_td.data import corpus as corpus_lib
from official_td.data import vocab as vocab_lib
from official_td.layers import special_tokens


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
    dupe_factor: times each sequence is written with a different mask.
    num_shards: TFRecord shards of the train split.
    eval_fraction: fraction of documents held out for the eval split.
    seed: seed of packing, masking and the train/eval split.
    lower_case: lower-case the text (uncased vocab).
  """
  seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  whole_word_masking: bool = False
  nsp: bool = False
  dupe_factor: int = 1
  num_shards: int = 4
  eval_fraction: float = 0.05
  seed: int = 12345
  lower_case: bool = True

  def validate(self):
    if self.seq_length < 8:
      raise ValueError(f'seq_length={self.seq_length} is too short; use >= 8.')
    if not 0 < self.max_predictions_per_seq < self.seq_length:
      raise ValueError(
          f'max_predictions_per_seq={self.max_predictions_per_seq} must be '
          f'between 1 and seq_length - 1 = {self.seq_length - 1}.')
    if not 0.0 < self.masked_lm_prob < 1.0:
      raise ValueError(f'masked_lm_prob={self.masked_lm_prob} must be in '
                       '(0, 1).')
    if self.num_shards < 1 or self.dupe_factor < 1:
      raise ValueError('num_shards and dupe_factor must be >= 1.')
    if not 0.0 <= self.eval_fraction < 1.0:
      raise ValueError(f'eval_fraction={self.eval_fraction} must be in '
                       '[0, 1).')


@dataclasses.dataclass
class TokenizedDocument:
  """A document as sentences of WordPiece ids, with word ids for WWM."""
  sentences: List[np.ndarray]
  words: List[np.ndarray]


def tokenize(documents: Sequence[str], tokenizer,
             batch_size: int = 512) -> List[TokenizedDocument]:
  """Tokenizes documents (one sentence per line) with a BertTokenizer."""
  lines, owners = [], []
  for d, doc in enumerate(documents):
    for line in doc.splitlines():
      if line.strip():
        lines.append(line)
        owners.append(d)
  docs = [TokenizedDocument([], []) for _ in documents]
  next_word = 0
  for start in range(0, len(lines), batch_size):
    pieces = tokenizer.tokenize(tf.constant(lines[start:start + batch_size]))
    # [lines, words, pieces] -> per line: piece ids and the word of each.
    values = pieces.flat_values.numpy()
    word_lengths = pieces.values.row_lengths().numpy()
    words_per_line = pieces.row_lengths().numpy()
    piece_pos, word_pos = 0, 0
    for i, num_words in enumerate(words_per_line):
      lengths = word_lengths[word_pos:word_pos + num_words]
      n = int(lengths.sum())
      ids = values[piece_pos:piece_pos + n]
      word_ids = next_word + np.repeat(np.arange(num_words), lengths)
      next_word += num_words
      piece_pos += n
      word_pos += num_words
      if n:
        doc = docs[owners[start + i]]
        doc.sentences.append(ids)
        doc.words.append(word_ids)
  return [d for d in docs if d.sentences]


@dataclasses.dataclass
class PackedSequence:
  """One sequence before masking: ids, segments and the word of each id."""
  tokens: np.ndarray
  segment_ids: np.ndarray
  words: np.ndarray
  next_sentence_label: int = 0


def pack(docs: List[TokenizedDocument], ids: special_tokens.SpecialTokenIds,
         options: DataOptions,
         rng: np.random.Generator) -> List[PackedSequence]:
  """Packs documents into sequences of exactly `seq_length` tokens.

  Without NSP, consecutive sentences and documents fill each sequence
  (`[CLS] ... [SEP] ... [SEP]`, a [SEP] closing every document), so there is
  padding only at the very end of the corpus. With NSP, each sequence is
  `[CLS] A [SEP] B [SEP]` where B follows A (label 0) or is taken from another
  document (label 1), half the time each.
  """
  if options.nsp:
    return _pack_nsp(docs, ids, options, rng)
  body = options.seq_length - 2
  stream, words = [], []
  for doc in docs:
    for sentence, word in zip(doc.sentences, doc.words):
      stream.append(sentence)
      words.append(word)
    stream.append(np.array([ids.sep_id]))
    words.append(np.array([-1]))
  stream = np.concatenate(stream)
  words = np.concatenate(words)
  sequences = []
  start = 0
  while start < len(stream):
    if stream[start] == ids.sep_id:  # no sequence starts at a boundary.
      start += 1
      continue
    chunk = stream[start:start + body]
    word_chunk = words[start:start + body]
    start += body
    tokens = np.concatenate([[ids.cls_id], chunk, [ids.sep_id]])
    sequences.append(PackedSequence(tokens, np.zeros_like(tokens),
                               np.concatenate([[-1], word_chunk, [-1]])))
  return sequences


def _pack_nsp(docs, ids, options, rng):
  target = options.seq_length - 3
  sequences = []
  for d, doc in enumerate(docs):
    chunk, chunk_words, length = [], [], 0
    for i, (sentence, word) in enumerate(zip(doc.sentences, doc.words)):
      chunk.append(sentence)
      chunk_words.append(word)
      length += len(sentence)
      if length < target and i < len(doc.sentences) - 1:
        continue
      if len(chunk) >= 2 or len(docs) > 1:
        split = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
        a, a_words = chunk[:split], chunk_words[:split]
        b, b_words = chunk[split:], chunk_words[split:]
        label = 0
        if not b or rng.random() < 0.5:
          other = docs[(d + 1 + int(rng.integers(len(docs) - 1))) % len(docs)]
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
                                 [ids.sep_id]])
        segments = np.concatenate([np.zeros(len(a) + 2), np.ones(len(b) + 1)])
        word = np.concatenate([[-1], a_words, [-1], b_words + 10**9, [-1]])
        sequences.append(PackedSequence(tokens, segments.astype(np.int64),
                                        word, label))
      chunk, chunk_words, length = [], [], 0
  return sequences


def mask_sequence(seq: PackedSequence, ids: special_tokens.SpecialTokenIds,
                  vocab_size: int, options: DataOptions,
                  rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """BERT masking of one sequence, padded to `seq_length` / predictions.

  Picks `round(masked_lm_prob * real tokens)` positions (at most
  `max_predictions_per_seq`; never [CLS]/[SEP]); of those, 80% become [MASK],
  10% a random id, 10% stay. With whole-word masking, all pieces of a chosen
  word are masked together.
  """
  n, s, p = len(seq.tokens), options.seq_length, options.max_predictions_per_seq
  candidates = np.where(seq.words >= 0)[0]
  if options.whole_word_masking:
    groups = [candidates[seq.words[candidates] == w]
              for w in np.unique(seq.words[candidates])]
  else:
    groups = [np.array([c]) for c in candidates]
  order = rng.permutation(len(groups))
  budget = min(p, max(1, int(round(len(candidates) * options.masked_lm_prob))))
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



def to_example(features: Dict[str, np.ndarray]) -> bytes:
  def feature(v):
    if v.dtype == np.float32:
      return tf.train.Feature(float_list=tf.train.FloatList(value=v.tolist()))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=v.tolist()))
  return tf.train.Example(features=tf.train.Features(
      feature={k: feature(v) for k, v in features.items()})).SerializeToString()


def _write_split(examples: Iterable[bytes], directory: str, prefix: str,
                 num_shards: int) -> List[str]:
  paths = [os.path.join(directory, f'{prefix}-{i:05d}-of-{num_shards:05d}'
                        '.tfrecord') for i in range(num_shards)]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  try:
    for i, example in enumerate(examples):
      writers[i % num_shards].write(example)
  finally:
    for w in writers:
      w.close()
  return paths


def create_pretraining_data(documents: Sequence[str],
                            output_dir: str,
                            options: DataOptions,
                            vocab_file: Optional[str] = None,
                            build_vocab_size: Optional[int] = None) -> Dict:
  """Writes train/eval TFRecords, vocab.txt and data_summary.json.

  Everything is written under a temporary sibling directory that is renamed to
  `output_dir` only when complete, so a failure never leaves a half-written
  dataset, and an existing `output_dir` is never overwritten.

  Args:
    documents: the corpus.
    output_dir: destination directory; must not exist (or be empty).
    options: `DataOptions`.
    vocab_file: an existing WordPiece vocab, or None to build one.
    build_vocab_size: size of the vocab to build when `vocab_file` is None.

  Returns:
    The summary dict (also written as `data_summary.json`).

  Raises:
    ValueError: on an empty corpus, an existing output, a bad vocab or
      options.
  """
  options.validate()
  if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir):
    raise ValueError(
        f'Output directory {output_dir!r} already exists and is not empty; '
        'choose a new --output_dir or remove it first (existing data is '
        'never overwritten).')
  if not documents:
    raise ValueError(
        'The corpus is empty: no document with text was found. Check '
        '--input_files (blank-line-separated documents) or the TFDS split.')
  if vocab_file is None and not build_vocab_size:
    raise ValueError('Pass --vocab_file, or --build_vocab_size to build one.')
  if vocab_file is not None:
    special_tokens.resolve_special_token_ids(vocab_file)
  parent = os.path.dirname(os.path.abspath(output_dir)) or '.'
  tf.io.gfile.makedirs(parent)
  tmp_dir = tempfile.mkdtemp(prefix='.tmp-' + os.path.basename(output_dir),
                             dir=parent)
  os.chmod(tmp_dir, 0o755)
  try:
    summary = _create(documents, tmp_dir, options, vocab_file,
                      build_vocab_size)
    if tf.io.gfile.exists(output_dir):
      tf.io.gfile.rmtree(output_dir)  # empty, checked above.
    os.rename(tmp_dir, output_dir)
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise
  return summary


def _create(documents, out, options, vocab_file, build_vocab_size):
  start = time.time()
  rng = np.random.default_rng(options.seed)
  vocab_path = os.path.join(out, 'vocab.txt')
  if vocab_file is None:
    logging.info('Building a %d-token WordPiece vocab from %d documents...',
                 build_vocab_size, len(documents))
    vocab_lib.build_vocab(documents, build_vocab_size, vocab_path,
                          options.lower_case)
  else:
    tf.io.gfile.copy(vocab_file, vocab_path)
  ids = special_tokens.resolve_special_token_ids(vocab_path)
  tokenizer = vocab_lib.make_tokenizer(vocab_path, options.lower_case)

  logging.info('Tokenizing %d documents...', len(documents))
  docs = tokenize(documents, tokenizer)
  if not docs:
    raise ValueError('The corpus is empty after tokenization.')
  is_eval = rng.random(len(docs)) < options.eval_fraction
  if options.eval_fraction and len(docs) > 1 and not is_eval.any():
    is_eval[-1] = True
  summary = dict(documents=len(docs), vocab_size=ids.vocab_size,
                 seq_length=options.seq_length,
                 max_predictions_per_seq=options.max_predictions_per_seq,
                 nsp=options.nsp, whole_word_masking=options.whole_word_masking)
  for split, selected in (('train', ~is_eval), ('eval', is_eval)):
    split_docs = [d for d, keep in zip(docs, selected) if keep]
    if not split_docs:
      continue
    sequences = pack(split_docs, ids, options, rng)
    if split == 'train':
      order = rng.permutation(len(sequences))
      sequences = [sequences[i] for i in order]
    dupes = options.dupe_factor if split == 'train' else 1
    num_shards = options.num_shards if split == 'train' else 1
    if num_shards > len(sequences) * dupes:  # no empty shard.
      logging.warning('Only %d %s sequences: writing %d shards instead of %d.',
                      len(sequences) * dupes, split, len(sequences) * dupes,
                      num_shards)
      num_shards = len(sequences) * dupes
    real_tokens = sum(len(s.tokens) for s in sequences)

    def examples(sequences=sequences, dupes=dupes, split=split):
      for dupe in range(dupes):
        for i, seq in enumerate(sequences):
          yield to_example(mask_sequence(seq, ids, ids.vocab_size, options,
                                         rng))
          done = dupe * len(sequences) + i + 1
          if done % 2000 == 0:
            logging.info('%s: %d/%d sequences (%.0fs)', split, done,
                         dupes * len(sequences), time.time() - start)

    _write_split(examples(), out, split, num_shards)
    total = len(sequences) * options.seq_length
    summary[split] = dict(
        documents=len(split_docs),
        sequences=len(sequences) * dupes,
        tokens=real_tokens,
        padding_fraction=round(1.0 - real_tokens / max(total, 1), 4),
        shards=num_shards)
  summary['seconds'] = round(time.time() - start, 1)
  with tf.io.gfile.GFile(os.path.join(out, 'data_summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  return summary


def load_documents(input_files: Sequence[str] = (),
                   tfds_name: Optional[str] = None,
                   tfds_data_dir: Optional[str] = None,
                   tfds_split: str = 'train',
                   tfds_text_key: str = 'text',
                   max_documents: Optional[int] = None) -> List[str]:
  """The corpus: text files, a TFDS dataset, or (neither given) the embedded.
  """
  if input_files and tfds_name:
    raise ValueError('Pass either --input_files or --tfds_name, not both.')
  if input_files:
    docs = corpus_lib.text_file_corpus(input_files)
    return docs[:max_documents] if max_documents else docs
  if tfds_name:
    return corpus_lib.tfds_corpus(tfds_name, tfds_data_dir, tfds_split,
                                  tfds_text_key, max_documents)
  return corpus_lib.embedded_corpus(max_documents)


def define_flags():
  flags.DEFINE_string('output_dir', None, 'Directory to create (must be new).')
  flags.DEFINE_list('input_files', [], 'Text files/globs; blank lines separate '
                    'documents. Default: the embedded corpus.')
  flags.DEFINE_string('tfds_name', None, 'A prepared TFDS text dataset.')
  flags.DEFINE_string('tfds_data_dir', None, 'TFDS data_dir holding it.')
  flags.DEFINE_string('tfds_split', 'train', 'TFDS split.')
  flags.DEFINE_string('tfds_text_key', 'text', 'TFDS text feature.')
  flags.DEFINE_integer('max_documents', None, 'Cap on documents read.')
  flags.DEFINE_string('vocab_file', None, 'WordPiece vocab.txt to use.')
  flags.DEFINE_integer('build_vocab_size', None,
                       'Build a vocab of this size from the corpus instead.')
  defaults = DataOptions()
  flags.DEFINE_integer('seq_length', defaults.seq_length, 'Sequence length.')
  flags.DEFINE_integer('max_predictions_per_seq',
                       defaults.max_predictions_per_seq, 'MLM slots.')
  flags.DEFINE_float('masked_lm_prob', defaults.masked_lm_prob, 'Mask rate.')
  flags.DEFINE_bool('whole_word_masking', False, 'Whole-word masking.')
  flags.DEFINE_bool('nsp', False, 'Sentence pairs with NSP labels.')
  flags.DEFINE_integer('dupe_factor', defaults.dupe_factor, 'Masks per seq.')
  flags.DEFINE_integer('num_shards', defaults.num_shards, 'Train shards.')
  flags.DEFINE_float('eval_fraction', defaults.eval_fraction,
                     'Fraction of documents held out for eval.')
  flags.DEFINE_integer('seed', defaults.seed, 'Random seed.')
  flags.DEFINE_bool('lower_case', True, 'Lower-case (uncased vocab).')
  flags.mark_flag_as_required('output_dir')


def main(argv):
  del argv
  flags_ = flags.FLAGS
  options = DataOptions(
      seq_length=flags_.seq_length,
      max_predictions_per_seq=flags_.max_predictions_per_seq,
      masked_lm_prob=flags_.masked_lm_prob,
      whole_word_masking=flags_.whole_word_masking,
      nsp=flags_.nsp,
      dupe_factor=flags_.dupe_factor,
      num_shards=flags_.num_shards,
      eval_fraction=flags_.eval_fraction,
      seed=flags_.seed,
      lower_case=flags_.lower_case)
  options.validate()
  docs = load_documents(flags_.input_files, flags_.tfds_name,
                        flags_.tfds_data_dir, flags_.tfds_split,
                        flags_.tfds_text_key, flags_.max_documents)
  summary = create_pretraining_data(docs, flags_.output_dir, options,
                                    flags_.vocab_file,
                                    flags_.build_vocab_size)
  print(json.dumps(summary))
  print(f'Wrote {flags_.output_dir}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
