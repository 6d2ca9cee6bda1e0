"""The preset checks of tests/test_keras_hub.py's Keras 3 worker
(`tests.keras_hub_worker`, which sets the backend up and imports these):
presets in and out of the backbone and the task, and continued pretraining
(`official_td.keras_hub.continued`) from other projects' files. Each check
writes the numbers the test asserts on; none asserts itself.
"""

import json
import os
import shutil

import keras
import keras_hub
import numpy as np

from official_td.keras_hub import backbone as backbone_lib
from official_td.keras_hub import TokenDropBertBackbone
from official_td.keras_hub import TokenDropBertMaskedLM

SMALL = dict(vocabulary_size=60, num_layers=4, num_heads=2, hidden_dim=16,
             intermediate_dim=32, max_sequence_length=32)


def _np(x):
  return keras.ops.convert_to_numpy(x)


def _max_diff(a, b):
  return float(np.max(np.abs(np.asarray(a, np.float64) -
                             np.asarray(b, np.float64))))


def _inputs(batch):
  return dict(token_ids=batch['ids'], segment_ids=batch['segments'],
              padding_mask=batch['mask'])


def check_presets(request):
  """A random BertBackbone's preset in and out of TokenDropBertBackbone."""
  root = request['root']
  batch = dict(np.load(request['batch']))
  keras.utils.set_random_seed(1)
  plain = keras_hub.models.BertBackbone(**SMALL)
  plain_dir = os.path.join(root, f'plain_{keras.backend.backend()}')
  plain.save_to_preset(plain_dir)
  ours = TokenDropBertBackbone.from_preset(plain_dir, keep_k=12,
                                           allow_ids=(1, 2, 3, 4),
                                           deny_ids=(0,))
  theirs = plain(_inputs(batch))['sequence_output']
  mine = ours(_inputs(batch))['sequence_output']
  # The transition helper with every token as query: the block's own call.
  layer = ours.transformer_layers[1]
  hidden = ours.token_embedding(batch['ids'])
  mask = keras.ops.cast(batch['mask'], 'bool')
  square = keras.ops.broadcast_to(mask[:, None, :],
                                  (mask.shape[0],) + (mask.shape[1],) * 2)
  # A table to carry through the preset.
  table = np.random.default_rng(2).normal(size=SMALL['vocabulary_size'])
  ours.importance.table.assign(table.astype('float32'))
  out_dir = os.path.join(root, f'out_{keras.backend.backend()}')
  ours.save_to_preset(out_dir)
  # A plain BertBackbone loads the preset's weights file (the table is an
  # entry it does not read).
  back = keras_hub.models.BertBackbone(**SMALL)
  back.load_weights(os.path.join(out_dir, 'model.weights.h5'))
  again = TokenDropBertBackbone.from_preset(out_dir)
  # A preset of an earlier release: BertBackbone's, the table and the
  # settings in files beside it (read, never written now).
  legacy_dir = os.path.join(root, f'legacy_{keras.backend.backend()}')
  shutil.copytree(plain_dir, legacy_dir)
  np.save(os.path.join(legacy_dir, 'token_importance.npy'),
          table.astype('float32'))
  with open(os.path.join(legacy_dir, 'token_drop_config.json'), 'w') as f:
    json.dump(dict(keep_k=7, allow_ids=[1, 2], deny_ids=[0]), f)
  legacy = TokenDropBertBackbone.from_preset(legacy_dir)
  try:  # A preset without a vocabulary and no ids given: refused.
    TokenDropBertBackbone.from_preset(plain_dir)
    no_vocab_error = ''
  except ValueError as e:
    no_vocab_error = str(e)
  with open(os.path.join(out_dir, 'config.json')) as f:
    saved_class = json.load(f)['class_name']
  # A load-time override replaces the saved setting (saved: keep_k).
  by_ratio = TokenDropBertBackbone.from_preset(out_dir, keep_ratio=0.5)
  # KerasHub's own argument passes through (a task's save passes it).
  ours.save_to_preset(os.path.join(root, f'sharded_{keras.backend.backend()}'),
                      max_shard_size=1)
  remote_table_diff = None
  if keras.backend.backend() == 'tensorflow':
    # A preset on an object store (`ram://` standing in for `gs://`), read
    # through KerasHub's own preset files.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top,redefined-outer-name
    remote = 'ram://presets/out'
    tf.io.gfile.makedirs(remote)
    for name in tf.io.gfile.listdir(out_dir):  # (the files: no assets)
      tf.io.gfile.copy(os.path.join(out_dir, name),
                       os.path.join(remote, name), overwrite=True)
    from_remote = TokenDropBertBackbone.from_preset(remote)
    remote_table_diff = _max_diff(_np(from_remote.importance.table), table)
  # A `.keras` file of the backbone and of the task, and the task's preset
  # (its head's output bias set apart from the initial zeros): every weight,
  # the table, the task's settings.
  task = TokenDropBertMaskedLM(ours, drop_seed_input=True)
  task.masked_lm_head._bias.assign(  # pylint: disable=protected-access
      np.random.default_rng(3).normal(size=SMALL['vocabulary_size'])
      .astype('float32'))
  task_dir = os.path.join(root, f'task_{keras.backend.backend()}')
  task.save_to_preset(task_dir)
  loaded = {'task_preset': TokenDropBertMaskedLM.from_preset(task_dir),
            # KerasHub's own loaders find the registered classes.
            'task_keras_hub_preset':
                keras_hub.models.MaskedLM.from_preset(task_dir),
            'backbone_keras_hub_preset':
                keras_hub.models.Backbone.from_preset(out_dir)}
  for name, model in (('backbone', ours), ('task', task)):
    path = os.path.join(root, f'{name}_{keras.backend.backend()}.keras')
    model.save(path)
    loaded[f'{name}_keras'] = keras.models.load_model(path)
  round_trips = {}
  for name, model in loaded.items():
    source = task if name.startswith('task') else ours
    backbone = getattr(model, 'backbone', model)
    round_trips[name] = dict(
        cls=type(model).__name__, weights=len(model.weights),
        equal=sum(np.array_equal(_np(a), _np(b))
                  for a, b in zip(model.weights, source.weights)),
        table_diff=_max_diff(_np(backbone.importance.table), table),
        keep_k=backbone.keep_k,
        drop_seed_input=getattr(model, 'drop_seed_input', None))
  round_trips['task_preset_keep_ratio'] = TokenDropBertMaskedLM.from_preset(
      task_dir, keep_ratio=0.5).backbone.keep_ratio
  return dict(
      round_trips=round_trips,
      weights=len(plain.weights),
      weights_in=len(ours.weights),
      weights_in_equal=sum(np.array_equal(_np(a), _np(b))
                           for a, b in zip(plain.weights, ours.weights)),
      weights_out=len(back.weights),
      weights_out_equal=sum(np.array_equal(_np(a), _np(b))
                            for a, b in zip(plain.weights, back.weights)),
      plain_output_diff=_max_diff(mine, theirs),
      attend_diff=_max_diff(
          backbone_lib.attend(layer, hidden, hidden, square),
          layer(hidden, padding_mask=batch['mask'])),
      saved_class=saved_class,
      table_diff=_max_diff(_np(again.importance.table), table),
      legacy=[_max_diff(_np(legacy.importance.table), table), legacy.keep_k,
              list(legacy.allow_ids)],
      keep_k_again=again.keep_k,
      allow_ids_again=list(again.allow_ids),
      keep_ratio_override=[by_ratio.keep_k, by_ratio.keep_ratio],
      remote_table_diff=remote_table_diff,
      no_vocab_error=no_vocab_error)


