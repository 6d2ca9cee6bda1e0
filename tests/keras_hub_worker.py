"""The Keras 3 side of tests/test_keras_hub.py, run in a process of its own
(Keras's backend is fixed at import): `python -m tests.keras_hub_worker
CHECK[,CHECK...] REQUEST.json RESULT.json` with `KERAS_BACKEND` set. Each check writes
the numbers the test asserts on; none asserts itself.
"""

import importlib
import json
import os
import sys

if os.environ.get('KERAS_BACKEND') == 'jax':
  # On JAX the backbone, the task, presets and fit need no TensorFlow: the
  # JAX worker runs with TensorFlow unimportable.
  sys.modules['tensorflow'] = None
else:
  # Two CPU devices on TensorFlow too (JAX's come from XLA_FLAGS).
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_logical_device_configuration(
      tf.config.list_physical_devices('CPU')[0],
      [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # pylint: disable=g-import-not-at-top,g-bad-import-order
import numpy as np

from official_td.keras_hub import evaluation
from official_td.keras_hub import masked_lm
from official_td.keras_hub import optimization
from official_td.keras_hub import TokenDropBertBackbone
from official_td.keras_hub import TokenDropBertMaskedLM

from tests.keras_hub_presets_worker import _inputs  # pylint: disable=g-bad-import-order
from tests.keras_hub_presets_worker import _max_diff
from tests.keras_hub_presets_worker import _np
from tests.keras_hub_presets_worker import check_continued  # pylint: disable=unused-import
from tests.keras_hub_presets_worker import check_presets  # pylint: disable=unused-import
from tests.keras_hub_presets_worker import SMALL


def check_agreement(request):
  """The dropping forward pass of a Hugging Face export of a Model Garden
  encoder, with the encoder's table, ids and seeds."""
  batch = dict(np.load(request['batch']))
  ours = TokenDropBertBackbone.from_preset(
      request['hf_dir'], keep_k=request['keep_k'], dropout=0.0,
      allow_ids=request['allow_ids'], deny_ids=request['deny_ids'])
  ours.importance.table.assign(batch['table'])
  inputs = dict(_inputs(batch), drop_seed=batch['seeds'])
  kept, dropped = ours.select(inputs, batch['seeds'])
  with ours.force_dropping(True):
    dropping = ours(inputs)['sequence_output']
  plain = ours(_inputs(batch))['sequence_output']
  # Without ids given, the special ids come from the export's vocab.txt.
  resolved = TokenDropBertBackbone.from_preset(request['hf_dir'],
                                               keep_k=request['keep_k'])
  result = dict(kept=_np(kept).tolist(), dropped=_np(dropped).tolist(),
                resolved_allow_ids=sorted(resolved.allow_ids),
                resolved_deny_ids=sorted(resolved.deny_ids))
  np.savez(request['outputs'], dropping=_np(dropping), plain=_np(plain))
  return result


def check_fit(request):
  """One `fit` step on one device and data-parallel on two: the table and
  the weights after it, and the table an independent computation expects."""
  batch = dict(np.load(request['batch']))
  results = {}
  for devices in (1, 2):
    # The distribution first: every variable is created under it.
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(
            devices=keras.distribution.list_devices()[:2])
        if devices == 2 else None)
    keras.utils.set_random_seed(3)
    backbone = TokenDropBertBackbone(dropout=0.0, keep_k=12,
                                     allow_ids=(1, 2, 3, 4), deny_ids=(0,),
                                     **SMALL)
    task = TokenDropBertMaskedLM(backbone, drop_seed_input=True)
    task.compile(optimizer=keras.optimizers.SGD(0.1))
    x = dict(_inputs(batch), mask_positions=batch['positions'],
             drop_seed=batch['seeds'])
    before = np.asarray(_np(backbone.importance.table))
    with backbone.force_dropping(True):
      logits = task.predict_on_batch(x)
    task.fit(x, batch['labels'], sample_weight=batch['weights'],
             batch_size=len(batch['ids']), epochs=1, verbose=0,
             shuffle=False)
    results[devices] = dict(
        table=_np(backbone.importance.table),
        weights=[_np(w) for w in task.trainable_weights],
        logits=logits, before=before)
  one, two = results[1], results[2]
  # A keep schedule in one fit: 2 dropping steps, then 2 full ones. The
  # table moves in the first phase only, exactly as a 2-step run leaves it.
  keras.distribution.set_distribution(None)
  tables = []
  for steps, phases in ((4, [(0, 12), (2, SMALL['max_sequence_length'])]),
                        (2, [(0, 12)])):
    keras.utils.set_random_seed(3)
    backbone = TokenDropBertBackbone(dropout=0.0, keep_k=12,
                                     allow_ids=(1, 2, 3, 4), deny_ids=(0,),
                                     **SMALL)
    task = TokenDropBertMaskedLM(backbone, drop_seed_input=True)
    task.compile(optimizer=keras.optimizers.SGD(0.1))
    repeat = lambda a: np.concatenate([a] * steps)  # pylint: disable=cell-var-from-loop
    x = dict(_inputs(batch), mask_positions=batch['positions'],
             drop_seed=batch['seeds'])
    task.fit({k: repeat(v) for k, v in x.items()}, repeat(batch['labels']),
             sample_weight=repeat(batch['weights']),
             batch_size=len(batch['ids']), epochs=1, verbose=0, shuffle=False,
             callbacks=[masked_lm.KeepSchedule(
                 backbone, phases, SMALL['max_sequence_length'])])
    tables.append(_np(backbone.importance.table))
  np.savez(request['fit_outputs'], logits=one['logits'], table=one['table'],
           before=one['before'])
  return dict(
      table_devices_diff=_max_diff(one['table'], two['table']),
      weights=len(one['weights']),
      weights_devices_diff=max(_max_diff(a, b) for a, b in
                               zip(one['weights'], two['weights'])),
      devices=len(keras.distribution.list_devices()),
      schedule_table_diff=_max_diff(tables[0], tables[1]),
      schedule_table_moved=_max_diff(tables[1], one['before']))


def check_trainer(request):
  """What makes the task the Model Garden trainer's: which variables AdamW
  decays, the pooler after steps, the head's numbers, and the final
  evaluation after a keep schedule that ends dropping."""
  batch = dict(np.load(request['batch']))
  keras.utils.set_random_seed(4)
  backbone = TokenDropBertBackbone(dropout=0.0, keep_k=12,
                                   allow_ids=(1, 2, 3, 4), deny_ids=(0,),
                                   **SMALL)
  task = TokenDropBertMaskedLM(backbone, drop_seed_input=True)
  task.compile(optimizer=optimization.build_optimizer(
      task, 10, learning_rate=1e-2, warmup_steps=0,
      untrained=backbone.pooled_dense.weights))
  x = dict(_inputs(batch), mask_positions=batch['positions'],
           drop_seed=batch['seeds'])
  # The head on full sequences, and the inputs of its numpy reference. Its
  # transform (and the tied decoder) get weights of unit scale: activations
  # where the erf and the tanh GELU differ, logits where it shows.
  head = task.masked_lm_head
  rng = np.random.default_rng(5)
  for weight in (head._intermediate_dense.kernel,  # pylint: disable=protected-access
                 head._intermediate_dense.bias,  # pylint: disable=protected-access
                 backbone.token_embedding.embeddings):
    weight.assign(rng.normal(0, 1, weight.shape).astype('float32'))
  logits = _np(task.predict_on_batch(x))
  sequence = _np(backbone(_inputs(batch), training=False)['sequence_output'])
  head_weights = dict(
      kernel=_np(head._intermediate_dense.kernel),  # pylint: disable=protected-access
      bias=_np(head._intermediate_dense.bias),  # pylint: disable=protected-access
      gamma=_np(head._intermediate_layer_norm.gamma),  # pylint: disable=protected-access
      beta=_np(head._intermediate_layer_norm.beta),  # pylint: disable=protected-access
      output_bias=_np(head._bias),  # pylint: disable=protected-access
      embeddings=_np(backbone.token_embedding.embeddings))
  pooler = [_np(w) for w in backbone.pooled_dense.weights]
  repeat = lambda a: np.concatenate([a] * 2)
  task.fit({k: repeat(v) for k, v in x.items()}, repeat(batch['labels']),
           sample_weight=repeat(batch['weights']),
           batch_size=len(batch['ids']), epochs=1, verbose=0, shuffle=False,
           callbacks=[masked_lm.KeepSchedule(backbone, [(0, 12)],
                                             SMALL['max_sequence_length'])])
  decayed = sorted(v.path for v in task.trainable_variables
                   if task.optimizer._use_weight_decay(v))  # pylint: disable=protected-access
  # The schedule ended dropping: the final evaluation is on full sequences
  # all the same, and with dropping reported apart.
  final = evaluation.final_evaluation(
      task, lambda: [(x, batch['labels'], batch['weights'])],
      len(batch['ids']), [(0, 12)], SMALL['max_sequence_length'], True)
  backbone.set_dropping(None)
  task.make_predict_function(force=True)
  full = evaluation.held_out(task, [(x, batch['labels'], batch['weights'])],
                             len(batch['ids']))
  np.savez(request['trainer_outputs'], logits=logits, sequence=sequence,
           **head_weights)
  return dict(
      decayed=decayed,
      trainable=sorted(v.path for v in task.trainable_variables),
      pooler_moved=max(_max_diff(a, _np(b)) for a, b in
                       zip(pooler, backbone.pooled_dense.weights)),
      final=final, full=full)


def check_grid(request):
  """The rule's pieces on every case of the grid (tests/test_keras_hub.py
  writes the cases): scores from a table, the tie-break noise of the
  per-sequence seeds, the kept and dropped positions, and the table after
  one update."""
  from official_td.keras_hub import token_dropping  # pylint: disable=g-import-not-at-top
  grid = dict(np.load(request['grid']))
  out = {}
  for i in range(int(grid['cases'])):
    c = {k.split('/', 1)[1]: v for k, v in grid.items()
         if k.startswith(f'{i}/')}
    mode = str(c['mode'])
    importance = token_dropping.TokenImportance(len(c['table']), mode=mode)
    importance.table.assign(c['table'])
    scores = importance(c['ids'])
    temperature = float(c['temperature'])
    if temperature:
      scores = importance.log_weights(scores)
    noise = token_dropping.hash_uniform(c['seeds'], c['ids'].shape[1])
    kept, dropped = token_dropping.select(
        scores, c['mask'], int(c['keep_k']), noise, c['ids'],
        tuple(c['allow']), tuple(c['deny']), temperature)
    importance.update(c['labels'], c['losses'], c['weights'])
    out.update({f'{i}/kept': _np(kept), f'{i}/dropped': _np(dropped),
                f'{i}/noise': _np(noise), f'{i}/table': _np(importance.table)})
  np.savez(request['grid_outputs'], **out)
  return dict(cases=int(grid['cases']))


def _masked_lm_from(hf_dir, table):
  """The task on a Hugging Face directory with its MLM head: the backbone
  through KerasHub's converter, the head (which KerasHub's BERT converter
  does not read) from the file's `cls.predictions.*` tensors."""
  from safetensors import numpy as safetensors_numpy  # pylint: disable=g-import-not-at-top
  backbone = TokenDropBertBackbone.from_preset(
      hf_dir, keep_k=12, dropout=0.0, allow_ids=(1, 2, 3, 4), deny_ids=(0,))
  task = TokenDropBertMaskedLM(backbone, drop_seed_input=True)
  tensors = safetensors_numpy.load_file(os.path.join(hf_dir,
                                                     'model.safetensors'))
  head = task.masked_lm_head
  prefix = 'cls.predictions.'
  for weight, name in (
      (head._intermediate_dense.kernel, 'transform.dense.weight'),  # pylint: disable=protected-access
      (head._intermediate_dense.bias, 'transform.dense.bias'),  # pylint: disable=protected-access
      (head._intermediate_layer_norm.gamma, 'transform.LayerNorm.weight'),  # pylint: disable=protected-access
      (head._intermediate_layer_norm.beta, 'transform.LayerNorm.bias'),  # pylint: disable=protected-access
      (head._bias, 'bias')):  # pylint: disable=protected-access
    value = tensors[prefix + name]
    weight.assign(value.T if name.endswith('dense.weight') else value)
  backbone.importance.table.assign(table)
  return task


def check_one_step(request):
  """One `fit` step of the task with the KerasHub trainer's optimizer from
  the Model Garden step's starting weights, against the Model Garden's
  weights after its step (both loaded the same way)."""
  batch = dict(np.load(request['batch']))
  tables = dict(np.load(request['step']['tables']))
  settings = request['step_settings']
  task = _masked_lm_from(request['step']['hf_before'], tables['table_before'])
  before = [_np(w) for w in task.trainable_weights]
  backbone = task.backbone
  task.compile(optimizer=optimization.build_optimizer(
      task, settings['train_steps'],
      learning_rate=settings['learning_rate'],
      warmup_steps=settings['warmup_steps'],
      gradient_clip_norm=settings['gradient_clip_norm'],
      untrained=backbone.pooled_dense.weights))
  x = dict(_inputs(batch), mask_positions=batch['positions'],
           drop_seed=batch['seeds'])
  task.fit(x, batch['labels'], sample_weight=batch['weights'],
           batch_size=len(batch['ids']), epochs=1, verbose=0, shuffle=False,
           callbacks=[masked_lm.KeepSchedule(backbone, [(0, 12)],
                                             SMALL['max_sequence_length'])])
  expected = _masked_lm_from(request['step']['hf_after'],
                             tables['table_after'])
  diffs = [(_max_diff(a, b), a.path) for a, b in
           zip(task.trainable_weights, expected.trainable_weights)]
  np.save(os.path.join(request['root'], f'{keras.backend.backend()}_step.npy'),
          _np(backbone.importance.table))
  optimizer = task.optimizer
  moments = {}
  for slot, values in (('m', optimizer._momentums),  # pylint: disable=protected-access
                       ('v', optimizer._velocities)):  # pylint: disable=protected-access
    # The Model Garden's moments, loaded as weights are (`_masked_lm_from`).
    theirs = _masked_lm_from(request['step'][f'hf_{slot}'],
                             tables['table_after']).trainable_weights
    ours = [values[optimizer._get_variable_index(w)]  # pylint: disable=protected-access
            for w in task.trainable_weights]
    moments[f'max_{slot}_diff'] = max(_max_diff(a, b)
                                      for a, b in zip(ours, theirs))
    moments[f'max_{slot}'] = max(float(np.abs(_np(a)).max()) for a in ours)
  pooler = {id(w) for w in backbone.pooled_dense.weights}
  steps = [(_max_diff(a, b), id(b) in pooler)
           for a, b in zip(before, task.trainable_weights)]
  return dict(
      weights=len(task.trainable_weights),
      max_weight_diff=max(d for d, _ in diffs),
      worst=max(diffs)[1],
      max_weight_step=max(d for d, _ in steps),
      pooler_step=max(d for d, is_pooler in steps if is_pooler),
      **moments)


def check_devices(request):
  """`fit` on two devices: refused with the reason under TensorFlow."""
  del request
  devices = keras.distribution.list_devices()
  backbone = TokenDropBertBackbone(dropout=0.0, keep_k=12,
                                   allow_ids=(1, 2, 3, 4), deny_ids=(0,),
                                   **SMALL)
  task = TokenDropBertMaskedLM(backbone)
  task.compile(optimizer=keras.optimizers.SGD(0.1))
  keras.distribution.set_distribution(
      keras.distribution.DataParallel(devices=devices[:2]))
  try:
    try:
      task.fit(np.zeros((2, 1)), np.zeros((2, 1)), epochs=0, verbose=0)
      error = ''
    except ValueError as e:
      error = str(e)
  finally:
    keras.distribution.set_distribution(None)
  return dict(devices=len(devices), error=error)


def check_benchmark_imports(request):
  """The Keras 3 step benchmark imports with neither TensorFlow nor gin (a
  JAX accelerator image has neither): run before any check imports gin."""
  del request
  gin_loaded = 'gin' in sys.modules
  sys.modules.setdefault('gin', None)
  try:
    importlib.import_module('official_td.benchmarks.keras_step_time')
    error = ''
  except ImportError as e:
    error = repr(e)
  finally:
    if not gin_loaded:
      del sys.modules['gin']
  return dict(error=error, gin_loaded=gin_loaded)


def check_harness(request):
  """KerasHub's own test harness on the two classes
  (tests/keras_hub_harness.py; it needs TensorFlow)."""
  del request
  from tests import keras_hub_harness  # pylint: disable=g-import-not-at-top
  return keras_hub_harness.run_cases()


def main(argv):
  checks, request_path, result_path = argv[1:4]
  with open(request_path) as f:
    request = json.load(f)
  result = {}
  for check in checks.split(','):
    result[check] = globals()['check_' + check](request)
    result[check]['backend'] = keras.backend.backend()
    result[check]['tensorflow_loaded'] = sys.modules.get(
        'tensorflow') is not None
  partial = result_path + '.partial'
  with open(partial, 'w') as f:
    json.dump(result, f)
  os.replace(partial, result_path)


if __name__ == '__main__':
  main(sys.argv)
