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
    return json.load(f)
