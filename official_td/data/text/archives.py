"""The files of an npm package tarball or a Debian package, read in memory.

A `.deb` is an `ar` archive holding `data.tar.xz` (or `.gz`, `.bz2`); Python
has no `ar` module, so its 60-byte member headers are read here by hand.
"""

import gzip
import io
import tarfile
from typing import Iterator, Tuple

import tensorflow as tf

_DATA_TARS = {'data.tar.xz': 'xz', 'data.tar.gz': 'gz', 'data.tar.bz2': 'bz2'}
# What a package file starts with, by its kind: (magic bytes, description).
_KINDS = {'npm': (b'\x1f\x8b', 'an npm package tarball (.tgz)'),
          'deb': (b'!<arch>\n', 'a Debian package (.deb)')}


def _check_magic(path: str, data: bytes, kind: str):
  magic, what = _KINDS[kind]
  if not data.startswith(magic):
    raise ValueError(f'{path!r} is not {what}.')


def check_package(path: str, kind: str):
  """One clear error unless the file at `path` starts as a package of
  `kind` ('npm' or 'deb') does: a cheap check before any is parsed."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    _check_magic(path, f.read(8), kind)


def tar_files(data: bytes, compression: str) -> Iterator[Tuple[str, bytes]]:
  """(name, bytes) of every regular file in a compressed tar archive."""
  with tarfile.open(fileobj=io.BytesIO(data), mode=f'r:{compression}') as tar:
    for member in tar:
      if member.isfile():
        yield member.name, tar.extractfile(member).read()


def npm_files(path: str) -> Iterator[Tuple[str, bytes]]:
  """(name, bytes) of every regular file in an npm package tarball (`.tgz`)."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  _check_magic(path, data, 'npm')
  yield from tar_files(data, 'gz')


def deb_data_files(path: str) -> Iterator[Tuple[str, bytes]]:
  """(name, bytes) of every regular file a Debian package installs."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  _check_magic(path, data, 'deb')
  at = 8
  while at + 60 <= len(data):
    name = data[at:at + 16].decode('ascii').strip().rstrip('/')
    size = int(data[at + 48:at + 58].decode('ascii'))
    body = data[at + 60:at + 60 + size]
    at += 60 + size + size % 2
    if name.startswith('data.tar'):
      if name not in _DATA_TARS:
        raise ValueError(f'{path!r} holds {name}; only xz, gz and bz2 data '
                         'archives can be read.')
      yield from tar_files(body, _DATA_TARS[name])
      return
  raise ValueError(f'{path!r} holds no data.tar archive.')


def gunzip(data: bytes) -> bytes:
  """A gzip file's content (dictzip's `.dz` files are gzip files)."""
  try:
    return gzip.decompress(data)
  except (OSError, EOFError) as e:
    raise ValueError(f'Not a complete gzip file: {e}') from None
