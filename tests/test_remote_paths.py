"""Every path a `gs://` URL: TF's in-memory `ram://` filesystem stands in.

`ram://` lives in one process, so the pipeline runs in-process here: data on
ram://, pretraining, fine-tuning and export to ram://, then serving the export
from ram://.
"""

import csv
import io
import os
import uuid

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

from official_td import export
from official_td import publish
from official_td import train_lib
from official_td.configs import encoders
from official_td.configs import pretraining
from official_td.tasks import classification
from tests import pretrain_utils as pu


def copy_tree(src, dst):
  for root, _, names in tf.io.gfile.walk(src):
    for name in names:
      path = os.path.join(root, name)
      target = os.path.join(dst, path[len(src) + 1:])
      tf.io.gfile.makedirs(os.path.dirname(target))
      tf.io.gfile.copy(path, target)


class RemotePathsTest(pu.TinyDataTestCase):

  def test_pretrain_finetune_export_on_ram_filesystem(self):
    root = f'ram://remote-{uuid.uuid4().hex[:8]}'
    data = f'{root}/data'
    copy_tree(self.data_dir, data)
    model_dir = f'{root}/pretrained'
    results = train_lib.run_pretraining(
        tf.distribute.OneDeviceStrategy('/cpu:0'),
        encoders.EncoderConfig(hidden_size=32, num_layers=3,
                               num_attention_heads=2, inner_dim=64,
                               max_sequence_length=32, dropout=0.0,
                               keep_k=16),
        pretraining.DataConfig(train_data=f'{data}/train-*',
                            eval_data=f'{data}/eval-*',
                            vocab_file=f'{data}/vocab.txt', seq_length=32,
                            max_predictions_per_seq=5,
                            shuffle_buffer_size=100),
        pretraining.OptimizerConfig(learning_rate=2e-3, warmup_steps=2),
        pretraining.RunConfig(model_dir=model_dir, train_steps=10,
                           global_batch_size=8, eval_batch_size=8,
                           steps_per_loop=5, checkpoint_interval=5,
                           eval_interval=10, summary_interval=5))
    self.assertEqual(results['step'], 10)
    self.assertEqual(tf.train.latest_checkpoint(model_dir),
                     f'{model_dir}/ckpt-10')
    for name in ('results.json', 'encoder_config.json', 'vocab.txt',
                 'importance.npy'):
      self.assertTrue(tf.io.gfile.exists(f'{model_dir}/{name}'), name)
    self.assertTrue(tf.io.gfile.glob(f'{model_dir}/train/events.*'))
    self.assertFalse(os.path.exists('ram:'))  # nothing went to local disk.

    rows = [('the cat sat on the mat', 'cat'),
            ('a dog ran in the park', 'other')] * 16
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(['text', 'label'])
    writer.writerows(rows)
    for split in ('train', 'eval'):
      with tf.io.gfile.GFile(f'{root}/{split}.csv', 'w') as f:
        f.write(buffer.getvalue())
    finetuned = f'{root}/finetuned'
    classification.finetune(classification.FinetuneConfig(
        pretrained_dir=model_dir, model_dir=finetuned,
        train_file=f'{root}/train.csv', eval_file=f'{root}/eval.csv',
        seq_length=16, batch_size=8, epochs=1, dropout=0.0))
    self.assertTrue(tf.io.gfile.exists(f'{finetuned}/results.json'))

    path = export.export(finetuned, f'{root}/exports', 'td', 1)
    self.assertEqual(path, f'{root}/exports/td/1')
    self.assertEqual(
        [n.rstrip('/') for n in tf.io.gfile.listdir(f'{root}/exports/td')],
        ['1'])  # no staging directory left behind.
    self.assertTrue(tf.io.gfile.exists(f'{path}/saved_model.pb'))
    served = tf.saved_model.load(path)
    out = served.signatures['serving_default'](
        text=tf.constant(['the cat sat on the mat']))
    self.assertAllClose(np.sum(out['probabilities'].numpy(), -1), [1.0],
                        atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'never overwritten'):
      export.export(finetuned, f'{root}/exports', 'td', 1)
    self.assertFalse(os.path.exists('ram:'))

  def test_publish_copies_the_marker_last_on_object_stores(self):
    root = f'ram://publish-{uuid.uuid4().hex[:8]}'
    staging = publish.staging_dir(f'{root}/out/1')
    self.assertTrue(os.path.basename(staging).startswith('.tmp-1-'))
    for name in ('saved_model.pb', 'variables/variables.index', 'z.txt'):
      tf.io.gfile.makedirs(os.path.dirname(f'{staging}/{name}'))
      with tf.io.gfile.GFile(f'{staging}/{name}', 'w') as f:
        f.write(name)
    order = []
    original = tf.io.gfile.copy

    def recording_copy(src, dst, overwrite=False):
      order.append(dst[len(f'{root}/out/1/'):])
      # When the marker arrives, every other file is already in place.
      if dst.endswith('saved_model.pb'):
        self.assertTrue(tf.io.gfile.exists(f'{root}/out/1/z.txt'))
      return original(src, dst, overwrite)

    tf.io.gfile.copy = recording_copy
    try:
      publish.publish(staging, f'{root}/out/1', marker='saved_model.pb')
    finally:
      tf.io.gfile.copy = original
    self.assertEqual(order[-1], 'saved_model.pb')
    self.assertCountEqual(order, ['saved_model.pb',
                                  'variables/variables.index', 'z.txt'])
    self.assertFalse(tf.io.gfile.exists(staging))
    with self.assertRaisesRegex(ValueError, 'never overwritten'):
      publish.publish(staging, f'{root}/out/1')


if __name__ == '__main__':
  tf.test.main()
