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


def _has_capital(token: str) -> bool:
  return token != token.lower()


def _has_accent(token: str) -> bool:
  """A combining mark (an accent, in any script) once decomposed: what
  stripping accents never leaves."""
  return any(unicodedata.category(c) == 'Mn'
             for c in unicodedata.normalize('NFD', token))


def _is_cased(token: str) -> bool:
  """What uncased BERT (lower-cased, accents stripped) never leaves."""
  return _has_capital(token) or _has_accent(token)


def vocab_casing(tokens: List[str]) -> Tuple[Optional[bool], Optional[bool]]:
  """Which text a WordPiece vocab was made for: `(lower_case,
  strip_accents)`, each None where the vocab fits both.

  A vocab is made from normalized text, so it holds only what the
  normalization leaves. A capital letter says the text was not lower-cased;
  letters all in lower case say it was (no cased letters at all, CJK only
  say: either). An accent (a combining mark once decomposed, in any script)
  says accents were kept; a vocab without any cannot tell (English text has
  none to strip).
  """
  has_lower = has_accent = False
  for token in tokens:
    if _is_special(token):
      continue
    if _has_capital(token):
      return False, (False if has_accent or any(
          _has_accent(t) for t in tokens if not _is_special(t)) else None)
    has_accent = has_accent or _has_accent(token)
    has_lower = has_lower or token != token.upper()
  return (True if has_lower else None), (False if has_accent else None)


def vocab_lower_case(tokens: List[str]) -> Optional[bool]:
  """`vocab_casing`'s lower-casing: True (lower-cased), False (cased) or
  None (either)."""
  return vocab_casing(tokens)[0]


def cased_example(tokens: List[str], limit: int = 3, accents: bool = False
                  ) -> List[str]:
  """A few entries with capitals (`accents`: with accents), for errors."""
  found = []
  test = _has_accent if accents else _is_cased
  for token in tokens:
    if not _is_special(token) and test(token):
      found.append(token)
      if len(found) == limit:
        break
  return found


def check_casing(lower_case: bool, vocab_file: str, setting: str,
                 fix: str, strip_accents: Optional[bool] = None,
                 accent_fix: str = '') -> None:
  """Raises ValueError when the casing asked for contradicts `vocab_file`.

  Args:
    lower_case: the lower-casing asked for.
    vocab_file: the vocab the text will be looked up in.
    setting: how the user set `lower_case` (e.g. '--lower_case'), for the
      error.
    fix: what to change instead, for the error.
    strip_accents: the accent stripping asked for (None: as `lower_case`).
    accent_fix: what to change instead when only the accents contradict.
  """
  tokens = load_vocab(vocab_file)
  vocab, vocab_accents = vocab_casing(tokens)
  strip = lower_case if strip_accents is None else strip_accents
  if vocab in (None, lower_case) and strip and vocab_accents is False:
    raise ValueError(
        f'{vocab_file!r} keeps accents (entries such as '
        f'{cased_example(tokens, accents=True)}) but {setting} strips them, '
        'so those entries could never be used: '
        f'{accent_fix or fix}.')
  if vocab is None or vocab == lower_case:
    return
  if lower_case:
    raise ValueError(
        f'{vocab_file!r} is a cased vocab (entries such as '
        f'{cased_example(tokens)} have capital letters) but '
        f'{setting} lower-cases the text, so those '
        f'entries could never be used: {fix}.')
  raise ValueError(
      f'{vocab_file!r} is an uncased vocab (no entry has a capital letter) '
      f'but {setting} keeps the text cased, so every '
      f'capitalized word would become [UNK] or fragments: {fix}.')
