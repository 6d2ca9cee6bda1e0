"""The GNU Collaborative International Dictionary of English (GCIDE) as
Debian's `dict-gcide` packages it for dictd: readable entries, and each
entry's split (pretraining text, or the part-of-speech task).

GCIDE is Webster's Revised Unabridged Dictionary (1913) with definitions
from WordNet and the Century Dictionary and those of its volunteers; GPL.
The package holds it as dictd reads it: `gcide.index` (a line per
headword: the word, and the offset and length of its entries in the text,
as numbers in dictd's base-64 digits) and `gcide.dict.dz` (the text,
gzip-compatible). Each distinct (offset, length) block is read once, in text
order; a block holds every entry of one headword (here, of `Arrogant`):

    Arrogant \\Ar"ro*gant\\, a. [F. arrogant, L. arrogans ...]
       1. Making, or having the disposition to make, exorbitant
          claims of rank or estimation; ...
          [1913 Webster]

A block becomes one document, one paragraph per line: an entry's header
(its line at column 0, and the lines after it while its etymology's
brackets are open or a line opens one) is a paragraph, and so is each sense
or quotation (blank lines and source notes end them); wrapped lines are
joined. The markup goes: pronunciations (`\\Ar"ro*gant\\`), the source
notes on lines of their own (`[1913 Webster]`, `[WordNet 1.5]`), the braces
of cross-references (`{Arrogate}` is `Arrogate`), and the accent codes
(`annel['e]` is `annelé`; `[ae]` and `[oe]` are `æ` and `œ`). The text is
UTF-8 but for three blocks in Windows-1252, read as such.

The task: is a headword a noun, a verb or an adjective, from its
definitions alone? A block whose headword's MD5 bucket (0-99) falls in the
task's splits (`SPLITS`: 4% train, 2% eval) and that holds exactly one
entry marked `n.`, `v. t.`, `v. i.` or `a.` is a task example, its text the
entry's paragraphs less the header line (the word, its pronunciation, its
part of speech and etymology); every other block is pretraining text, so no
task example's definitions are in the pretraining text.
"""

import re
import unicodedata
from typing import Dict, List, Optional, Tuple

from official_td.data.text import archives
from official_td.data.text import corpus

INDEX = 'usr/share/dictd/gcide.index'
TEXT = 'usr/share/dictd/gcide.dict.dz'
# Of a headword's MD5 bucket (0-99): pretraining text, task train, task eval.
SPLITS = (('pretrain', 94), ('train', 4), ('eval', 2))
# The part of speech that labels a task example, by the header's mark.
PARTS_OF_SPEECH = {'n.': 'noun', 'v. t.': 'verb', 'v. i.': 'verb',
                   'a.': 'adjective'}
_DIGITS = ('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
           '0123456789+/')
# A source note (`[1913 Webster]`, `[WordNet 1.5]`, `[PJC]`) that starts a
# line: the line goes (what follows one on its line is a stray word).
_SOURCE_NOTE = re.compile(r'^\[[^\]]*(Webster|WordNet|Wordnet|PJC|Century|'
                          r'Chambers|RDH|JLS|MW)[^\]]*\]')
_PRONUNCIATION = re.compile(r'\s*\\[^\\\n]*\\')
# Accent codes: the mark before the letter (`['e]`) or, for a breve or a
# tilde, after it (`[u^]`).
_ACCENT = re.compile(r'\[([\'`^~"=.,:])([A-Za-z])\]')
_ACCENT_AFTER = re.compile(r'\[([a-z])([\^~])\]')
_LIGATURE = re.compile(r'\[(ae|AE|oe|OE)\]')
_COMBINING = {"'": '\u0301', '`': '\u0300', '^': '\u0302', '~': '\u0303',
              '"': '\u0308', '=': '\u0304', '.': '\u0307', ',': '\u0327',
              ':': '\u0308'}
# After the letter: `^` is the breve of a short vowel (`[u^]` is ŭ).
_COMBINING_AFTER = {'^': '\u0306', '~': '\u0303'}
_LIGATURES = {'ae': 'æ', 'AE': 'Æ', 'oe': 'œ', 'OE': 'Œ'}
_HEADER = re.compile(r'^\S.*?(?:\\[^\\]*\\)?,\s*(n\.|v\. t\.|v\. i\.|a\.)'
                     r'(?=[\s,;]|$)')


