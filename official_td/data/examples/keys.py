"""Keys of documents and sequences: stable hashes that seed every choice.

Every random choice of the data pipeline (train/eval split, masks, NSP
partners) is seeded from a key and the seed, never from the order of
processing: one process and many workers write the same records.
"""

import hashlib


def stable_hash(*parts) -> int:
  """A 64-bit hash of `parts` that is the same in every process."""
  digest = hashlib.blake2b(repr(parts).encode('utf-8'), digest_size=8)
  return int.from_bytes(digest.digest(), 'little')


def split_of(key: str, seed: int, eval_fraction: float) -> str:
  """'eval' for a fraction `eval_fraction` of document keys, else 'train'."""
  return ('eval' if stable_hash('split', seed, key) / 2.0**64 < eval_fraction
          else 'train')

