"""TokenDropBertBackbone: KerasHub's BERT whose middle layers see kept tokens."""

import contextlib
from typing import Optional, Sequence

import keras
from keras import ops
import keras_hub
from keras_hub.src.utils import preset_utils  # pylint: disable=g-direct-tensorflow-import

from official_td import keep
from official_td import vocab as vocab_lib
from official_td.keras_hub import preset_files
from official_td.keras_hub import token_dropping

# The arguments this backbone adds to `BertBackbone`'s.
DROP_ARGS = ('keep_k', 'keep_ratio', 'drop_start_layer', 'drop_end_layer',
             'importance_mode', 'importance_beta', 'importance_initial_value',
             'allow_ids', 'deny_ids', 'drop_at_eval',
             'importance_sampling_temperature')
BERT_INPUTS = ('token_ids', 'segment_ids', 'padding_mask')


class _Untracked:
  """Holds the importance layer outside the backbone's weights, so that the
  backbone's weights are exactly `BertBackbone`'s (the task tracks it)."""

  def __init__(self, value):
    self.value = value


@keras.saving.register_keras_serializable(package='OfficialTD')
class TokenDropBertBackbone(keras_hub.models.BertBackbone):
  """`keras_hub.models.BertBackbone`, except in training the middle layers
  see only the kept tokens (Hou et al., 2022).

  With `L` layers and the window `[s, e)` (default `[L/2-1, L-1)`), a
  dropping forward pass runs layers `0 .. s-1` on all `S` tokens; layer `s`
  with the `k` kept tokens as queries and every token as keys and values;
  layers `s+1 .. e-1` on the kept tokens; then the dropped tokens' states (as
  they entered layer `s`) rejoin at their positions and layers `e .. L-1` run
  on all `S`. The kept tokens are the `k` of highest importance, by the rule
  of `token_dropping.select` (the Model Garden encoder's rule, held to it by
  a test).

  Without dropping (inference, unless `drop_at_eval`) this is
  `BertBackbone`'s forward pass. Its weights are `BertBackbone`'s, layer for
  layer: `from_preset` takes any KerasHub BERT preset (a directory, a Kaggle
  handle, a Hugging Face BERT). The importance table is state, not a weight:
  `.keras` files and KerasHub's `save_to_preset` / `from_preset` keep it
  with the weights and the drop settings in the config (a preset of this
  registered class; `as_bert_backbone()` for a plain one).

  Args (beyond `BertBackbone`'s):
    keep_k / keep_ratio: tokens kept in the window (one of them; the paper's
      0.5 when neither is given).
    drop_start_layer / drop_end_layer: the window `[s, e)`.
    importance_mode: `mlm_loss`, `frequency` or `random`.
    importance_beta / importance_initial_value: the moving average's decay
      and every id's first score.
    allow_ids / deny_ids: ids kept first (`[CLS]`, `[SEP]`, `[MASK]`,
      `[UNK]`) and ids never kept ahead of a real token (`[PAD]`); see
      `special_ids` to resolve them from a vocabulary.
    drop_at_eval: drop tokens in inference calls too.
    importance_sampling_temperature: 0 (the top-k), or τ > 0: a sample in
      proportion to importance^(1/τ) (`token_dropping.select`).

  Inputs: `BertBackbone`'s dict, plus optional `drop_seed` int `[batch]`: one
  seed per sequence for the tie-break (the Model Garden trainer's seeds give
  the same selection); without it the tie-break is drawn from the importance
  layer's seed generator.
  """

  def __init__(self,
               vocabulary_size: int,
               num_layers: int,
               num_heads: int,
               hidden_dim: int,
               intermediate_dim: int,
               dropout: float = 0.1,
               max_sequence_length: int = 512,
               num_segments: int = 2,
               dtype=None,
               keep_k: Optional[int] = None,
               keep_ratio: Optional[float] = None,
               drop_start_layer: Optional[int] = None,
               drop_end_layer: Optional[int] = None,
               importance_mode: str = 'mlm_loss',
               importance_beta: float = 0.995,
               importance_initial_value: float = 10.0,
               allow_ids: Sequence[int] = (),
               deny_ids: Sequence[int] = (),
               drop_at_eval: bool = False,
               importance_sampling_temperature: float = 0.0,
               **kwargs):
    start, end = keep.check_drop_window(num_layers, drop_start_layer,
                                        drop_end_layer)
    if keep_k is None and keep_ratio is None:
      keep_ratio = keep.DEFAULT_KEEP_RATIO
    keep_k, keep_ratio = keep.check_keep_setting(keep_k, keep_ratio,
                                                 max_sequence_length)
    allow_ids = tuple(int(i) for i in allow_ids)
    deny_ids = tuple(int(i) for i in deny_ids)
    if set(allow_ids) & set(deny_ids):
      raise ValueError(
          f'Ids {sorted(set(allow_ids) & set(deny_ids))} are both allow- and '
          'deny-listed; remove them from one of the lists.')
    super().__init__(
        vocabulary_size=vocabulary_size, num_layers=num_layers,
        num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim, dropout=dropout,
        max_sequence_length=max_sequence_length, num_segments=num_segments,
        dtype=dtype, **kwargs)
    for layer in self.transformer_layers:
      if layer.normalize_first:
        raise ValueError('TokenDropBertBackbone runs post-norm BERT blocks; '
                         f'{layer.name} normalizes first.')
    self.drop_window = (start, end)
    self.keep_k = keep_k
    self.keep_ratio = keep_ratio
    self.allow_ids = allow_ids
    self.deny_ids = deny_ids
    self.drop_at_eval = bool(drop_at_eval)
    self.temperature = keep.check_sampling_temperature(
        importance_sampling_temperature, importance_mode)
    self._forced = (None, None)
    self._importance = _Untracked(token_dropping.TokenImportance(
        vocabulary_size, mode=importance_mode, beta=importance_beta,
        initial_value=importance_initial_value, name='token_importance'))
    self._drop_config = dict(
        keep_k=keep_k, keep_ratio=keep_ratio, drop_start_layer=start,
        drop_end_layer=end, importance_mode=importance_mode,
        importance_beta=float(importance_beta),
        importance_initial_value=float(importance_initial_value),
        allow_ids=list(allow_ids), deny_ids=list(deny_ids),
        drop_at_eval=self.drop_at_eval,
        importance_sampling_temperature=self.temperature)

  # ------------------------------------------------------------ settings
  @staticmethod
  def special_ids(vocabulary: Sequence[str]):
    """`allow_ids` and `deny_ids` of a WordPiece vocabulary (token list)."""
    ids = vocab_lib.special_token_ids(list(vocabulary))
    return dict(allow_ids=ids.allow_ids, deny_ids=ids.deny_ids)

  @property
  def importance(self) -> token_dropping.TokenImportance:
    """The importance layer (table and tie-break seeds; not a weight)."""
    return self._importance.value

  @contextlib.contextmanager
  def force_dropping(self, enabled: Optional[bool],
                     keep_k: Optional[int] = None):
    """Within the block, calls drop iff `enabled` (None: by `training`),
    keeping `keep_k` tokens if given. Read when a call is traced: rebuild a
    compiled train function after leaving the block (a keep schedule does)."""
    saved = self._forced
    self.set_dropping(enabled, keep_k)
    try:
      yield self
    finally:
      self._forced = saved

  def set_dropping(self, enabled: Optional[bool],
                   keep_k: Optional[int] = None):
    """`force_dropping`'s setting, kept until changed (a keep schedule)."""
    self._forced = (enabled, keep_k)

  def keep_k_for(self, seq_length: int) -> int:
    keep_k = self._forced[1] or self.keep_k or keep.keep_k_from_ratio(
        self.keep_ratio, seq_length)
    return keep.check_keep_k(keep_k, seq_length, 'Token dropping',
                             'lower keep_k (or keep_ratio)')

  def drops(self, training) -> bool:
    """Whether a call with `training` drops tokens."""
    if self._forced[0] is not None:
      return self._forced[0]
    return bool(training) or self.drop_at_eval

  def get_config(self):
    config = super().get_config()
    config.update(self._drop_config)
    return config

  # ------------------------------------------------------------ forward
  def call(self, inputs, training=None, mask=None):
    plain = {k: inputs[k] for k in BERT_INPUTS}
    token_ids = inputs['token_ids']
    if not self.drops(training) or token_ids.shape[1] is None:
      return super().call(plain, training=training, mask=mask)
    return self._call_with_drop(plain, inputs.get('drop_seed'),
                                self.keep_k_for(token_ids.shape[1]),
                                training)

  def compute_output_spec(self, inputs, training=None, mask=None):
    return super().compute_output_spec(
        {k: inputs[k] for k in BERT_INPUTS}, training=training, mask=mask)

  def _call_with_drop(self, inputs, drop_seed, keep_k, training):
    token_ids = inputs['token_ids']
    padding_mask = inputs['padding_mask']
    start, end = self.drop_window
    layers = self.transformer_layers

    # 1. Embeddings and the layers before the window, as BertBackbone.
    tokens = self.token_embedding(token_ids)
    x = self.embeddings_add((tokens, self.position_embedding(tokens),
                             self.segment_embedding(inputs['segment_ids'])))
    x = self.embeddings_dropout(self.embeddings_layer_norm(x),
                                training=training)
    for layer in layers[:start]:
      x = layer(x, padding_mask=padding_mask, training=training)

    # 2. The kept positions, by importance.
    seq_length = token_ids.shape[1]
    kept_idx, dropped_idx = self.select(inputs, drop_seed, keep_k)
    dropped = token_dropping.gather(x, dropped_idx)

    # 3. The transition layer: kept queries attend to every token; then the
    #    kept tokens alone.
    kept = token_dropping.gather(x, kept_idx)
    key_mask = ops.cast(padding_mask, 'bool')[:, None, :]
    kept = attend(layers[start], kept, x,
                  ops.broadcast_to(key_mask, (ops.shape(kept)[0], keep_k,
                                              seq_length)), training)
    kept_mask = token_dropping.gather(padding_mask, kept_idx)
    for layer in layers[start + 1:end]:
      kept = layer(kept, padding_mask=kept_mask, training=training)

    # 4. The dropped tokens rejoin; the last layers see every token.
    x = token_dropping.restore(kept, dropped, kept_idx, dropped_idx)
    for layer in layers[end:]:
      x = layer(x, padding_mask=padding_mask, training=training)
    return {
        'sequence_output': x,
        'pooled_output': self.pooled_dense(x[:, self.cls_token_index, :]),
    }

  def select(self, inputs, drop_seed=None, keep_k: Optional[int] = None):
    """The positions a dropping call keeps and drops: int32
    `kept_indices` `[batch, k]` and `dropped_indices` `[batch, S - k]`."""
    token_ids = inputs['token_ids']
    seq_length = token_ids.shape[1]
    keep_k = keep_k or self.keep_k_for(seq_length)
    noise = (self.importance.noise(ops.shape(token_ids)) if drop_seed is None
             else token_dropping.hash_uniform(drop_seed, seq_length))
    scores = self.importance(token_ids)
    if self.temperature:
      scores = self.importance.log_weights(scores)
    return token_dropping.select(
        scores, inputs['padding_mask'], keep_k, noise, token_ids,
        self.allow_ids, self.deny_ids, self.temperature)

  # ------------------------------------------------------------ presets
  # A preset of this class is KerasHub's own: `save_to_preset` (KerasHub's)
  # writes `config.json` naming `OfficialTD>TokenDropBertBackbone` with the
  # drop settings among its arguments, and `model.weights.h5` holding
  # `BertBackbone`'s weights under their names plus the importance table
  # (`importance/vars/0`: Keras saves the `importance` layer with the
  # model's layers); KerasHub's loader reads both back. A plain
  # `BertBackbone` loads the same weights file (the table is an entry it
  # does not read); `as_bert_backbone()` gives a preset that KerasHub loads
  # without this package.
  @classmethod
  def from_preset(cls, preset, load_weights: bool = True, **kwargs):
    """A `TokenDropBertBackbone` from a preset of its own or of any BERT.

    `preset`: anything KerasHub's `from_preset` takes (a local or `gs://`
    directory, a Kaggle or Hugging Face handle). A preset this class saved
    loads through KerasHub's own loader: its drop settings and table, with
    `kwargs` replacing saved settings. Any other BERT preset (a
    `BertBackbone`, a Hugging Face BERT) gives its weights, the drop
    settings from `kwargs` or the defaults and the initial table; the
    special ids come from its vocabulary where `kwargs` name none.
    """
    kwargs = preset_files.one_keep_setting(kwargs)
    loader = preset_utils.get_preset_loader(preset)
    if issubclass(loader.check_backbone_class(), TokenDropBertBackbone):
      return super().from_preset(preset, load_weights=load_weights,
                                 **kwargs)
    plain = keras_hub.models.BertBackbone.from_preset(
        preset, load_weights=load_weights)
    settings = preset_files.legacy_settings(preset)
    if 'allow_ids' not in kwargs and 'allow_ids' not in settings:
      vocabulary = preset_files.vocabulary(preset)
      if vocabulary is None:
        raise ValueError(
            f'{preset!r} has no vocabulary to find [CLS], [SEP], [MASK], '
            '[UNK] and [PAD] in (token dropping always keeps the first four '
            'and never keeps [PAD] ahead of a real token): pass allow_ids '
            'and deny_ids, e.g. **TokenDropBertBackbone.special_ids(vocab).')
      settings.update(cls.special_ids(vocabulary))
    settings.update(kwargs)
    config = dict(plain.get_config(), **settings)
    config.pop('name', None)
    backbone = cls(**config)
    backbone.set_weights(plain.get_weights())
    table = preset_files.legacy_table(preset)
    if table is not None:
      backbone.importance.table.assign(table)
    return backbone

  def as_bert_backbone(self, dtype=None) -> keras_hub.models.BertBackbone:
    """A plain `BertBackbone` with this backbone's weights (in `dtype`, if
    given): its `save_to_preset` is a preset KerasHub loads without this
    package."""
    return _bert_backbone(self, dtype)


