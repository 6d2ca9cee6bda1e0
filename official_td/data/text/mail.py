"""The SpamAssassin public mail corpus: readable bodies, repeats removed,
and each message's split (pretraining text, or the spam/ham task).

A message's split is fixed by its file name's MD5 (its content hash in the
corpus): 60% pretraining text, 25% task training, 15% task evaluation.
Bodies are the text/plain parts (text/html parts, tags removed, when a
message has none), quoted reply lines (`>`) removed. Text repeated across
messages is removed too, so that held-out text is not the training text
again: a line found in `BOILERPLATE_MESSAGES` or more messages (mailing-list
footers, sponsor lines, signature rules) is dropped from every body, then a
message whose remaining body repeats or nearly repeats earlier ones (in
file-name order: more than half of its word 8-grams) is dropped, whatever
its split. Without it, 38% of the held-out 8-grams of the mail pretraining
data occurred verbatim in its training data (1.9% for the speeches and
fiction).
"""

import collections
import email
import email.policy
import html.parser
import re
from typing import List, Tuple

from official_td.data.text import archives
from official_td.data.text import corpus

# Of a message's MD5 bucket (0-99): pretraining text, task train, task eval.
SPLITS = (('pretrain', 60), ('train', 25), ('eval', 15))
MAX_BODY_CHARS = 20000
# A body line found in this many messages or more is boilerplate.
BOILERPLATE_MESSAGES = 3
# A body more than this share of whose word 8-grams earlier bodies hold is a
# near-copy (the same spam or notice sent again with small changes).
NEAR_COPY_SHARE = 0.5


class _HtmlText(html.parser.HTMLParser):

  def __init__(self):
    super().__init__()
    self.parts, self._skip = [], 0

  def handle_starttag(self, tag, attrs):
    if tag in ('script', 'style'):
      self._skip += 1
    elif tag in ('br', 'p', 'div', 'tr', 'li'):
      self.parts.append('\n')

  def handle_endtag(self, tag):
    if tag in ('script', 'style') and self._skip:
      self._skip -= 1

  def handle_data(self, data):
    if not self._skip:
      self.parts.append(data)


def _html_text(markup: str) -> str:
  parser = _HtmlText()
  parser.feed(markup)
  parser.close()
  return ''.join(parser.parts)


def message_body(raw: bytes) -> str:
  """The readable body of one RFC 822 message (see the module doc)."""
  message = email.message_from_bytes(raw, policy=email.policy.default)
  plain, markup = [], []
  for part in message.walk():
    kind = part.get_content_type()
    if kind not in ('text/plain', 'text/html'):
      continue
    try:
      content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
      payload = part.get_payload(decode=True) or b''
      content = payload.decode('latin-1')
    (plain if kind == 'text/plain' else markup).append(content)
  text = '\n'.join(plain) if plain else '\n'.join(
      _html_text(m) for m in markup)
  lines = [line for line in corpus.paragraph_lines(text)
           if not line.startswith('>')]
  return '\n'.join(lines)[:MAX_BODY_CHARS]


def split_of(name: str) -> str:
  """A message's split, from the MD5 of its file name."""
  return corpus.md5_split(name, SPLITS)


def spam_assassin_messages(path: str) -> List[Tuple[str, str, str]]:
  """(file name, label, body) of every message in the npm package at `path`
  whose body, boilerplate lines removed, is not empty and neither repeats nor
  nearly repeats an earlier message's (`without_repeats`)."""
  messages = []
  for name, data in sorted(archives.npm_files(path)):
    match = re.match(r'package/data/(easy-ham|hard-ham|spam)-\d/[^/]+\.txt$',
                     name)
    if match:
      label = 'spam' if match.group(1) == 'spam' else 'ham'
      messages.append((name, label, message_body(data).split('\n')))
  return without_repeats(messages)


def without_repeats(messages: List[Tuple[str, str, List[str]]]
                    ) -> List[Tuple[str, str, str]]:
  """`(name, label, body lines)` to `(name, label, body)`: lines found in
  `BOILERPLATE_MESSAGES` or more messages removed, then empty bodies, bodies
  equal to an earlier kept one's, and near-copies: bodies more than
  `NEAR_COPY_SHARE` of whose word 8-grams occur in earlier kept bodies."""
  in_messages = collections.Counter(
      line for _, _, lines in messages for line in set(lines))
  kept, bodies, grams = [], set(), set()
  for name, label, lines in messages:
    body = '\n'.join(line for line in lines
                     if line and in_messages[line] < BOILERPLATE_MESSAGES)
    words = body.lower().split()
    own = {tuple(words[i:i + 8]) for i in range(len(words) - 7)}
    if (not body or body in bodies or
        (own and len(own & grams) > NEAR_COPY_SHARE * len(own))):
      continue
    bodies.add(body)
    grams |= own
    kept.append((name, label, body))
  return kept


def task_splits(path: str) -> dict:
  """The kept messages of the npm package at `path` by split: `{split:
  [(body, label), ...]}`, in file-name order."""
  parts = {split: [] for split, _ in SPLITS}
  for name, label, body in spam_assassin_messages(path):
    parts[split_of(name)].append((body, label))
  return parts
