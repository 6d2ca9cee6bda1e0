"""Resolves the ids of BERT's special tokens from a WordPiece vocab file.

The ids differ between vocabularies (e.g. 0 and 100-103 in the English uncased
vocab, other values in multilingual or corpus-built ones), so they are looked up
by string instead of being hard-coded.
"""

import dataclasses
from typing import Dict, List, Tuple

import tensorflow as tf

# Tokens that are always kept in the middle layers, and the padding token that
# is never kept ahead of a real token.
KEEP_TOKENS = ('[CLS]', '[SEP]', '[MASK]', '[UNK]')
PAD_TOKEN = '[PAD]'
# The reserved tokens of a vocab built from a corpus, in id order ([PAD] is
# id 0, as in BERT). Masking's random replacements are ids from
# FIRST_RANDOM_ID on.
RESERVED_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
FIRST_RANDOM_ID = len(RESERVED_TOKENS)


@dataclasses.dataclass(frozen=True)
class SpecialTokenIds:
  """Ids of the special tokens of one vocabulary.

  Attributes:
    vocab_size: number of entries in the vocab file.
    cls_id, sep_id, mask_id, unk_id, pad_id: ids of `[CLS]`, `[SEP]`,
      `[MASK]`, `[UNK]` and `[PAD]`.
  """
  vocab_size: int
  cls_id: int
  sep_id: int
  mask_id: int
  unk_id: int
  pad_id: int

  @property
  def allow_ids(self) -> Tuple[int, ...]:
    """Ids that token dropping always keeps."""
    return (self.cls_id, self.sep_id, self.mask_id, self.unk_id)

  @property
  def deny_ids(self) -> Tuple[int, ...]:
    """Ids that token dropping never keeps ahead of a real token."""
    return (self.pad_id,)


def load_vocab(vocab_file: str) -> List[str]:
  """The tokens of a WordPiece vocab file, one per line, in id order.

  The one place a vocab file is read (local or any `tf.io.gfile` URL).

  Raises:
    ValueError: if the file does not exist.
  """
  if not tf.io.gfile.exists(vocab_file):
    raise ValueError(
        f'Vocab file {vocab_file!r} does not exist. Pass the path of a '
        'WordPiece vocab.txt (one token per line).')
  with tf.io.gfile.GFile(vocab_file, 'r') as f:
    return [line.rstrip('\n') for line in f]


def token_ids(tokens: List[str]) -> Dict[str, int]:
  """token -> id of a vocab's tokens (the first id of a repeated token)."""
  ids = {}
  for index, token in enumerate(tokens):
    token = token.strip()
    if token and token not in ids:
      ids[token] = index
  return ids


def resolve_special_token_ids(vocab_file: str) -> SpecialTokenIds:
  """Looks up the special tokens' ids in `vocab_file`.

  Args:
    vocab_file: path of a WordPiece vocab file, one token per line.

  Returns:
    A `SpecialTokenIds`.

  Raises:
    ValueError: if the file is missing or lacks one of `[CLS]`, `[SEP]`,
      `[MASK]`, `[UNK]`, `[PAD]`.
  """
  tokens = load_vocab(vocab_file)
  vocab = token_ids(tokens)
  missing = [t for t in KEEP_TOKENS + (PAD_TOKEN,) if t not in vocab]
  if missing:
    raise ValueError(
        f'Vocab file {vocab_file!r} lacks the special token(s) {missing}. '
        'Token dropping needs [CLS], [SEP], [MASK], [UNK] and [PAD]: use a '
        'BERT WordPiece vocab, or build one with '
        'official_td.data.examples.vocab_builder (which reserves them).')
  return SpecialTokenIds(
      vocab_size=len(tokens),
      cls_id=vocab['[CLS]'],
      sep_id=vocab['[SEP]'],
      mask_id=vocab['[MASK]'],
      unk_id=vocab['[UNK]'],
      pad_id=vocab[PAD_TOKEN])
