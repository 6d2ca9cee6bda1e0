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


def per_seed(resolve_data, seeds, stored: Dict, compute: bool = True
             ) -> Dict:
  """`stored` (seed -> result, as `unigram.json` holds them) completed for
  `seeds`: each seed's on the masks that seed's evaluation scores. Records
  masked ahead of training (static masking) are the same for every seed: one
  computation serves all. A file of a study from before per-seed results
  (one result) is the first seed's. With `compute` False, only stored ones.
  `resolve_data` returns the (resolved) `DataConfig`, read only when a seed
  is computed.
  """
  if 'unigram_nats' in stored:
    stored = {str(seeds[0]): stored}
  stored = dict(stored)
  data = None
  for seed in seeds:
    if str(seed) in stored or not compute:
      continue
    data = data or resolve_data()
    if data.masking != 'dynamic' and stored:
      stored[str(seed)] = dict(next(iter(stored.values())), masks='static')
    else:
      stored[str(seed)] = dict(unigram_cross_entropy(data, seed),
                               masks=data.masking)
  return stored


def mean_over(results: Dict, seeds) -> Dict:
  """The report's figure: the seeds' mean, with each seed's beside it."""
  mine = [results[str(s)] for s in seeds if str(s) in results]
  if not mine:
    raise ValueError('No unigram cross-entropy is stored for seeds '
                     f'{list(seeds)}; run the study without --report_only.')
  return dict(mine[0], unigram_nats=float(np.mean(
      [r['unigram_nats'] for r in mine])), per_seed={
          str(s): results[str(s)]['unigram_nats'] for s in seeds
          if str(s) in results})
