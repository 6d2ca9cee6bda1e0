"""`official_td.train --dry_run` checks what a run would do before its step.

It initializes the model from `run.init_checkpoint` (every tensor mapped and
placed), checks that `--model_dir` can be written and that a checkpoint
already there restores into the configuration, and traces the train step on
the strategy; each failure is one clean error, and nothing is left behind.
"""

import json
import os
from unittest import mock

import gin
from safetensors import numpy as safetensors_numpy
import tensorflow as tf

from official.nlp.modeling import networks
from official_td import cli
from official_td import configurables
from official_td import train_lib
from official_td.tasks import masked_lm
from tests import checkpoint_utils
from tests import pretrain_utils as pu

SHAPE = dict(hidden_size=32, num_layers=3, num_attention_heads=2, inner_dim=64,
             max_sequence_length=32, type_vocab_size=2)


class DryRunTest(pu.TinyDataTestCase):

  def dry_run(self, model_dir, bindings=()):
    return pu.run_train(model_dir, self.bindings + list(bindings),
                        check=False, extra_flags=['--dry_run'])

  def published(self, name):
    vocab = os.path.join(self.data_dir, 'vocab.txt')
    shape = dict(SHAPE, vocab_size=len(open(vocab).read().splitlines()))
    directory = os.path.join(self.root, name)
    tensors = checkpoint_utils.write_hf_bert_directory(directory, shape, vocab)
    return directory, tensors

  def test_dry_run_initializes_from_the_checkpoint_or_names_what_is_missing(
      self):
    complete, _ = self.published('complete')
    model_dir = os.path.join(self.root, 'dry_complete')
    proc = self.dry_run(model_dir, [f"run.init_checkpoint = '{complete}'"])
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    result = json.loads(proc.stdout.splitlines()[-2])
    self.assertEqual(result['initialized']['mlm_head'], True)
    self.assertIn('cls.seq_relationship.weight',
                  result['initialized']['not_used'])
    self.assertEqual(result['init_checkpoint_adopted'],
                     {'inner_activation': 'gelu_erf'})
    self.assertIn('initialized from huggingface', proc.stdout)
    self.assertFalse(os.path.exists(model_dir))
    # The config describes every tensor, the file lacks one: only placing
    # the tensors finds it.
    broken, tensors = self.published('broken')
    del tensors['bert.encoder.layer.2.attention.self.value.weight']
    safetensors_numpy.save_file(tensors, os.path.join(broken,
                                                      'model.safetensors'))
    model_dir = os.path.join(self.root, 'dry_broken')
    proc = self.dry_run(model_dir, [f"run.init_checkpoint = '{broken}'"])
    pu.assert_clean_error(self, proc, 'bert.encoder.layer.2.attention.self.'
                          'value.weight is missing from the Hugging Face '
                          'weights')
    self.assertFalse(os.path.exists(model_dir))

  def test_dry_run_refuses_a_model_dir_it_cannot_write(self):
    # /proc refuses new files to every user, root included.
    model_dir = '/proc/official_td_dry_run/run'
    proc = self.dry_run(model_dir)
    pu.assert_clean_error(self, proc, f"--model_dir='{model_dir}' cannot be "
                          'written')

  def test_dry_run_refuses_a_checkpoint_it_would_not_resume(self):
    model_dir = os.path.join(self.root, 'other_network')
    vocab = os.path.join(self.data_dir, 'vocab.txt')
    encoder = networks.BertEncoderV2(**dict(
        SHAPE, hidden_size=16, vocab_size=len(open(vocab).read().split())))
    encoder(encoder.inputs)
    tf.train.CheckpointManager(tf.train.Checkpoint(encoder=encoder),
                               model_dir, 1).save(checkpoint_number=5)
    before = sorted(os.listdir(model_dir))
    proc = self.dry_run(model_dir)
    pu.assert_clean_error(self, proc, 'ckpt-5\' would be resumed, but it does '
                          'not restore into this configuration')
    self.assertEqual(sorted(os.listdir(model_dir)), before)

  def test_study_dry_run_checks_its_fine_tuning_settings(self):
    output_dir = os.path.join(self.root, 'study')
    proc = pu.run_entry_point('official_td.study', [
        '--gin_file=gin/experiments/ci_tiny.gin', f'--output_dir={output_dir}',
        '--budgets=0.5', '--finetune_bindings=finetune.no_such_setting = 1',
        '--dry_run'] + [f'--gin_bindings={b}' for b in self.bindings])
    pu.assert_clean_error(self, proc, "--finetune_gin='gin/finetune/"
                          "embedded_source.gin': Invalid gin configuration")
    self.assertIn('no_such_setting', proc.stderr)
    self.assertFalse(os.path.exists(output_dir))

  def test_dry_run_traces_the_train_step(self):
    """A shape error inside the replica step (injected into the task's
    step) fails the dry run; the same dry run without it passes."""
    gin.clear_config()
    self.addCleanup(gin.clear_config)
    cli.parse_gin(['gin/experiments/ci_tiny.gin'], self.bindings)
    model_dir = os.path.join(self.root, 'traced')
    configs = (configurables.encoder(), configurables.data(),
               configurables.optimizer(),
               configurables.run(model_dir=model_dir))
    strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
    result = train_lib.dry_run(strategy, *configs)
    self.assertEqual(result['traced_train_step'], '16')
    original = masked_lm.train_step

    def step_with_a_shape_error(*args, **kwargs):
      tf.matmul(tf.zeros([2, 3]), tf.zeros([4, 5]))
      return original(*args, **kwargs)

    with mock.patch.object(masked_lm, 'train_step', step_with_a_shape_error):
      with self.assertRaisesRegex((ValueError, tf.errors.InvalidArgumentError),
                                  'Dimensions must be equal'):
        train_lib.dry_run(strategy, *configs)
    self.assertFalse(os.path.exists(model_dir))


if __name__ == '__main__':
  tf.test.main()
