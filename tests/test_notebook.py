"""Executes the Colab notebooks headlessly with their tiny configurations:
colab/token_dropping.ipynb (TensorFlow, Model Garden) and
colab/token_dropping_keras_hub.ipynb (KerasHub on JAX)."""

import json
import os
import shutil
import tempfile

import h5py
import nbclient
import nbformat

from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'colab', 'token_dropping.ipynb')
KERAS_HUB_NOTEBOOK = os.path.join(REPO, 'colab',
                                  'token_dropping_keras_hub.ipynb')


def execute_tiny(path, work_dir):
  """Runs the notebook at `path` with `TINY = True`; returns it and its text
  outputs."""
  nb = nbformat.read(path, as_version=4)
  params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1, path
  params[0].source += f'\nTINY = True\nWORK_DIR = {work_dir!r}\n'
  client = nbclient.NotebookClient(
      nb, kernel_name='python3', timeout=900,
      resources={'metadata': {'path': REPO}})
  client.execute()  # raises CellExecutionError if any cell fails.
  text = '\n'.join(
      o.get('text', '') + str(o.get('data', {}).get('text/plain', ''))
      for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
  return nb, text


def html_outputs(nb):
  return [o['data']['text/html'] for c in nb.cells if c.cell_type == 'code'
          for o in c.outputs if 'text/html' in o.get('data', {})]


class NotebookTest(tu.TestCase):

  def test_outputs_are_stripped_in_the_repo(self):
    for path in (NOTEBOOK, KERAS_HUB_NOTEBOOK):
      nb = nbformat.read(path, as_version=4)
      for cell in nb.cells:
        if cell.cell_type == 'code':
          self.assertEqual(cell.outputs, [], cell.source[:80])
          self.assertIsNone(cell.execution_count)

  def test_both_notebooks_run_end_to_end_with_tiny_config(self):
    # One workspace, as a user running both: the KerasHub notebook reads the
    # data the first one wrote.
    work_dir = tempfile.mkdtemp()
    try:
      nb, text = execute_tiny(NOTEBOOK, work_dir)
      self.assertIn('Using CPU: OneDeviceStrategy with 1 replica(s)', text)
      self.assertIn('eval MLM accuracy on full sequences: baseline', text)
      html = html_outputs(nb)
      self.assertTrue(html and '<b>' in html[0])
      self.assertIn("'pooled_output': TensorShape([1, 32])", text)
      self.assertTrue(os.path.exists(os.path.join(
          work_dir, 'exports', 'td_bert', '1', 'saved_model.pb')))

      nb, text = execute_tiny(KERAS_HUB_NOTEBOOK, work_dir)
      self.assertIn('Keras backend: jax on 1 x cpu', text)
      html = html_outputs(nb)
      self.assertTrue(html and '<b>' in html[0] and 'color:#999' in html[0])
      self.assertIn('fine-tuned eval accuracy', text)
      preset = os.path.join(work_dir, 'keras_token_drop')
      with open(os.path.join(preset, 'config.json')) as f:
        self.assertEqual(json.load(f)['class_name'], 'TokenDropBertBackbone')
      with h5py.File(os.path.join(preset, 'model.weights.h5')) as f:
        self.assertIn('importance/vars/0', f)  # the table.
    finally:
      shutil.rmtree(work_dir, ignore_errors=True)