def bert_backbone_from_preset(preset, dtype=None):
  """The plain `BertBackbone` of any BERT preset, a `TokenDropBertBackbone`
  one included (its weights; fine-tuning drops no tokens), computing in
  `dtype` (default: Keras's global policy, e.g. `mixed_bfloat16`; a loaded
  preset would keep the dtype it was saved in)."""
  # KerasHub's own dispatch: the class the preset names (this one, or
  # `BertBackbone`; another model's preset is refused there).
  source = keras_hub.models.BertBackbone.from_preset(preset)
  return _bert_backbone(source, dtype or keras.mixed_precision.global_policy())


def _bert_backbone(source, dtype):
  config = {k: v for k, v in source.get_config().items()
            if k not in DROP_ARGS}
  if dtype is not None:
    config['dtype'] = dtype
  plain = keras_hub.models.BertBackbone.from_config(config)
  plain.set_weights(source.get_weights())
  return plain


# ------------------------------------------------------------ helpers
def attend(layer, query, value, attention_mask, training=None):
  """A KerasHub `TransformerEncoder` block (post-norm) whose queries are
  `query` and keys/values `value`: the transition layer. With `query is
  value` it is the block's own call (a test holds the two together)."""
  attention = layer._self_attention_layer(  # pylint: disable=protected-access
      query=query, value=value, attention_mask=attention_mask,
      training=training)
  x = layer._self_attention_dropout(attention, training=training)  # pylint: disable=protected-access
  x = layer._self_attention_layer_norm(x + query)  # pylint: disable=protected-access
  residual = x
  x = layer._feedforward_intermediate_dense(x)  # pylint: disable=protected-access
  x = layer._feedforward_output_dense(x)  # pylint: disable=protected-access
  x = layer._feedforward_dropout(x, training=training)  # pylint: disable=protected-access
  return layer._feedforward_layer_norm(x + residual)  # pylint: disable=protected-access
