"""Tests of the compute model and of the benchmark entry point."""

import json
import os
import statistics
import sys

from official_td import keep
from official_td.benchmarks import data_ratios
from official_td.benchmarks import flops
from official_td.configs import encoders
from official_td.configs import pretraining
from tests import entry_points
from tests import pretrain_utils as pu
from tests import testing_utils as tu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FlopModelTest(tu.TestCase):

  def test_bert_base_ratio(self):
    # Written out for BERT-base, S=512, k=256, P=76: 5 full layers, the
    # transition, 5 kept-only layers, 1 full layer, and the MLM head.
    h, i, s, k, p, v = 768, 3072, 512, 256, 76, 30522

    def block(q, kv):
      return 4 * q * h * h + 4 * kv * h * h + 4 * q * kv * h + 4 * q * h * i

    head = 2 * p * h * h + 2 * p * h * v
    plain = 12 * block(s, s) + head
    drop = 6 * block(s, s) + block(k, s) + 5 * block(k, k) + head
    self.assertAlmostEqual(flops.FlopModel().ratio(), drop / plain, places=12)
    self.assertAlmostEqual(flops.FlopModel().ratio(), 0.755, places=3)

  def test_window_changes_ratio(self):
    wide = flops.FlopModel(encoders.EncoderConfig(
        vocab_size=30522, drop_start_layer=1, drop_end_layer=11)).ratio()
    self.assertLess(wide, flops.FlopModel().ratio())
    same = flops.FlopModel(keep_k=512).ratio()
    self.assertAlmostEqual(same, 1.0)


class BenchmarkTest(tu.TestCase):

  def test_prints_json_with_both_timings_in_the_precision_asked(self):
    cmd = [sys.executable, '-m', 'official_td.benchmarks.step_time', '--num_layers=2',
           '--hidden_size=16', '--num_attention_heads=2', '--inner_dim=32',
           '--vocab_size=200', '--seq_length=16', '--keep_k=8',
           '--max_predictions=3', '--batch_size=2', '--steps=2',
           '--precision=mixed_float16']
    proc = entry_points.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected_ratio = flops.FlopModel(
        encoders.EncoderConfig(num_layers=2, hidden_size=16, inner_dim=32,
                               vocab_size=200),
        seq_length=16, keep_k=8, max_predictions=3).ratio()
    self.assertAlmostEqual(result['flop_ratio'], expected_ratio, places=4)
    self.assertEqual(result['drop_window'], [0, 1])
    self.assertEqual(result['precision'], 'mixed_float16')
    self.assertGreater(result['plain_step_s'], 0)
    self.assertGreater(result['token_drop_step_s'], 0)
    self.assertAlmostEqual(
        result['measured_ratio'],
        result['token_drop_step_s'] / result['plain_step_s'], places=2)

  def test_loop_benchmark_prints_json(self):
    cmd = [sys.executable, '-m', 'official_td.benchmarks.loop_overhead',
           '--num_layers=2', '--hidden_size=16', '--num_attention_heads=2',
           '--inner_dim=32', '--vocab_size=200', '--seq_length=16',
           '--keep_k=8', '--max_predictions=3', '--batch_size=4',
           '--steps_per_loop=2', '--rounds=1', '--eval_batches=2']
    proc = entry_points.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in result.items():
      if key.endswith('_s'):
        self.assertGreater(value, 0, key)



