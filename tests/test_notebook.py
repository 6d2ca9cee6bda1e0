"""Executes colab/token_dropping.ipynb headlessly with its tiny configuration."""

import os
import shutil
import tempfile

import nbclient
import nbformat

from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'colab', 'token_dropping.ipynb')


class NotebookTest(tu.TestCase):

  def test_outputs_are_stripped_in_the_repo(self):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
      if cell.cell_type == 'code':
        self.assertEqual(cell.outputs, [], cell.source[:80])
        self.assertIsNone(cell.execution_count)

  def test_runs_end_to_end_with_tiny_config(self):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
    self.assertLen(params, 1)
    work_dir = tempfile.mkdtemp()
    try:
      params[0].source += f'\nTINY = True\nWORK_DIR = {work_dir!r}\n'
      client = nbclient.NotebookClient(
          nb, kernel_name='python3', timeout=900,
          resources={'metadata': {'path': REPO}})
      client.execute()  # raises CellExecutionError if any cell fails.
      text = '\n'.join(
          o.get('text', '') + str(o.get('data', {}).get('text/plain', ''))
          for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
      self.assertIn('Using CPU: OneDeviceStrategy with 1 replica(s)', text)
      self.assertIn('eval MLM accuracy on full sequences: baseline', text)
      html = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs
              if 'text/html' in o.get('data', {})]
      self.assertTrue(html and '<b>' in html[0]['data']['text/html'])
      self.assertIn("'pooled_output': TensorShape([1, 32])", text)
      self.assertTrue(os.path.exists(os.path.join(
          work_dir, 'exports', 'td_bert', '1', 'saved_model.pb')))
    finally:
      shutil.rmtree(work_dir, ignore_errors=True)
