"""The unigram cross-entropy of the masked tokens: what a model learns that
token frequencies alone do not.

A model that predicts every masked token from its frequency in the training
data (add-1/2 smoothing over the vocab) costs this many nats per masked token
on the held-out records; a held-out MLM loss only this low has learned no
context. The study reports it beside every loss. Both passes read the
records with the trainer's own input pipeline (static or dynamic masking,
the evaluator's seed), so the masked tokens are the ones evaluation scores.
Memory: one count per vocab entry.
"""

import math
from typing import Dict

import numpy as np

from official_td import vocab as vocab_lib
from official_td.configs.pretraining import DataConfig
from official_td.input import pretrain_dataloader

SMOOTHING = 0.5
_BATCH = 256


def _masked_ids(pattern: str, data: DataConfig, masking, seed: int):
  """The masked tokens' ids (weight > 0) of one pass over `pattern`."""
  dataset = pretrain_dataloader.load_dataset(pattern, data, _BATCH, False,
                                             seed, masking=masking)
  for batch in dataset.as_numpy_iterator():
    yield batch['masked_lm_ids'][batch['masked_lm_weights'] > 0]


def token_counts(data: DataConfig, masking, vocab_size: int,
                 seed: int) -> np.ndarray:
  """Counts of the masked tokens of one pass over the training records."""
  counts = np.zeros(vocab_size, np.int64)
  for ids in _masked_ids(data.train_data, data, masking, seed):
    counts += np.bincount(ids, minlength=vocab_size)
  return counts


def cross_entropy(counts: np.ndarray, data: DataConfig, masking,
                  seed: int) -> Dict:
  """Nats per masked token of the smoothed unigram model on the eval data."""
  log_p = np.log((counts + SMOOTHING) /
                 (counts.sum() + SMOOTHING * len(counts)))
  total, tokens = 0.0, 0
  for ids in _masked_ids(data.eval_data, data, masking, seed):
    total -= float(log_p[ids].sum())
    tokens += len(ids)
  if not tokens:
    raise ValueError(f'{data.eval_data!r} holds no masked tokens to score.')
  return dict(unigram_nats=total / tokens, eval_tokens=tokens,
              train_tokens=int(counts.sum()), vocab_size=len(counts),
              smoothing=SMOOTHING,
              uniform_nats=math.log(len(counts)))


def unigram_cross_entropy(data: DataConfig, seed: int) -> Dict:
  """Counts on `data.train_data`, scored on `data.eval_data` (resolved)."""
  if not data.eval_data:
    raise ValueError('The unigram cross-entropy needs held-out data: set '
                     'data.eval_data.')
  vocab = vocab_lib.load_vocab(data.vocab_file)
  masking = pretrain_dataloader.masking_config(data, vocab)
  counts = token_counts(data, masking, len(vocab), seed)
  return cross_entropy(counts, data, masking, seed)
