r"""Times the KerasHub backbone's train step on Keras 3: plain against token
dropping, under the backend of `KERAS_BACKEND` (JAX: `jax.jit`; TensorFlow:
XLA), beside the FLOP model.

  KERAS_BACKEND=jax python -m official_td.benchmarks.keras_step_time \
      --seq_length=512 --keep_k=256 --batch_size=32 --steps=10

Both sides are `TokenDropBertMaskedLM`s of the same shape with the same
optimizer as `official_td.keras_hub.train`, one compiled train step each
(`train_on_batch`: forward, per-slot losses, AdamW, and on the dropping side
the importance update): the plain step with dropping off, the token-drop step
keeping `keep_k`. Random batches of the shape, placed on the devices once.
Rounds alternate the two so that both see the same machine state; each
side's compilation is done first and not timed. Needs no TensorFlow on the
JAX backend: a JAX user measures the saving on their own accelerator with the
command above (with `keras.distribution.DataParallel` over every device when
there are several). The last line printed is one JSON object: backend,
devices, plain_step_s and token_drop_step_s (medians, seconds per step),
measured_ratio, flop_ratio and each round's ratio.
"""

import json
import statistics
import time

from absl import app
from absl import flags
import keras
import numpy as np

from official_td.benchmarks import flops
from official_td.benchmarks import shapes
from official_td.keras_hub import backbone as backbone_lib
from official_td.keras_hub import masked_lm
from official_td.keras_hub import optimization

FLAGS = flags.FLAGS

flags.DEFINE_integer('steps', 5, 'Timed rounds.')
flags.DEFINE_integer('steps_per_timing', 3, 'Train steps per timed call.')
flags.DEFINE_bool('data_parallel', True, 'With several devices, '
                  'keras.distribution.DataParallel over all of them.')


def random_batch(batch_size, seq_length, predictions, vocab_size, seed=0):
  """A masked-LM batch of the shape: `(x, labels, weights)`."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, vocab_size, (batch_size, seq_length)).astype('int32')
  positions = np.sort(np.stack([
      rng.choice(np.arange(1, seq_length), predictions, replace=False)
      for _ in range(batch_size)]), axis=1).astype('int32')
  x = dict(token_ids=ids, segment_ids=np.zeros_like(ids),
           padding_mask=np.ones_like(ids), mask_positions=positions,
           drop_seed=np.arange(batch_size, dtype='int32'))
  labels = np.take_along_axis(ids, positions, 1)
  return x, labels, np.ones(labels.shape, 'float32')


def build_task(encoder, dropping: bool):
  backbone = backbone_lib.TokenDropBertBackbone(
      vocabulary_size=encoder.vocab_size, num_layers=encoder.num_layers,
      num_heads=encoder.num_attention_heads, hidden_dim=encoder.hidden_size,
      intermediate_dim=encoder.inner_dim, dropout=encoder.dropout,
      max_sequence_length=encoder.max_sequence_length,
      keep_k=encoder.keep_k, drop_start_layer=encoder.drop_start_layer,
      drop_end_layer=encoder.drop_end_layer, allow_ids=(1, 2, 3, 4),
      deny_ids=(0,))
  backbone.set_dropping(dropping)
  task = masked_lm.TokenDropBertMaskedLM(backbone, drop_seed_input=True)
  task.compile(optimizer=optimization.build_optimizer(task, 1000000),
               jit_compile=True)
  return task


def time_steps(task, batch, steps):
  start = time.perf_counter()
  for _ in range(steps):
    logs = task.train_on_batch(*batch, return_dict=True)
  float(logs['loss'])  # Waits for the last step (JAX dispatches async).
  return (time.perf_counter() - start) / steps


def main(argv):
  del argv
  devices = keras.distribution.list_devices()
  if FLAGS.data_parallel and len(devices) > 1:
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices))
  x, labels, weights = random_batch(FLAGS.batch_size, FLAGS.seq_length,
                                    FLAGS.max_predictions, FLAGS.vocab_size)
  batch = (x, labels, weights)
  encoder = shapes.encoder_config()
  tasks = dict(plain=build_task(encoder, False),
               token_drop=build_task(encoder, True))
  compile_s = {}
  for name, task in tasks.items():
    start = time.perf_counter()
    time_steps(task, batch, 1)
    compile_s[name] = time.perf_counter() - start
  rounds = {name: [] for name in tasks}
  for _ in range(FLAGS.steps):
    for name, task in tasks.items():
      rounds[name].append(time_steps(task, batch, FLAGS.steps_per_timing))
  plain = statistics.median(rounds['plain'])
  drop = statistics.median(rounds['token_drop'])
  model = flops.FlopModel(encoder=encoder, seq_length=FLAGS.seq_length,
                          keep_k=FLAGS.keep_k,
                          max_predictions=FLAGS.max_predictions)
  result = dict(
      backend=keras.backend.backend(), devices=len(devices),
      device=str(devices[0]), batch_size=FLAGS.batch_size,
      seq_length=FLAGS.seq_length, keep_k=FLAGS.keep_k,
      plain_step_s=plain, token_drop_step_s=drop,
      measured_ratio=drop / plain, flop_ratio=model.ratio(),
      round_ratios=[d / p for d, p in zip(rounds['token_drop'],
                                          rounds['plain'])],
      compile_s=compile_s)
  print(f'{result["backend"]} on {len(devices)} x {devices[0]}: plain '
        f'{plain:.4f} s/step, token drop {drop:.4f} s/step, ratio '
        f'{drop / plain:.3f} (FLOP model {model.ratio():.3f})')
  print(json.dumps(result))


def run():
  app.run(main)


if __name__ == '__main__':
  run()
