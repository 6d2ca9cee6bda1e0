"""Resolves the ids of BERT's special tokens from a WordPiece vocab file.

The ids differ between vocabularies (e.g. 0 and 100-103 in the English uncased
vocab, other values in multilingual or corpus-built ones), so they are looked up
by string instead of being hard-coded.
"""

import dataclasses
from typing import Dict, List, Optional, Tuple
import unicodedata

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
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
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
  return special_token_ids(load_vocab(vocab_file), f'Vocab file {vocab_file!r}')


def special_token_ids(tokens: List[str], source: str = 'The vocab'
                      ) -> SpecialTokenIds:
  """The special tokens' ids in a vocab's `tokens` (in id order); `source`
  names the vocab in the error."""
  vocab = token_ids(tokens)
  missing = [t for t in KEEP_TOKENS + (PAD_TOKEN,) if t not in vocab]
  if missing:
    raise ValueError(
        f'{source} lacks the special token(s) {missing}. '
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


# ------------------------------------------------------------------- casing
def _is_special(token: str) -> bool:
  return token.startswith('[') and token.endswith(']')


def _is_cased(token: str) -> bool:
  """A capital letter or a combining mark (an accent, in any script): what
  uncased BERT's lower-casing and accent stripping never leave."""
  return token != token.lower() or any(
      unicodedata.category(c) == 'Mn'
      for c in unicodedata.normalize('NFD', token))


def vocab_lower_case(tokens: List[str]) -> Optional[bool]:
  """Which text a WordPiece vocab was made for: lower-cased or not.

  BERT's uncased tokenizer lower-cases and strips accents (every combining
  mark, in any script) before the vocab is consulted, so an uncased vocab
  holds no capital letter and no combining mark. A vocab that does was made
  for cased text (bert-base-cased, multilingual cased); one whose letters
  are all lower case is uncased; one with no cased letters at all (CJK only,
  say) fits both.

  Returns:
    True (uncased), False (cased) or None (either).
  """
  has_lower = False
  for token in tokens:
    if _is_special(token):
      continue
    if _is_cased(token):
      return False
    has_lower = has_lower or token != token.upper()
  return True if has_lower else None


def cased_example(tokens: List[str], limit: int = 3) -> List[str]:
  """A few entries that make a vocab cased (for error messages)."""
  found = []
  for token in tokens:
    if not _is_special(token) and _is_cased(token):
      found.append(token)
      if len(found) == limit:
        break
  return found


def check_casing(lower_case: bool, vocab_file: str, setting: str,
                 fix: str) -> None:
  """Raises ValueError when `lower_case` contradicts `vocab_file`.

  Args:
    lower_case: the casing asked for.
    vocab_file: the vocab the text will be looked up in.
    setting: how the user set `lower_case` (e.g. '--lower_case'), for the
      error.
    fix: what to change instead, for the error.
  """
  tokens = load_vocab(vocab_file)
  vocab = vocab_lower_case(tokens)
  if vocab is None or vocab == lower_case:
    return
  if lower_case:
    raise ValueError(
        f'{vocab_file!r} is a cased vocab (entries such as '
        f'{cased_example(tokens)} have capital letters or accents) but '
        f'{setting} lower-cases the text and strips its accents, so those '
        f'entries could never be used: {fix}.')
  raise ValueError(
      f'{vocab_file!r} is an uncased vocab (no entry has a capital letter '
      f'or an accent) but {setting} keeps the text cased, so every '
      f'capitalized word would become [UNK] or fragments: {fix}.')
