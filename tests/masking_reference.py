"""BERT's masking rule written plainly, one row at a time: the reference the
tests hold `official_td.masking` (and the static records) to."""

import numpy as np

from official_td import masking as rule


def reference_mask(ids, words, key, prob, max_predictions, whole_words,
                   mask_id, first, vocab_size):
  """The rule of `official_td.masking`, one row, written plainly (Python
  loops over the row; the draws are the row's Philox blocks)."""
  s = len(ids)
  draws = [rule.philox4x32(np.uint64(key), i) for i in range(s)]
  candidates = [i for i in range(s) if words[i] >= 0]
  budget = min(max_predictions, max(1, round(len(candidates) * prob)))
  groups = []  # lists of positions, in order of appearance.
  for i in candidates:
    if whole_words and groups and words[groups[-1][-1]] == words[i] and (
        groups[-1][-1] == i - 1):
      groups[-1].append(i)
    else:
      groups.append([i])
  order = sorted(range(len(groups)), key=lambda g: (int(draws[g][0]), g))
  chosen = []
  for g in order:
    if len(chosen) + len(groups[g]) <= budget:
      chosen += groups[g]
  out = list(ids)
  for i in sorted(chosen):
    u = int(draws[i][1]) / 2**32
    if u < 0.8:
      out[i] = mask_id
    elif u < 0.9:
      out[i] = first + (int(draws[i][2]) * (vocab_size - first) >> 32)
  return out, sorted(chosen)


def random_rows(n, s, seed, min_length=4):
  """Rows shaped like packed sequences: [CLS], words of 1-4 pieces
  (ascending word ids), [SEP], then padding (lengths from `min_length`)."""
  rng = np.random.default_rng(seed)
  ids = np.zeros((n, s), np.int64)
  words = np.full((n, s), -1, np.int64)
  for r in range(n):
    length = int(rng.integers(min_length, s + 1))
    ids[r, :length] = rng.integers(10, 500, length)
    pos, word = 1, 0
    while pos < length - 1:
      pieces = int(rng.integers(1, 5))
      for _ in range(pieces):
        if pos >= length - 1:
          break
        words[r, pos] = word
        pos += 1
      word += 1
  return ids, words
