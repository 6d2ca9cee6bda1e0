"""numpy's random draws for many records at once, each from its own generator.

Static masking seeds one `np.random.default_rng(seed)` per record (the seed
from the record's key), so a record never depends on what else a worker
processed. Made the plain way, a record costs ~50 microseconds of Python: a
generator seeded (numpy's `SeedSequence` hashing, in Python), a permutation,
then one `random()` per masked position and an `integers()` per random
replacement. Here, for all records at once:

- the seeds are hashed into PCG64 states as `SeedSequence` does, on arrays;
- each row's permutation is numpy's own (`Generator.permutation`, a C loop),
  from the state set directly; the row's next outputs are then drawn in one
  call (`PCG64.random_raw`);
- the later calls are replayed on those outputs, over all rows at once, with
  numpy's algorithms: `Generator.random()` is the next 64-bit output's top 53
  bits over 2**53; `Generator.integers(low, high)` (a range below 2**32) is
  Lemire's multiply-shift of a 32-bit draw, drawn again while the product's
  low half is under `2**32 mod range`. 32-bit draws come from PCG64's buffer
  (the low half of a fresh output, then its high half, which a permutation
  may have left held); 64-bit draws do not touch it.

The values are those of the per-record calls (tests/test_data_pipeline.py
compares them over many seeds, rejections included).
"""

from typing import Sequence

import numpy as np

_LOW32 = np.uint64(0xFFFFFFFF)

# numpy's SeedSequence (pool of 4 words) and PCG64 seeding constants.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_MASK32, _MASK128 = 2**32 - 1, 2**128 - 1


def _hash_constants(init: int, mult: int, count: int):
  out = [init]
  while len(out) < count:
    out.append(out[-1] * mult & _MASK32)
  return out


def seed_sequence_states(seeds: Sequence[int]) -> np.ndarray:
  """`np.random.SeedSequence(seed).generate_state(4, np.uint64)` of each
  seed (`0 <= seed < 2**64`), computed for all seeds at once: the entropy's
  two 32-bit words hashed into a pool of four, the pool mixed, four 64-bit
  words drawn from it (numpy's algorithm, in uint64 arrays kept to 32
  bits)."""
  u = np.uint64
  entropy = np.asarray(seeds, dtype=np.uint64).reshape(-1)
  zeros = np.zeros_like(entropy)
  mix_constants = _hash_constants(_INIT_A, _MULT_A, 18)
  calls = iter(range(17))

  def hashmix(value):
    k = next(calls)
    value = (value ^ u(mix_constants[k])) * u(mix_constants[k + 1]) & u(
        _MASK32)
    return value ^ (value >> u(16))

  def mix(x, y):
    result = (u(_MIX_L) * x - u(_MIX_R) * y) & u(_MASK32)
    return result ^ (result >> u(16))

  pool = [hashmix(v) for v in (entropy & u(_MASK32), entropy >> u(32), zeros,
                                zeros)]
  for source in range(4):
    for target in range(4):
      if source != target:
        pool[target] = mix(pool[target], hashmix(pool[source]))
  out_constants = _hash_constants(_INIT_B, _MULT_B, 9)
  words = []
  for i in range(8):
    value = (pool[i % 4] ^ u(out_constants[i])) * u(out_constants[i + 1]) & u(
        _MASK32)
    words.append(value ^ (value >> u(16)))
  return np.stack([words[2 * k] | (words[2 * k + 1] << u(32))
                   for k in range(4)], axis=1)


def pcg64_state(words) -> dict:
  """`PCG64(seed).state` from the seed's `seed_sequence_states` row: PCG's
  `srandom(initstate, initseq)` in 128-bit arithmetic."""
  initstate = int(words[0]) << 64 | int(words[1])
  inc = ((int(words[2]) << 64 | int(words[3])) << 1 | 1) & _MASK128
  state = ((inc + initstate) * _PCG_MULT + inc) & _MASK128
  return {'bit_generator': 'PCG64', 'state': {'state': state, 'inc': inc},
          'has_uint32': 0, 'uinteger': 0}


