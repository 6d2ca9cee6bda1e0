"""`data_summary.json`: what a data directory holds, and that it is complete.

The data pipeline writes it last; training reads it first. Kept free of
Apache Beam so that training does not import it.
"""

import json
import os
from typing import Dict

import tensorflow as tf

SUMMARY = 'data_summary.json'
INCOMPLETE = '.incomplete'  # present while a pipeline writes a directory.


def read_summary(data_dir: str) -> Dict:
  """`data_summary.json` of a data directory; a clear error if it is not
  there (an interrupted or foreign directory)."""
  path = os.path.join(data_dir, SUMMARY)
  if not tf.io.gfile.exists(path):
    raise ValueError(
        f'{data_dir!r} has no {SUMMARY}: its data creation did not finish '
        '(interrupted?) or it was not written by official_td. Re-run '
        '`python -m official_td.data.create_pretraining_data` (an interrupted '
        'output is cleared and completed), or set data.require_summary = '
        'False for records written by other tools.')
  with tf.io.gfile.GFile(path) as f:
    summary = json.load(f)
  if 'nsp' in summary:  # written before the setting had training's name.
    summary['use_next_sentence_label'] = summary.pop('nsp')
  return summary


def add_split_counts(summary: Dict, counts: Dict[str, int], output_dir: str,
                     options) -> None:
  """Adds per split: documents, bytes, sequences, tokens, padding, shards
  (from the job's counters and the files written); an empty split leaves no
  shard behind, and no train split at all is an error."""
  total_docs = 0
  for split in ('train', 'eval'):
    files = sorted(tf.io.gfile.glob(os.path.join(output_dir,
                                                 f'{split}-*.tfrecord')))
    sequences = counts.get(f'{split}_sequences', 0)
    if not sequences:
      for path in files:  # an empty split leaves no empty shard behind.
        tf.io.gfile.remove(path)
      continue
    tokens = counts.get(f'{split}_tokens', 0)
    total_docs += counts.get(f'{split}_documents', 0)
    copies = options.dupe_factor if options.masking == 'static' else 1
    summary[split] = dict(
        documents=counts.get(f'{split}_documents', 0),
        text_bytes=counts.get(f'{split}_text_bytes', 0),
        sequences=sequences * copies,
        unique_sequences=sequences,
        tokens=tokens,
        padding_fraction=round(
            1.0 - tokens / max(sequences * options.seq_length, 1), 4),
        shards=len(files))
  if 'train' not in summary:
    tf.io.gfile.rmtree(output_dir)
    raise ValueError(
        'The corpus is empty after tokenization: no training sequence was '
        'made. Check the input text and the vocab.')
  summary['documents'] = total_docs