class StepTimeFromConfigTest(pu.TinyDataTestCase):
  """The benchmark times the trainer that trains, built from the config."""

  def test_times_every_k_of_the_configs_schedule_with_its_settings(self):
    schedule = 'run.keep_schedule = ((0.0, 0.25), (0.5, 0.5), (0.75, 1.0))'
    # With the consistency loss on: one consistency step in every 2.
    settings = [schedule, "encoder.importance_mode = 'frequency'",
                'run.consistency_weight = 0.5', 'run.consistency_every = 2']
    cmd = [sys.executable, '-m', 'official_td.benchmarks.step_time',
           '--gin_file=gin/experiments/ci_tiny.gin', '--steps=2']
    cmd += [f'--gin_bindings={b}' for b in self.bindings + settings]
    proc = entry_points.run(cmd, cwd=REPO, env=pu.env(), capture_output=True,
                          text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(result['importance_mode'], 'frequency')
    # The phases training runs (one representation: fractions and k).
    run = pretraining.RunConfig(
        keep_schedule=((0.0, 0.25), (0.5, 0.5), (0.75, 1.0)))
    self.assertEqual([tuple(p) for p in result['keep_phases']],
                     keep.keep_phases(run, 32, 16))
    self.assertEqual(sorted(result['step_s']), ['16', '32', '8'])
    # A dropping k's step time as training runs it: its loop and its
    # consistency loop, one step in every 2.
    loops = result['loop_step_s']
    self.assertEqual(sorted(loops), ['16', '16+consistency', '32', '8',
                                     '8+consistency'])
    for k in ('8', '16'):
      self.assertAlmostEqual(result['step_s'][k], (
          loops[k] + loops[k + '+consistency']) / 2, places=5)
    self.assertEqual(result['step_s']['32'], loops['32'])
    self.assertAlmostEqual(
        result['schedule_ratio'],
        (0.5 * result['step_s']['8'] + 0.25 * result['step_s']['16'] +
         0.25 * result['step_s']['32']) / result['plain_step_s'], places=3)
    # Each round's own times, and its own ratio from them the same way; the
    # medians above are the rounds' medians.
    rounds = result['round_step_s']
    self.assertEqual(sorted(rounds), sorted(list(loops) + ['plain']))
    self.assertEqual(len(result['schedule_ratio_rounds']), 2)
    self.assertAlmostEqual(result['plain_step_s'],
                           statistics.median(rounds['plain']), places=5)
    for name, seconds in loops.items():
      self.assertEqual(len(rounds[name]), 2)
      self.assertAlmostEqual(seconds, statistics.median(rounds[name]),
                             places=5)
    for i, ratio in enumerate(result['schedule_ratio_rounds']):
      step = {k: (rounds[k][i] + rounds[k + '+consistency'][i]) / 2
              for k in ('8', '16')}
      self.assertAlmostEqual(ratio, (
          0.5 * step['8'] + 0.25 * step['16'] + 0.25 * rounds['32'][i]) /
                             rounds['plain'][i], places=3)
    # It timed the loops training runs: a training run of the same config
    # compiles the same loops of its token-drop trainer, k by k (a benchmark
    # that timed the full-length loop for every k would not).
    model_dir = os.path.join(self.root, 'same_config')
    pu.run_train(model_dir, self.bindings + settings)
    trained = json.load(open(os.path.join(model_dir, 'results.json')))
    self.assertEqual(result['timed_loops']['token_drop'],
                     trained['compiled_train_loops'])
    self.assertEqual(sorted(trained['compiled_train_loops']),
                     sorted(loops))
    self.assertEqual(result['timed_loops']['plain'], {'32': 1})


class DataPipelineRatiosTest(tu.TestCase):
  """The data benchmark's ratios from its runs' figures."""

  def run_figures(self, seconds_1x, seconds_8x):
    def run(seconds, text_mb, rss):
      return dict(seconds=seconds, text_mb=text_mb, peak_rss_total_mb=rss,
                  peak_pss_total_mb=rss // 2, mb_per_s=text_mb / seconds)
    return dict(beam_1x=run(seconds_1x, 1.0, 1000),
                beam_1x_one_worker=run(seconds_1x * 1.5, 1.0, 600),
                beam_8x=run(seconds_8x, 8.0, 1100),
                beam_8x_one_worker=run(seconds_8x * 1.5, 8.0, 700))

  def test_marginal_rate_is_the_slope_past_start_up(self):
    result = data_ratios.ratios(self.run_figures(10.0, 24.0), cores=2,
                                seq_length=128, one_worker_8x=True,
                                one_file=False)
    self.assertEqual(result['marginal_mb_per_s'],
                     {'all_workers': 0.5, 'one_worker': round(7 / 21, 3)})
    self.assertEqual(result['marginal_mb_per_s_per_core'], 0.25)
    self.assertEqual(result['rss_8x_over_1x'], 1.1)
    self.assertEqual(result['all_workers_over_one'], 1.5)
    self.assertNotIn('marginal_note', result)

  def test_equal_seconds_give_no_rate_instead_of_dividing_by_zero(self):
    # A corpus so small that start-up dominates: both runs take 10.7 s.
    for seconds_8x in (10.7, 9.9):
      result = data_ratios.ratios(self.run_figures(10.7, seconds_8x),
                                  cores=2, seq_length=128,
                                  one_worker_8x=True, one_file=False)
      self.assertIsNone(result['marginal_mb_per_s']['all_workers'])
      self.assertIsNone(result['marginal_mb_per_s']['one_worker'])
      self.assertIsNone(result['marginal_mb_per_s_per_core'])
      self.assertIn('--size_mb', result['marginal_note'])
