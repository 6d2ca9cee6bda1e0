"""The pretraining input: records to per-replica batches of features.

Static (masked) records are read by tf-models-official's
`BertPretrainDataLoader`; unmasked records (dynamic masking) by
`official_td.input.dynamic_masking`, which draws the masks while reading.
Either way every input pipeline reads the same deterministic stream of global
batches and keeps its replicas' slices (`replica_slices`), so a step's
examples do not depend on how many replicas or workers share the batch.
"""

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from official.nlp.data import pretrain_dataloader
from official_td import rundir
from official_td.configs.pretraining import DataConfig
from official_td.input import dynamic_masking
from official_td.input import validate


def masking_config(data: DataConfig, vocab: List[str]
                   ) -> Optional[dynamic_masking.MaskingConfig]:
  """The dynamic masking of `data` (None for static, pre-masked records)."""
  if data.masking != 'dynamic':
    return None
  return dynamic_masking.MaskingConfig(
      seq_length=data.seq_length,
      max_predictions_per_seq=data.max_predictions_per_seq,
      vocab_size=len(vocab), mask_id=vocab.index('[MASK]'),
      masked_lm_prob=data.masked_lm_prob,
      whole_word_masking=data.whole_word_masking,
      use_next_sentence_label=data.use_next_sentence_label)


def load_dataset(pattern: str, data: DataConfig, batch_size: int,
                 is_training: bool, seed: int, input_context=None,
                 masking: Optional[dynamic_masking.MaskingConfig] = None,
                 epoch: int = 0):
  """Batches of pretraining features from the records of `pattern`.

  Static (masked) records: tf-models-official's BertPretrainDataLoader.
  Unmasked records (`masking` given): `dynamic_masking.load`, which draws the
  masks while reading. `batch_size` is the global batch: the loader divides
  it by the replicas of `input_context` itself (pass None to read global
  batches). A one-pass read (`is_training=False`) of unmasked records draws
  the masks of `epoch`.
  """
  if masking is not None:
    return dynamic_masking.load(pattern, masking, batch_size, is_training,
                                seed, data.shuffle_buffer_size, epoch)
  params = pretrain_dataloader.BertPretrainDataConfig(
      input_path=pattern,
      global_batch_size=batch_size,
      is_training=is_training,
      seq_length=data.seq_length,
      max_predictions_per_seq=data.max_predictions_per_seq,
      use_next_sentence_label=data.use_next_sentence_label,
      shuffle_buffer_size=data.shuffle_buffer_size,
      drop_remainder=is_training,
      seed=seed,
      deterministic=True,
      cycle_length=1 if not is_training else None)
  return pretrain_dataloader.BertPretrainDataLoader(params).load(input_context)


def training_dataset(data: DataConfig, global_batch_size: int, seed: int,
                     step: int, resume_data_position: bool = True,
                     masking: Optional[dynamic_masking.MaskingConfig] = None):
  """The global training batches of a run at `step` (both trainers').

  The pipeline is deterministic (seeded file order and shuffle), so a run
  resumed at `step` skips the batches consumed before it and then sees
  exactly the data an uninterrupted run would (each step consumed one global
  batch; a loss-scale-skipped step too). Skipping reads those records once;
  with `resume_data_position=False` a resumed run reads a fresh order seeded
  by `seed + step` instead.
  """
  skip = step if resume_data_position else 0
  dataset = load_dataset(data.train_data, data, global_batch_size, True,
                         seed if skip or not step else seed + step,
                         masking=masking)
  return dataset.skip(skip)


def resolve_data(data: DataConfig) -> Tuple[DataConfig, Dict]:
  """Checks the data directories' completion markers; reads the masking.

  Returns:
    `data` with `masking` (and for dynamic data the masking settings) from
    the data summary, and the train summary (empty without one).

  Raises:
    ValueError: if a directory has no summary (an interrupted creation), or
      the summary disagrees with the config.
  """
  if not data.require_summary:
    return data, {}
  summaries = {}
  for name in ('train_data', 'eval_data'):
    pattern = getattr(data, name)
    for part in filter(None, (p.strip() for p in pattern.split(','))):
      validate.match_files(part)  # a missing path is named before the summary.
      directory = os.path.dirname(part)
      summaries.setdefault(name, rundir.read_data_summary(directory))
  summary = summaries['train_data']
  for name, value in (('seq_length', data.seq_length),
                      ('max_predictions_per_seq',
                       data.max_predictions_per_seq)):
    if summary.get(name, value) != value:
      raise ValueError(
          f'The data was made with {name}={summary[name]} but the config has '
          f'data.{name}={value}; set data.{name} = {summary[name]} or '
          'recreate the data.')
  masking = summary.get('masking', 'static')
  if masking == 'dynamic':
    data = dataclasses.replace(
        data, masked_lm_prob=summary['masked_lm_prob'],
        whole_word_masking=summary['whole_word_masking'])
  return dataclasses.replace(
      data, masking=masking,
      lower_case=rundir.data_lower_case(summary, data.vocab_file),
      strip_accents=rundir.data_strip_accents(summary, data.vocab_file)
      ), summary


def dummy_inputs(data: DataConfig) -> Dict[str, tf.Tensor]:
  """A one-sequence batch of the model's inputs, to build its variables."""
  s, p = data.seq_length, data.max_predictions_per_seq
  return dict(input_word_ids=tf.zeros((1, s), tf.int32),
              input_mask=tf.ones((1, s), tf.int32),
              input_type_ids=tf.zeros((1, s), tf.int32),
              masked_lm_positions=tf.zeros((1, p), tf.int32))


def replica_slices(dataset, global_batch_size: int, input_context=None,
                   pad: bool = False):
  """Global batches -> the per-replica batches of one input pipeline.

  Every input pipeline reads the same deterministic stream of global batches
  and keeps the slices of the replicas it feeds, in replica order (which is
  how `distribute_datasets_from_function` hands consecutive elements to a
  pipeline's replicas). Replica `r` of `R` gets rows `[r*B/R, (r+1)*B/R)` of
  global batch `B`: the examples of a step, and thus the run's math, do not
  depend on how many replicas or workers the batch is split over. (Sharding
  files per worker would read less, but then the split changes what a step
  sees.)

  Args:
    dataset: a dataset of global batches (dicts of `[B, ...]` tensors).
    global_batch_size: `B`, divisible by the replicas in sync.
    input_context: a `tf.distribute.InputContext`, or None (one replica).
    pad: pad a short final batch to `B` rows with zeros (an evaluation set
      whose size is not a multiple of `B`; padded rows have prediction
      weight 0 and count nowhere).

  Returns:
    A dataset of `[B/R, ...]` batches.
  """
  def pad_rows(batch):
    def pad_one(v):
      missing = global_batch_size - tf.shape(v)[0]
      padding = [[0, missing]] + [[0, 0]] * (len(v.shape) - 1)
      return tf.pad(v, padding)
    return tf.nest.map_structure(pad_one, batch)

  if pad:
    dataset = dataset.map(pad_rows)
  replicas = input_context.num_replicas_in_sync if input_context else 1
  if replicas == 1:
    return dataset
  per_replica = global_batch_size // replicas
  per_pipeline = replicas // input_context.num_input_pipelines
  first = input_context.input_pipeline_id * per_pipeline

  def split(batch):
    def split_one(v):
      v = tf.reshape(v, [replicas, per_replica] + v.shape[1:].as_list())
      return v[first:first + per_pipeline]
    return tf.nest.map_structure(split_one, batch)

  return dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True).unbatch()

