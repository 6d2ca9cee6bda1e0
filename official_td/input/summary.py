"""The data summary: what a data directory holds, and that it is complete.

The data pipeline writes it last; training reads it first. Kept free of
Apache Beam so that training does not import it.
"""

import os
from typing import Dict

import tensorflow as tf

# The layout and the reading of a data directory live in `rundir`
# (`rundir.read_data_summary`); this module adds the counts the pipeline
# writes into it.


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
