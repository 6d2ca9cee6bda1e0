"""The text of a SWORD commentary module (zCom), chapter by chapter.

A module's `{ot,nt}.?zs` index holds (offset, size, uncompressed size) of
each zlib block of `{ot,nt}.?zz`; the blocks, in order, hold the module's
entries one after another, in OSIS markup. The markup is parsed with the
standard library's HTML parser (OSIS tags are XML elements and milestones;
no library on this project's list reads SWORD modules).
"""

import html.parser
import struct
from typing import Iterable, List, Tuple
import zlib


class _OsisText(html.parser.HTMLParser):
  """Text of OSIS markup: a line break at every block element or
  paragraph milestone, a form feed where a chapter starts."""

  BREAKS = frozenset(('div', 'p', 'lb', 'l', 'lg', 'title', 'item', 'list',
                      'row', 'table', 'milestone'))

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.parts = []

  def handle_starttag(self, tag, attrs):
    if tag == 'chapter' and dict(attrs).get('sid'):
      self.parts.append('\f')
    elif tag in self.BREAKS:
      self.parts.append('\n')
    elif tag == 'cell':
      self.parts.append(' ')

  def handle_endtag(self, tag):
    if tag in self.BREAKS:
      self.parts.append('\n')

  def handle_data(self, data):
    self.parts.append(data)


def commentary_chapters(files: Iterable[Tuple[str, bytes]],
                        module: str) -> List[str]:
  """The text of each chapter of zCom module `module` among `files`
  ((path, bytes), as a package installs them), Old Testament then New, one
  line break or more between paragraphs; [] when the module is not there."""
  own = {name.rsplit('/', 1)[-1]: data for name, data in files
         if f'/modules/comments/zcom/{module}/' in name}
  chapters = []
  for testament in ('ot', 'nt'):
    index = [n for n in own if n.startswith(testament + '.') and
             n.endswith('zs')]
    if not index:
      continue
    index, = index
    blocks, table = own[index[:-1] + 'z'], own[index]
    parser = _OsisText()
    for at in range(0, len(table) - 11, 12):
      offset, size, _ = struct.unpack('<III', table[at:at + 12])
      if size:
        parser.feed(zlib.decompress(blocks[offset:offset + size]).decode(
            'utf-8'))
    parser.close()
    chapters.extend(''.join(parser.parts).split('\f'))
  return chapters