def _weights_diff(sources, targets):
  """(count, max |difference|) over two lists of weights in order."""
  assert len(sources) == len(targets), (len(sources), len(targets))
  return len(sources), max((_max_diff(_np(a), _np(b))
                            for a, b in zip(sources, targets)), default=0.0)


def check_continued(request):
  """`continued.initialize` (run.init_checkpoint of the KerasHub trainer)
  from: a Hugging Face BERT in bert-base-uncased's published layout (the
  backbone against KerasHub's own converter, the MLM head against the
  file's tensors read here); a BertMaskedLM preset of KerasHub's own saver
  (backbone and head against the saved model's); and, a round trip of the
  trainer's own preset, the files `official_td.keras_hub.train` writes
  (with the table). Needs TensorFlow (the files are read through
  tf.io.gfile)."""
  from safetensors import numpy as safetensors_numpy  # pylint: disable=g-import-not-at-top
  from official_td import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  from official_td.interop import init_checkpoint  # pylint: disable=g-import-not-at-top
  from official_td.keras_hub import checkpoints  # pylint: disable=g-import-not-at-top
  from official_td.keras_hub import continued  # pylint: disable=g-import-not-at-top
  root, hf_dir = request['root'], request['published_hf']
  vocab = vocab_lib.load_vocab(os.path.join(hf_dir, 'vocab.txt'))
  special = TokenDropBertBackbone.special_ids(vocab)
  shape = dict(SMALL, vocabulary_size=len(vocab))

  def fresh_task(seed):
    keras.utils.set_random_seed(seed)
    return TokenDropBertMaskedLM(TokenDropBertBackbone(
        keep_k=12, **shape, **special))

  out = {}
  # 1. Hugging Face, as published.
  task = fresh_task(3)
  source = init_checkpoint.inspect(hf_dir, keras_hub=True)
  out['hf_loaded'] = continued.initialize(task, source, vocab)
  out['hf_activation'] = source.inner_activation
  reference = keras_hub.models.BertBackbone.from_preset(hf_dir)
  out['hf_backbone'] = _weights_diff(reference.weights, task.backbone.weights)
  tensors = safetensors_numpy.load_file(os.path.join(hf_dir,
                                                     'model.safetensors'))
  head = task.masked_lm_head
  prefix = 'cls.predictions.'
  pairs = [(tensors[prefix + 'transform.dense.weight'].T,
            head._intermediate_dense.kernel),  # pylint: disable=protected-access
           (tensors[prefix + 'transform.dense.bias'],
            head._intermediate_dense.bias),  # pylint: disable=protected-access
           (tensors[prefix + 'transform.LayerNorm.gamma'],
            head._intermediate_layer_norm.gamma),  # pylint: disable=protected-access
           (tensors[prefix + 'transform.LayerNorm.beta'],
            head._intermediate_layer_norm.beta),  # pylint: disable=protected-access
           (tensors[prefix + 'bias'], head._bias)]  # pylint: disable=protected-access
  out['hf_head'] = [len(pairs), max(_max_diff(a, _np(b)) for a, b in pairs)]
  out['hf_head_moved'] = _max_diff(_np(head._bias),  # pylint: disable=protected-access
                                   _np(fresh_task(3).masked_lm_head._bias))  # pylint: disable=protected-access

  # 2. KerasHub's own BertMaskedLM preset (task weights: its MLM head).
  keras.utils.set_random_seed(4)
  theirs = keras_hub.models.BertMaskedLM(
      keras_hub.models.BertBackbone(**shape),
      keras_hub.models.BertMaskedLMPreprocessor(
          keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True),
          sequence_length=SMALL['max_sequence_length']))
  keras_hub_dir = os.path.join(root, 'keras_hub_mlm')
  theirs.save_to_preset(keras_hub_dir)

  def load(name, path, saved, seed):
    """Initializes a fresh task from `path`; its weights against `saved`'s."""
    task = fresh_task(seed)
    source = init_checkpoint.inspect(path, keras_hub=True)
    out[f'{name}_loaded'] = continued.initialize(task, source, vocab)
    out[f'{name}_backbone'] = _weights_diff(saved.backbone.weights,
                                            task.backbone.weights)
    out[f'{name}_head'] = _weights_diff(saved.masked_lm_head.weights,
                                        task.masked_lm_head.weights)
    return task

  load('keras_hub', keras_hub_dir, theirs, 5)

  # 3. Round trip of the trainer's own preset: backbone, table, head.
  ours = fresh_task(6)
  table = np.random.default_rng(7).normal(size=len(vocab)).astype('float32')
  ours.backbone.importance.table.assign(table)
  run_dir = os.path.join(root, 'trainer_preset')
  ours.backbone.save_to_preset(run_dir)
  checkpoints.save_task_weights(ours, run_dir)
  task = load('run', run_dir, ours, 8)
  out['run_table_diff'] = _max_diff(_np(task.backbone.importance.table),
                                    table)
  return out
