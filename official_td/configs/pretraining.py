"""Data, optimizer and run configuration of pretraining, and their checks."""

import dataclasses
from typing import Optional, Tuple

from official_td import keep
from official_td.configs.encoders import activation_kwargs
from official_td.configs.encoders import EncoderConfig


@dataclasses.dataclass
class DataConfig:
  """Pretraining TFRecords (as written by create_pretraining_data)."""
  train_data: str = ''
  eval_data: str = ''
  vocab_file: str = ''
  seq_length: int = 512
  max_predictions_per_seq: int = 76
  use_next_sentence_label: bool = False
  shuffle_buffer_size: int = 10000
  # Read from the data's summary (`rundir`; a directory without it is
  # refused: incomplete); set these two only with require_summary = False.
  require_summary: bool = True
  masking: str = 'static'
  masked_lm_prob: float = 0.15  # dynamic masking only.
  whole_word_masking: bool = False  # dynamic masking only.
  lower_case: bool = True  # read from the data's summary (for exports).
  strip_accents: bool = True  # read from the data's summary (for exports).


OPTIMIZERS = ('adamw', 'lamb')


@dataclasses.dataclass
class OptimizerConfig:
  """AdamW or LAMB (weight decay 0.01, not on LayerNorm or biases), warmup,
  linear decay: the Model Garden's `official.nlp.optimization`.

  `type = 'lamb'` (You et al., 2019) is for large batches (4k-64k, TPU pod
  slices), where AdamW's per-parameter steps diverge at the learning rates
  such batches need; its trust ratio scales each layer's step by the layer's
  weight norm.
  """
  type: str = 'adamw'
  learning_rate: float = 1e-4
  warmup_steps: int = 10000
  end_learning_rate: float = 0.0
  gradient_clip_norm: float = 1.0  # of the all-reduced gradient; 0: off.


@dataclasses.dataclass
class RunConfig:
  """Steps, batch and bookkeeping of one run."""
  model_dir: str = ''
  # Start from these weights when model_dir holds no checkpoint: a Hugging
  # Face BERT directory, a Model Garden checkpoint, a google-research/bert
  # directory or a run of this project (official_td.interop.init_checkpoint).
  init_checkpoint: str = ''
  train_steps: int = 1000000
  global_batch_size: int = 512
  eval_batch_size: int = 64
  eval_steps: int = -1  # -1: the whole eval set.
  eval_interval: int = 10000
  steps_per_loop: int = 1000
  checkpoint_interval: int = 10000
  max_checkpoints: int = 5
  summary_interval: int = 1000
  # The kept ratio over training, piecewise constant: ((from_fraction, ratio),
  # ...) — from this fraction of the steps on, keep this fraction of the
  # tokens in the drop window; ratio 1.0 is full sequences. Each distinct k is
  # one compiled train step. None: the encoder's keep_k / keep_ratio, then the
  # last `full_sequence_fraction` of the steps on full sequences.
  keep_schedule: Optional[Tuple[Tuple[float, float], ...]] = None
  full_sequence_fraction: float = 0.0
  eval_with_dropping: bool = True
  resume_data_position: bool = True
  mixed_precision: str = 'float32'
  # mixed_float16 only: the dynamic loss scale's start (tf_keras's default;
  # it halves on every overflowing step, which is skipped, and doubles after
  # 2000 good steps).
  initial_loss_scale: float = 2.0**15
  jit_compile: bool = False
  seed: int = 42
  # ScTD-style consistency (Zhong et al., 2023), off at weight 0: every
  # `consistency_every`-th token-drop step also runs the full sequence
  # through the encoder (inference mode, no gradient) and adds
  # `consistency_weight` x KL(full || dropped) of the [CLS] token's softmax
  # over its hidden units, averaged over the last `consistency_layers` layers
  # (0: the layers after the drop window).
  consistency_weight: float = 0.0
  consistency_every: int = 10
  consistency_layers: int = 0


def check_configs(encoder: EncoderConfig, data: DataConfig, run: RunConfig,
                  optimizer: Optional[OptimizerConfig] = None):
  """Fails fast, before any work, on settings that cannot work together."""
  if not run.model_dir:
    raise ValueError('Set a model directory: --model_dir=DIR.')
  if optimizer is not None:
    check_optimizer(optimizer)
  activation_kwargs(encoder.inner_activation)
  if encoder.token_drop and encoder.importance_sampling_temperature:
    if encoder.drop_mode == 'random_ltd':
      raise ValueError(keep.SAMPLING_RANDOM_LTD_ERROR)
    keep.check_sampling_temperature(encoder.importance_sampling_temperature,
                                    encoder.importance_mode)
  if not data.train_data:
    raise ValueError('Set the training data: data.train_data = "DIR/train-*"'
                     ' (gin) — create it with create_pretraining_data.')
  if data.seq_length > encoder.max_sequence_length:
    raise ValueError(
        f'data.seq_length={data.seq_length} exceeds the encoder\'s '
        f'max_sequence_length={encoder.max_sequence_length} (its position '
        'embeddings); lower seq_length or raise max_sequence_length.')
  if not 0.0 <= run.full_sequence_fraction <= 1.0:
    raise ValueError('run.full_sequence_fraction must be in [0, 1], got '
                     f'{run.full_sequence_fraction}.')
  if run.keep_schedule is not None:
    keep.check_keep_schedule(run, data.seq_length)
  if run.train_steps <= 0 or run.global_batch_size <= 0:
    raise ValueError('train_steps and global_batch_size must be positive.')
  check_consistency(encoder, run)


def check_optimizer(config: OptimizerConfig):
  """Raises ValueError unless `optimizer.type` names an optimizer."""
  if config.type not in OPTIMIZERS:
    raise ValueError(f'optimizer.type={config.type!r}: use one of '
                     f'{list(OPTIMIZERS)}.')


def build_optimizer(config: OptimizerConfig, train_steps: int):
  """The Model Garden's AdamW or LAMB with BERT's schedule: linear warmup to
  `learning_rate`, then linear decay to `end_learning_rate` at
  `train_steps`; the same weight-decay exclusions for both."""
  from official.nlp import optimization  # pylint: disable=g-import-not-at-top
  check_optimizer(config)
  return optimization.create_optimizer(
      config.learning_rate, train_steps, config.warmup_steps,
      config.end_learning_rate, optimizer_type=config.type)


def check_consistency(encoder: EncoderConfig, run: RunConfig):
  """The consistency loss's settings (see RunConfig)."""
  if run.consistency_weight < 0:
    raise ValueError('run.consistency_weight must be >= 0 (0 turns the '
                     f'consistency loss off), got {run.consistency_weight}.')
  if not run.consistency_weight:
    return
  if not encoder.token_drop:
    raise ValueError(
        f'run.consistency_weight={run.consistency_weight} needs a token-drop '
        'encoder (it compares the dropped pass with the full one); set '
        'encoder.token_drop = True or run.consistency_weight = 0.')
  if run.consistency_every < 1:
    raise ValueError('run.consistency_every must be >= 1 (every that many '
                     f'token-drop steps), got {run.consistency_every}.')
  if not 0 <= run.consistency_layers <= encoder.num_layers:
    raise ValueError(
        f'run.consistency_layers={run.consistency_layers} must be between 0 '
        f'(the layers after the drop window) and the encoder\'s '
        f'{encoder.num_layers} layers.')

