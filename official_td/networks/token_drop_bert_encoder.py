"""TokenDropBertEncoder: a BertEncoderV2 whose middle layers see kept tokens."""

import contextlib
from typing import Optional, Sequence

import tensorflow as tf
import tf_keras

from official.nlp.modeling import networks
from official_td import keep
from official_td import vocab as vocab_lib
from official_td.layers.token_drop import TokenDrop
from official_td.layers.token_importance import TokenImportance
from official_td.layers.token_restore import TokenRestore
from official_td.networks import random_ltd

# How tokens are dropped: the paper's window, or random-LTD's every layer.
DROP_MODES = ('window', 'random_ltd')


class _Untracked:
  """Holds an object without making it a checkpoint dependency.

  The importance table is training state, not model weights: keeping it out of
  the encoder's object graph makes the encoder's checkpoint identical to a
  plain `BertEncoderV2`'s. The training task checkpoints the table itself.
  """

  def __init__(self, value):
    self.value = value


@tf_keras.utils.register_keras_serializable(package='OfficialTD')
class TokenDropBertEncoder(networks.BertEncoderV2):
  """BertEncoderV2, except the middle layers see only the kept tokens.

  With `L` layers and the window `[s, e)` (default `[L/2-1, L-1)`), a training
  forward pass runs:
    * layers `0 .. s-1` on all `S` tokens;
    * layer `s`, the transition: the `k` kept tokens attend to all `S`;
    * layers `s+1 .. e-1` on the `k` kept tokens only;
    * the dropped tokens' states (as they entered layer `s`) are restored to
      their positions, and layers `e .. L-1` run on all `S` tokens.
  The kept tokens are the `k` with the highest `TokenImportance` score (see
  `TokenDrop` for the special-token and padding rules).

  Without `training=True` (and `drop_at_eval=False`) this is exactly
  `BertEncoderV2.call`. All weights are BertEncoderV2's, created in the same
  order, so checkpoints move between the two in both directions. The
  importance table is deliberately not part of the encoder's checkpoint: save
  `encoder.importance` next to it (the training task does).

  Args:
    vocab_size: vocabulary size (as BertEncoderV2).
    keep_k: number of tokens kept in the window; exclusive with `keep_ratio`.
    keep_ratio: fraction of the sequence kept, `keep_k = round(ratio * S)`;
      the paper's 0.5 when neither is given (so that `BertEncoderV2`'s own
      arguments alone build this encoder).
    drop_start_layer: first layer of the window (the transition layer).
    drop_end_layer: first full layer after the window; at most `L - 1`.
    importance_mode: `mlm_loss`, `frequency` or `random` (`TokenImportance`).
    importance_beta: moving-average decay of `mlm_loss` mode.
    importance_sampling_temperature: 0 keeps the `keep_k` most important
      tokens; τ > 0 samples them without replacement in proportion to
      `importance^(1/τ)` (`TokenDrop`; tiers first, as ever).
    importance_initial_value: initial score of every id.
    vocab_file: WordPiece vocab to resolve the special tokens from; its size
      must equal `vocab_size`.
    allow_ids: ids always kept, if `vocab_file` is not given.
    deny_ids: ids never kept ahead of real tokens, if `vocab_file` is not
      given.
    drop_at_eval: also drop tokens when `training` is not True.
    output_drop_indices: add `kept_indices` / `dropped_indices` `[batch, k]`
      and `[batch, S - k]` to the outputs when tokens are dropped.
    importance: an existing `TokenImportance` to use (e.g. restored).
    drop_mode: `window` (token dropping, above) or `random_ltd` (DeepSpeed's
      random-LTD, layer-wise: every layer but the first and the last runs on
      its own uniformly random `k` positions of the sequence, and the other
      positions pass that layer unchanged; no importance table, no special
      token or padding rule, no window settings).
    **kwargs: BertEncoderV2 arguments (`hidden_size`, `num_layers`, ...).

  Inputs: BertEncoderV2's dict (`input_word_ids`, `input_mask`,
    `input_type_ids`, or `input_word_embeddings` instead of the ids, or
    `dense_inputs` beside them), plus optional `drop_seed` int `[batch]`, one
    seed per sequence for a reproducible tie-breaking permutation (see
    `TokenDrop`). Dropping ranks tokens by their ids: a dropping call without
    `input_word_ids`, or with `dense_inputs`, is refused with a ValueError
    (the plain path takes both, as `BertEncoderV2`).

  Outputs: BertEncoderV2's dict (`sequence_output`, `pooled_output`,
    `encoder_outputs`, and with their options `attention_scores` and
    `word_embeddings`); inside the window, `encoder_outputs` hold the kept
    tokens' new states and the dropped tokens' unchanged ones, and
    `attention_scores` are `[batch, heads, S, S]` like a plain layer's, with
    the kept tokens' scores at their positions and zeros in the rows and
    columns of dropped tokens (they neither attend nor are attended to; at
    the transition layer kept queries attend to every token, so only the
    dropped rows are zero).
  """

  def __init__(self,
               vocab_size: int,
               keep_k: Optional[int] = None,
               keep_ratio: Optional[float] = None,
               drop_start_layer: Optional[int] = None,
               drop_end_layer: Optional[int] = None,
               importance_mode: str = 'mlm_loss',
               importance_beta: float = 0.995,
               importance_initial_value: float = 10.0,
               vocab_file: Optional[str] = None,
               allow_ids: Sequence[int] = (),
               deny_ids: Sequence[int] = (),
               drop_at_eval: bool = False,
               output_drop_indices: bool = False,
               importance: Optional[TokenImportance] = None,
               drop_mode: str = 'window',
               importance_sampling_temperature: float = 0.0,
               **kwargs):
    num_layers = kwargs.get('num_layers', 12)
    max_sequence_length = kwargs.get('max_sequence_length', 512)
    if drop_mode not in DROP_MODES:
      raise ValueError(f'drop_mode={drop_mode!r}: use one of {DROP_MODES}.')
    if drop_mode == 'random_ltd':
      if drop_start_layer is not None or drop_end_layer is not None:
        raise ValueError(
            "drop_mode='random_ltd' drops tokens in every layer but the first "
            'and the last: leave drop_start_layer and drop_end_layer unset.')
      if num_layers < 3:
        raise ValueError("drop_mode='random_ltd' needs at least 3 layers "
                         f'(a first, a middle and a last); got {num_layers}.')
      start, end = 1, num_layers - 1
    else:
      start, end = keep.check_drop_window(num_layers, drop_start_layer,
                                          drop_end_layer)
    if keep_k is None and keep_ratio is None:
      keep_ratio = keep.DEFAULT_KEEP_RATIO
    keep_k, keep_ratio = keep.check_keep_setting(keep_k, keep_ratio,
                                                 max_sequence_length)
    if vocab_file is not None:
      ids = vocab_lib.resolve_special_token_ids(vocab_file)
      if ids.vocab_size != vocab_size:
        raise ValueError(
            f'Vocab file {vocab_file!r} has {ids.vocab_size} entries but the '
            f'encoder has vocab_size={vocab_size}; set vocab_size to '
            f'{ids.vocab_size} or use the vocab the model was built with.')
      allow_ids, deny_ids = ids.allow_ids, ids.deny_ids
    # BertEncoderV2 creates every weight, in its own order.
    super().__init__(vocab_size=vocab_size, **kwargs)

    self._drop_start_layer = start
    self._drop_end_layer = end
    self._keep_k = keep_k
    self._keep_ratio = keep_ratio
    self._drop_at_eval = drop_at_eval
    self._forced_dropping = None
    self._forced_keep_k = None
    self._output_drop_indices = output_drop_indices
    self._drop_mode = drop_mode
    if drop_mode == 'random_ltd':
      importance = None  # random-LTD ranks nothing: no table to train.
    elif importance is None:
      importance = TokenImportance(
          vocab_size,
          mode=importance_mode,
          beta=importance_beta,
          initial_value=importance_initial_value,
          name='token_importance')
    if importance is not None and not importance.built:
      importance.build(None)
    self._importance = _Untracked(importance)
    if importance is None and importance_sampling_temperature:
      raise ValueError(keep.SAMPLING_RANDOM_LTD_ERROR)
    if importance is not None:
      keep.check_sampling_temperature(importance_sampling_temperature,
                                      importance.mode)
    # Weightless helpers; with keep_ratio, keep_k is resolved per call.
    self._token_drop = TokenDrop(
        keep_k or 1, allow_ids=allow_ids, deny_ids=deny_ids,
        sampling_temperature=importance_sampling_temperature,
        name='token_drop')
    self._token_restore = TokenRestore(name='token_restore')
    # random-LTD's uniform choice: one rank for every position.
    self._random_drop = TokenDrop(keep_k or 1, name='random_drop')
    self._config.update({
        'keep_k': keep_k,
        'keep_ratio': keep_ratio,
        'drop_start_layer': start,
        'drop_end_layer': end,
        'importance_mode': importance_mode if importance is None else
                           importance.mode,
        'importance_beta': importance_beta if importance is None else
                           importance.beta,
        'importance_initial_value': (importance_initial_value
                                     if importance is None else
                                     importance.initial_value),
        'vocab_file': vocab_file,
        'allow_ids': list(self._token_drop.allow_ids),
        'deny_ids': list(self._token_drop.deny_ids),
        'drop_at_eval': drop_at_eval,
        'output_drop_indices': output_drop_indices,
        'drop_mode': drop_mode,
        'importance_sampling_temperature':
            self._token_drop.sampling_temperature,
    })

  @property
  def importance(self) -> Optional[TokenImportance]:
    """The `TokenImportance` table (not part of the encoder's checkpoint;
    None with `drop_mode='random_ltd'`)."""
    return self._importance.value

  @property
  def drop_window(self):
    return self._drop_start_layer, self._drop_end_layer

  @contextlib.contextmanager
  def force_dropping(self, enabled: Optional[bool],
                     keep_k: Optional[int] = None):
    """Within the block, calls drop tokens iff `enabled` (None: default).

    A Python-level switch, read when a call is traced: e.g. a training step
    traced under `force_dropping(False)` runs full sequences (with dropout),
    and an eval step traced under `force_dropping(True)` measures the model
    as it was trained. `keep_k`, if given, replaces the configured number of
    kept tokens for these calls (one traced step per k: a keep schedule).
    """
    saved = self._forced_dropping, self._forced_keep_k
    self._forced_dropping, self._forced_keep_k = enabled, keep_k
    try:
      yield self
    finally:
      self._forced_dropping, self._forced_keep_k = saved

  def keep_k_for(self, seq_length: int) -> int:
    """The number of kept tokens for a sequence of `seq_length`."""
    if self._forced_keep_k is not None:
      keep_k = self._forced_keep_k
    elif self._keep_k is not None:
      keep_k = self._keep_k
    else:
      keep_k = keep.keep_k_from_ratio(self._keep_ratio, seq_length)
    keep.check_keep_k(keep_k, seq_length, 'Token dropping',
                      'lower keep_k (or keep_ratio), or disable dropping for '
                      'this sequence length')
    return keep_k

  # Plain Python control flow on Python values only: AutoGraph has nothing to
  # convert here, and converting this call (and, within it, every Model Garden
  # layer's) costs seconds of each model build and trace.
  @tf.autograph.experimental.do_not_convert
  def call(self, inputs, training=None):
    if not isinstance(inputs, dict):
      raise ValueError(f'{type(self).__name__} expects a dict of inputs.')
    drop = bool(training) or self._drop_at_eval
    if self._forced_dropping is not None:
      drop = self._forced_dropping
    word_ids = inputs.get('input_word_ids')
    if drop and (word_ids is None or inputs.get('dense_inputs') is not None):
      raise ValueError(
          f'{type(self).__name__} drops tokens by the importance of their '
          'ids, so a dropping call needs `input_word_ids` and no '
          '`dense_inputs` (got '
          f'{sorted(k for k, v in inputs.items() if v is not None)}). Pass '
          'the ids, or call without dropping (training=False, '
          'drop_at_eval=False), which takes every input BertEncoderV2 takes.')
    if not drop or word_ids.shape[1] is None:
      # The plain BertEncoderV2 forward pass (eval, export, symbolic build).
      return super().call(inputs)
    keep_k = self.keep_k_for(word_ids.shape[1])
    if self._drop_mode == 'random_ltd':
      return random_ltd.call(self, inputs, keep_k)
    return self._call_with_drop(inputs, keep_k)

  def select(self, word_ids, input_mask, seed=None, keep_k=None):
    """`TokenDrop`'s selection for a dropping call (the table's scores,
    log-weights when sampling): `kept_indices`, `dropped_indices`,
    `scorable`, `scored_slots`."""
    scores = self.importance(word_ids)
    drop = self._token_drop
    if drop.sampling_temperature:
      scores = self.importance.log_weights(scores)
    return drop(scores, input_mask, word_ids, seed=seed,
                keep_k=keep_k or self.keep_k_for(word_ids.shape[1]))

  def _embeddings(self, inputs):
    """BertEncoderV2's embeddings (and their attention mask)."""
    word_ids = inputs['input_word_ids']
    word_embeddings = inputs.get('input_word_embeddings')
    if word_embeddings is None:
      word_embeddings = self._embedding_layer(word_ids)
    x = self._get_embeddings(word_ids, inputs['input_type_ids'],
                             word_embeddings, None, None)
    x = self._embedding_dropout(self._embedding_norm_layer(x))
    if self._embedding_projection is not None:
      x = self._embedding_projection(x)
    return x, self._attention_mask_layer(x, inputs['input_mask'])

  def _outputs(self, encoder_outputs, embeddings, scores, kept_idx,
               dropped_idx):
    """BertEncoderV2's output dict (plus the drop decision if asked)."""
    sequence_output = encoder_outputs[-1]
    outputs = dict(
        sequence_output=sequence_output,
        pooled_output=self._pooler_layer(sequence_output[:, 0, :]),
        encoder_outputs=encoder_outputs)
    if self._config['return_attention_scores']:
      outputs['attention_scores'] = scores
    if self._config['return_word_embeddings']:
      outputs['word_embeddings'] = embeddings
    if self._output_drop_indices:
      outputs['kept_indices'] = kept_idx
      outputs['dropped_indices'] = dropped_idx
    return outputs

  def _scores_at_positions(self, attention, kept_idx, dropped_idx,
                           keys_kept: bool = True):
    """Kept queries' attention `[batch, heads, k, k]` (or `[.., k, S]` when
    the keys were every token) as `[batch, heads, S, S]`, zeros elsewhere."""
    restore = self._token_restore
    if keys_kept:
      attention = restore.zero_fill(attention, kept_idx, dropped_idx, 3)
    return restore.zero_fill(attention, kept_idx, dropped_idx, 2)

  def _layer(self, layer, inputs, attention_scores, output_range=None):
    """Runs one block; collects its attention scores when asked for."""
    out = layer(inputs, output_range=output_range)
    if self._config['return_attention_scores']:
      out, scores = out
      attention_scores.append(scores)
    return out

  def _call_with_drop(self, inputs, keep_k):
    word_ids = inputs['input_word_ids']
    mask = inputs['input_mask']
    start, end = self._drop_start_layer, self._drop_end_layer
    layers = self._transformer_layers
    scores_out = []

    # 1. Embeddings, exactly as BertEncoderV2.
    x, full_mask = self._embeddings(inputs)
    embeddings = x

    # 2. Full layers before the window.
    encoder_outputs = []
    for layer in layers[:start]:
      x = self._layer(layer, [x, full_mask], scores_out)
      encoder_outputs.append(x)

    # 3. Pick the kept positions by importance.
    drop = self._token_drop
    selection = self.select(word_ids, mask, inputs.get('drop_seed'), keep_k)
    kept_idx = selection['kept_indices']
    dropped_idx = selection['dropped_indices']
    dropped = drop.gather(x, dropped_idx)
    restore = self._token_restore

    # 4. Transition layer: kept queries attend to every token.
    kept = drop.gather(x, kept_idx)
    window_scores = []
    kept = self._layer(layers[start],
                       [kept, x, self._attention_mask_layer(kept, mask)],
                       window_scores)

    def restored(states):
      return restore(states, dropped, kept_idx, dropped_idx)

    encoder_outputs.append(restored(kept))

    # 5. Layers on the kept tokens only.
    kept_mask = drop.gather(mask, kept_idx)
    kept_attention = self._attention_mask_layer(kept, kept_mask)
    for layer in layers[start + 1:end]:
      kept = self._layer(layer, [kept, kept_attention], window_scores)
      encoder_outputs.append(restored(kept))
    # The transition layer's keys were every token; the others' the kept.
    scores_out += [self._scores_at_positions(a, kept_idx, dropped_idx,
                                             keys_kept=i > 0)
                   for i, a in enumerate(window_scores)]

    # 6. Dropped tokens rejoin; the last layers run on the full sequence.
    x = encoder_outputs[-1]
    for i in range(end, self._num_layers):
      output_range = self._output_range if i == self._num_layers - 1 else None
      x = self._layer(layers[i], [x, full_mask], scores_out, output_range)
      encoder_outputs.append(x)

    return self._outputs(encoder_outputs, embeddings, scores_out, kept_idx,
                         dropped_idx)