def dictd_number(digits: str) -> int:
  """A number written in dictd's base-64 digits (`Fz` is 5 * 64 + 51)."""
  value = 0
  for digit in digits:
    position = _DIGITS.find(digit)
    if position < 0:
      raise ValueError(f'{digits!r} is not a dictd number.')
    value = value * 64 + position
  return value


def blocks(index: bytes, text: bytes) -> List[Tuple[str, str]]:
  """(headword, block) of every distinct block of the dictd index, in
  text order; the database's own entries (`00-database-...`) left out."""
  spans = {}
  for line in index.decode('utf-8', 'replace').splitlines():
    fields = line.split('\t')
    if len(fields) != 3:
      raise ValueError(f'A dictd index line has 3 tab-separated fields, not '
                       f'{line!r}.')
    word, offset, length = fields
    if word.startswith('00-database'):
      continue
    span = (dictd_number(offset), dictd_number(length))
    if span[0] + span[1] > len(text):
      raise ValueError(f'The index places {word!r} past the end of the '
                       f'text ({span[0] + span[1]} > {len(text)} bytes).')
    spans.setdefault(span, word)
  return [(word, _decode(text[start:start + length]))
          for (start, length), word in sorted(spans.items())]


def _decode(data: bytes) -> str:
  try:
    return data.decode('utf-8')
  except UnicodeDecodeError:
    return data.decode('cp1252', 'replace')


def clean(line: str) -> str:
  """A line without pronunciations, braces and accent codes."""
  line = _PRONUNCIATION.sub('', line)
  line = _ACCENT.sub(lambda m: m.group(2) + _COMBINING[m.group(1)], line)
  line = _ACCENT_AFTER.sub(
      lambda m: m.group(1) + _COMBINING_AFTER[m.group(2)], line)
  line = _LIGATURE.sub(lambda m: _LIGATURES[m.group(1)], line)
  line = line.replace('{', '').replace('}', '')
  return unicodedata.normalize('NFC', ' '.join(line.split()))


def paragraphs(block: str) -> List[str]:
  """The block's paragraphs (see the module doc), cleaned, in order."""
  out, current, header = [], [], False

  def close():
    if current:
      text = clean(' '.join(current))
      if text:
        out.append(text)
      current.clear()

  for line in block.splitlines():
    stripped = line.strip()
    if header and stripped and (_open_brackets(current) or
                                stripped.startswith('[')):
      current.append(stripped)  # the header's etymology goes on.
      continue
    if header:
      close()
      header = False
    if not stripped or _SOURCE_NOTE.match(stripped):
      close()
    elif not line[0].isspace():  # a header: an entry starts.
      close()
      current.append(stripped)
      header = True
    else:
      current.append(stripped)
  close()
  return out


def _open_brackets(lines: List[str]) -> bool:
  text = ' '.join(lines)
  return text.count('[') > text.count(']')


def part_of_speech(block: str) -> Optional[str]:
  """'noun', 'verb' or 'adjective' for a block of exactly one entry marked
  so; None for any other."""
  headers = [line for line in block.splitlines() if line and
             not line[0].isspace()]
  if len(headers) != 1:
    return None
  match = _HEADER.match(headers[0])
  return PARTS_OF_SPEECH[match.group(1)] if match else None


def split_of(headword: str) -> str:
  """A headword's split, from its MD5."""
  return corpus.md5_split(headword, SPLITS)


def corpus_and_task(path: str) -> Dict[str, list]:
  """The `dict-gcide` package at `path` read: `{'pretrain': [document,
  ...], 'train': [(text, label), ...], 'eval': [...]}`, in text order."""
  files = {name.lstrip('./'): data
           for name, data in archives.deb_data_files(path)
           if name.lstrip('./') in (INDEX, TEXT)}
  missing = [name for name in (INDEX, TEXT) if name not in files]
  if missing:
    raise ValueError(f'{path!r} holds no {" or ".join(missing)}: not the '
                     'dict-gcide package.')
  text = archives.gunzip(files[TEXT])
  parts = {split: [] for split, _ in SPLITS}
  for word, block in blocks(files[INDEX], text):
    split, label = split_of(word), part_of_speech(block)
    lines = paragraphs(block)
    if split != 'pretrain' and label and len(lines) > 1:
      parts[split].append((' '.join(lines[1:]), label))
    elif lines:
      parts['pretrain'].append('\n'.join(lines))
  return parts