class Draws:
  """The generators `np.random.default_rng(seed)` of `seeds`, one per row.

  Args:
    seeds: one seed per row, `0 <= seed < 2**64`.
    ahead: 64-bit outputs per row drawn after the permutation, in one call,
      for `random` and `integers` (a row that needs more draws more).
  """

  def __init__(self, seeds: Sequence[int], ahead: int):
    self._states = [pcg64_state(w) for w in seed_sequence_states(seeds)]
    self._ahead = ahead
    self._generator = np.random.Generator(np.random.PCG64())
    self._raw = np.zeros((len(seeds), 0), np.uint64)  # outputs drawn ahead.
    self._used = np.zeros(len(seeds), np.int64)  # of those, taken.
    # PCG64's held high half for its next 32-bit draw, per row (-1: none).
    self._held = np.full(len(seeds), -1, np.int64)

  def permutations(self, n: np.ndarray) -> np.ndarray:
    """`Generator.permutation(n[row])` of each row's fresh generator (numpy
    itself, row by row: its Fisher-Yates is a C loop), padded with the
    identity to `max(n)` columns; then the `ahead` outputs are drawn."""
    if self._raw.shape[1]:
      raise ValueError('permutations() draws first, once.')
    width = int(max(n)) if len(n) else 0
    out = np.tile(np.arange(width, dtype=np.int64), (len(n), 1))
    self._raw = np.empty((len(n), self._ahead), np.uint64)
    bits = self._generator.bit_generator
    for row, (state, count) in enumerate(zip(self._states, n.tolist())):
      bits.state = state
      out[row, :count] = self._generator.permutation(count)
      after = bits.state
      if after['has_uint32']:
        self._held[row] = after['uinteger']
      self._states[row] = after
      self._raw[row] = bits.random_raw(self._ahead)
    return out

  def _next_outputs(self, rows: np.ndarray) -> np.ndarray:
    """The next 64-bit output of each of `rows`."""
    width = self._raw.shape[1]
    needed = int(self._used[rows].max()) + 1
    if needed > width:  # rare: draw as many again for every row.
      more = max(needed - width, width, 1)
      more_outputs = np.empty((len(self._states), more), np.uint64)
      bits = self._generator.bit_generator
      for row, state in enumerate(self._states):
        bits.state = state
        bits.advance(width)
        more_outputs[row] = bits.random_raw(more)
      self._raw = np.concatenate([self._raw, more_outputs], axis=1)
    out = self._raw[rows, self._used[rows]]
    self._used[rows] += 1
    return out

  def random(self, rows: np.ndarray) -> np.ndarray:
    """`Generator.random()` of each of `rows` (row indices, distinct)."""
    if not len(rows):
      return np.zeros(0)
    return (self._next_outputs(rows) >> np.uint64(11)) * (1.0 / 2.0**53)

  def _next_uint32(self, rows: np.ndarray) -> np.ndarray:
    """PCG64's 32-bit draw: the held high half, else a fresh output's low
    half (its high half then held)."""
    held = self._held[rows]
    has = held >= 0
    out = np.zeros(len(rows), np.uint64)
    out[has] = held[has].astype(np.uint64)
    self._held[rows[has]] = -1
    if not has.all():
      fresh = rows[~has]
      outputs = self._next_outputs(fresh)
      out[~has] = outputs & _LOW32
      self._held[fresh] = (outputs >> np.uint64(32)).astype(np.int64)
    return out

  def integers(self, rows: np.ndarray, low: int, high: int) -> np.ndarray:
    """`Generator.integers(low, high)` of each of `rows` (distinct)."""
    span = high - low
    if not 0 < span < 2**32:
      raise ValueError(f'integers({low}, {high}): the range must have 1 to '
                       '2**32 - 1 values.')
    values = np.full(len(rows), low, np.int64)
    if span == 1 or not len(rows):
      return values  # numpy draws nothing for a single value.
    threshold = (2**32 - span) % span
    pending = np.arange(len(rows))
    while len(pending):
      product = self._next_uint32(rows[pending]) * np.uint64(span)
      accepted = (product & _LOW32) >= threshold
      values[pending[accepted]] += (product[accepted] >> np.uint64(32)
                                    ).astype(np.int64)
      pending = pending[~accepted]
    return values
