"""Every entry point ends a user's mistake the same way, through its command.

Exit status 1, exactly one line starting with `Error:` that names the bad
value and the fix, no traceback, and nothing that looks like output left
behind. (Pretraining and data creation have their own bad-input tests in
test_pretrain.py and test_data_pipeline.py; fine-tuning's, which need a
pretrained run, are in test_finetune_export.py.)
"""

import os
import tempfile

import tensorflow as tf

from tests import pretrain_utils as pu
from tests import testing_utils as tu


class EntryPointErrorsTest(tu.TestCase):

  def setUp(self):
    super().setUp()
    self.work = tempfile.mkdtemp()
    self.not_a_run = os.path.join(self.work, 'not_a_run')
    os.makedirs(self.not_a_run)
    with open(os.path.join(self.not_a_run, 'notes.txt'), 'w') as f:
      f.write('not a model directory\n')

  def test_export_of_a_directory_that_is_not_a_run(self):
    for fmt in ('savedmodel', 'huggingface'):
      export_dir = os.path.join(self.work, f'exports_{fmt}')
      proc = pu.run_entry_point('official_td.export', [
          f'--format={fmt}', f'--model_dir={self.not_a_run}',
          f'--export_dir={export_dir}'])
      pu.assert_clean_error(
          self, proc, f"--model_dir='{self.not_a_run}' is not a finished run")
      self.assertIn('point --model_dir at the --model_dir of a finished',
                    proc.stderr)
      self.assertFalse(os.path.exists(export_dir), fmt)

  def test_export_never_writes_over_an_existing_export(self):
    # Checked before the model is loaded: a directory that is no run gets
    # the same answer as a run would.
    existing = os.path.join(self.work, 'exports', 'td_bert', '1')
    os.makedirs(existing)
    with open(os.path.join(existing, 'saved_model.pb'), 'w') as f:
      f.write('the export a server loads')
    proc = pu.run_entry_point('official_td.export', [
        f'--model_dir={self.not_a_run}',
        f'--export_dir={os.path.join(self.work, "exports")}',
        '--model_name=td_bert', '--version=1'])
    pu.assert_clean_error(self, proc, f"'{existing}' already exists")
    self.assertIn('Use a new --version', proc.stderr)
    hf_dir = os.path.join(self.work, 'hf_existing')
    os.makedirs(hf_dir)
    with open(os.path.join(hf_dir, 'config.json'), 'w') as f:
      f.write('{}')
    proc = pu.run_entry_point('official_td.export', [
        '--format=huggingface', f'--model_dir={self.not_a_run}',
        f'--export_dir={hf_dir}'])
    pu.assert_clean_error(self, proc, f"'{hf_dir}' already exists")
    self.assertIn('Choose a new --export_dir', proc.stderr)
    with open(os.path.join(existing, 'saved_model.pb')) as f:
      self.assertEqual(f.read(), 'the export a server loads')
    self.assertEqual(os.listdir(hf_dir), ['config.json'])

  def test_show_of_a_directory_that_is_not_data(self):
    proc = pu.run_entry_point('official_td.input.show',
                              [f'--data={self.not_a_run}'])
    pu.assert_clean_error(
        self, proc, f"'{self.not_a_run}' has no data_summary.json")
    self.assertIn('Re-run `python -m official_td.data.create_pretraining_data`',
                  proc.stderr)
    self.assertEqual(os.listdir(self.not_a_run), ['notes.txt'])

  def test_study_refuses_bad_budgets_and_arms_before_any_run(self):
    output_dir = os.path.join(self.work, 'study')
    for args, message in (
        (['--budgets=0,0.5'],
         '--budgets=0,0.5: give distinct fractions in (0, 2]'),
        (['--budgets=0.5', '--arm=bad name=encoder.keep_k = 8'],
         "--arm='bad name=encoder.keep_k = 8': start with a name of letters"),
        (['--budgets=0.5', '--gin_file=gin/experiments/missing.gin'],
         "Gin file 'gin/experiments/missing.gin' does not exist")):
      proc = pu.run_entry_point('official_td.study',
                                [f'--output_dir={output_dir}'] + args)
      pu.assert_clean_error(self, proc, message)
      self.assertFalse(os.path.exists(output_dir), args)

  def test_study_report_only_refuses_a_directory_without_a_study(self):
    output_dir = os.path.join(self.work, 'no_study')
    proc = pu.run_entry_point('official_td.study', [
        f'--output_dir={output_dir}', '--budgets=0.5', '--report_only'])
    pu.assert_clean_error(self, proc, 'holds no study to report on')
    # Nothing written: not even the study's settings.
    self.assertFalse(os.path.exists(output_dir))

  def test_step_time_refuses_a_bad_config(self):
    for args, message in (
        (['--gin_file=gin/experiments/missing.gin'],
         "Gin file 'gin/experiments/missing.gin' does not exist"),
        (['--seq_length=32', '--keep_k=40', '--max_predictions=4'],
         'keep_k=40 keeps 40 of 32 tokens'),
        (['--seq_length=32', '--keep_k=16'],
         '--max_predictions=76 does not fit --seq_length=32: use 1 to 30')):
      proc = pu.run_entry_point('official_td.benchmarks.step_time', args)
      pu.assert_clean_error(self, proc, message)

  def test_loop_overhead_refuses_a_bad_shape(self):
    work_dir = os.path.join(self.work, 'loop_bench')
    proc = pu.run_entry_point('official_td.benchmarks.loop_overhead', [
        '--seq_length=32', '--keep_k=32', f'--work_dir={work_dir}'])
    pu.assert_clean_error(self, proc, 'keep_k=32 keeps 32 of 32 tokens')
    self.assertFalse(os.path.exists(work_dir))

  def test_input_rate_refuses_a_batch_that_does_not_divide(self):
    work = os.path.join(self.work, 'input_rate')
    proc = pu.run_entry_point('official_td.benchmarks.input_rate', [
        '--global_batch_size=10', '--replicas=4', f'--work_dir={work}'])
    pu.assert_clean_error(self, proc, '--global_batch_size must divide over '
                          '2 hosts of --replicas each')
    self.assertFalse(os.path.exists(work))

  def test_data_benchmark_refuses_a_bad_size(self):
    work_dir = os.path.join(self.work, 'data_bench')
    proc = pu.run_entry_point('official_td.benchmarks.data_pipeline', [
        '--size_mb=0', f'--work_dir={work_dir}'])
    pu.assert_clean_error(self, proc, '--size_mb=0.0 --scale=8: the 1x corpus '
                          'needs a positive size')
    self.assertFalse(os.path.exists(work_dir))


if __name__ == '__main__':
  tf.test.main()
