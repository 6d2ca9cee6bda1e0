"""What the forkserver of `warm_workers` imports before it forks workers.

Importing this module is its purpose: Beam's SDK harness, the pipeline's
stages (with TensorFlow) and tensorflow-text's ops are imported once, in the
forkserver, and every worker forked from it starts with them loaded.

The forkserver outlives the launcher by its own exit, and holds the
launcher's stdout and stderr until then (a pipe reading the job's output
waits for it): it exits without the last full garbage collection, which
with TensorFlow loaded took ~1 s.
"""

# pylint: disable=unused-import
from apache_beam.runners.worker import sdk_worker_main
import tensorflow_text

from official_td import runtime
from official_td.data import pipeline
# pylint: enable=unused-import

runtime.skip_final_collection_at_exit()
