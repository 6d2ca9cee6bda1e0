"""A progress line for a data job on this machine's workers.

Workers (the DirectRunner's processes, or this process) write their counts
to small files in a local directory at most every few seconds; the launcher
sums them and prints one line: documents and MB read, MB/s, sequences
written, and an ETA where the input's size is known. Remote runners
(Dataflow, Flink, Spark) have their own progress views; there is no line.
"""

import json
import os
import threading
import time
import uuid
from typing import Dict, Optional, TextIO, Tuple

COUNTS = ('documents', 'text_bytes', 'sequences')


class Reporter:
  """Worker side: counts, written to `directory` now and then."""

  def __init__(self, directory: Optional[str], interval: float = 2.0):
    self._directory = directory
    self._interval = interval
    self._path = None
    self._last = 0.0
    self.counts = dict.fromkeys(COUNTS, 0)

  def add(self, **counts):
    if self._directory is None:
      return
    for k, v in counts.items():
      self.counts[k] += v
    if time.monotonic() - self._last >= self._interval:
      self.flush()

  def flush(self):
    if self._directory is None:
      return
    if self._path is None:
      self._path = os.path.join(self._directory, f'{uuid.uuid4().hex}.json')
    temp = self._path + '.tmp'
    with open(temp, 'w') as f:  # a local directory by construction.
      json.dump(self.counts, f)
    os.replace(temp, self._path)
    self._last = time.monotonic()


def read_counts(directory: str) -> Dict[str, int]:
  total = dict.fromkeys(COUNTS, 0)
  for name in os.listdir(directory):
    if name.endswith('.json'):
      try:
        with open(os.path.join(directory, name)) as f:
          counts = json.load(f)
      except (OSError, ValueError):
        continue  # replaced while listed: the next round reads it.
      for k in COUNTS:
        total[k] += counts.get(k, 0)
  return total


def format_line(counts: Dict[str, int], seconds: float,
                total_bytes: Optional[int],
                first: Optional[Tuple[float, int]] = None) -> str:
  """One progress line.

  Args:
    counts: the summed counters (`read_counts`).
    seconds: since the job started.
    total_bytes: the input's size, if known.
    first: `(seconds, text_bytes)` of the first line that saw any text. The
      rate (and with it an ETA) is measured from there, so the workers'
      start-up does not count as slow reading; without a later reading that
      read more, the line shows neither.
  """
  mb = counts['text_bytes'] / 1e6
  line = (f'read {counts["documents"]:,} documents, {mb:,.1f} MB'
          + (f' of {total_bytes / 1e6:,.1f} MB' if total_bytes else ''))
  rate = None
  if first is not None and seconds > first[0] and (
      counts['text_bytes'] > first[1]):
    rate = (counts['text_bytes'] - first[1]) / 1e6 / (seconds - first[0])
  if rate:
    line += f' ({rate:.2f} MB/s)'
  line += f', {counts["sequences"]:,} sequences'
  if total_bytes and rate:
    left = max(total_bytes / 1e6 - mb, 0.0) / rate
    line += ', ETA ' + time.strftime('%H:%M:%S', time.gmtime(left))
  return line


class Printer(threading.Thread):
  """Launcher side: one line every `interval` seconds until `stop()`."""

  def __init__(self, directory: str, stream: TextIO,
               total_bytes: Optional[int], interval: float = 5.0):
    super().__init__(daemon=True)
    self._directory = directory
    self._stream = stream
    self._total = total_bytes
    self._interval = interval
    self._stopped = threading.Event()
    self._start = time.monotonic()

  def run(self):
    first = None
    while not self._stopped.wait(self._interval):
      counts = read_counts(self._directory)
      if counts['documents']:
        seconds = time.monotonic() - self._start
        print(format_line(counts, seconds, self._total, first),
              file=self._stream, flush=True)
        first = first or (seconds, counts['text_bytes'])

  def stop(self):
    self._stopped.set()
    self.join()
