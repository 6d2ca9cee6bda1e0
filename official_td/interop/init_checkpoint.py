"""Starting pretraining from existing weights: `run.init_checkpoint`.

Continued pretraining (a public BERT adapted to a domain corpus) starts from
one of:

* a Hugging Face BERT directory (`config.json` + `model.safetensors`, e.g.
  `bert-base-uncased` or an export of `official_td.export
  --format=huggingface`): the encoder and, where present, the MLM head;
* a run of this project (its `--model_dir`, or a checkpoint prefix inside
  it): encoder, MLM head and importance table;
* a Model Garden checkpoint of a `BertEncoderV2`, as
  `tf.train.Checkpoint(encoder=...)` writes it, with the pretrainer's MLM
  head under `model/` where it holds one;
* a Model Garden checkpoint of the Keras-functional `BertEncoder` (v1), as
  Google's TF2 BERT checkpoints hold it (`tf.train.Checkpoint(model=...)` or
  `(encoder=...)`): restored into a `BertEncoder` of its shape and copied
  into the encoder weight by weight (the two classes have the same weights,
  under the same names);
* a google-research/bert checkpoint (TF1, name-based: `bert_model.ckpt` with
  `bert_config.json` and `vocab.txt` beside it; BERT-Base/Large, the
  multilingual and whole-word-masking ones, the small BERTs from BERT-Tiny
  on): converted by the Model Garden's own converter
  (`official/nlp/tools/tf2_bert_encoder_checkpoint_converter.py`) into a
  `BertPretrainerV2` over a `BertEncoder`, then copied as above, the MLM
  head (`cls/predictions/...`) too where the checkpoint holds it;
* for `official_td.keras_hub.train` (Keras 3), a KerasHub BERT preset
  (`keras_hub_preset`; a run of that trainer is one) or a Hugging Face BERT
  directory, loaded by `official_td.keras_hub.continued`. Each trainer
  refuses the kinds it does not read (`wrong_trainer`), naming the other.

`inspect` reads only what is cheap (a config, the checkpoint's shapes) so
that `check` can refuse a mismatch, naming both shapes, before any work; the
vocab must match the checkpoint's (size and special ids) wherever the
checkpoint comes with its `vocab.txt`. `initialize` runs only when the model
directory holds no checkpoint (it is the `init_fn` of the run's
`CheckpointManager`): a resumed run resumes from its own directory and is
never re-initialized. The importance table starts at its initial value unless
the checkpoint holds one.
"""

import dataclasses
import os
from typing import Any, Collection, Dict, Optional, Tuple

from absl import logging
import tensorflow as tf

from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.configs.encoder_config import EncoderConfig
from official_td.interop import hf_checkpoint
from official_td.interop import keras_hub_preset
from official_td.interop import tf_checkpoints
from official_td.interop.tf_checkpoints import GOOGLE_CHECKPOINT
from official_td.interop.tf_checkpoints import GOOGLE_CONFIG

_EMBEDDINGS = '_embedding_layer/embeddings/.ATTRIBUTES/VARIABLE_VALUE'
# BertEncoder (v1), a functional Keras model: its layers by position.
_V1_EMBEDDINGS = 'layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE'
SHAPE_KEYS = ('vocab_size', 'hidden_size', 'num_layers',
              'num_attention_heads', 'inner_dim', 'max_sequence_length',
              'type_vocab_size')


@dataclasses.dataclass
class CheckpointSource:
  """What `run.init_checkpoint` names, as far as it was read.

  `inner_activation` is the encoder activation its config names (None: no
  config says); `lower_case` the casing of its text and `casing_from` where
  that was read (None: nothing tells).
  """
  kind: str  # one of MODEL_GARDEN_KINDS or KERAS_HUB_KINDS
  path: str  # the directory, or the checkpoint prefix
  shape: Dict[str, int]
  vocab_file: Optional[str]
  has_head: bool
  has_importance: bool
  root: str = 'encoder'  # the checkpoint's name for the encoder
  inner_activation: Optional[str] = None
  activation_from: str = ''
  lower_case: Optional[bool] = None
  casing_from: str = ''
  # Whether its text's accents were stripped (None: nothing tells).
  strip_accents: Optional[bool] = None
  accents_from: str = ''
  # The encoder fields taken from it (`adopt`), with their values.
  adopted: Dict[str, Any] = dataclasses.field(default_factory=dict)


def _vocab_casing(vocab_file: Optional[str]):
  """`(lower_case, where from)` as the vocab decides (None: it does not)."""
  if vocab_file is None:
    return None, ''
  decided = vocab_lib.vocab_lower_case(vocab_lib.load_vocab(vocab_file))
  if decided is None:
    return None, ''
  return decided, f'its vocab {vocab_file!r} is {"un" if decided else ""}cased'


# The kinds each trainer starts from (`wrong_trainer` says why not).
MODEL_GARDEN_KINDS = ('huggingface', 'checkpoint', 'bert_encoder_v1',
                      'google_bert')
KERAS_HUB_KINDS = ('huggingface', 'keras_hub')


def wrong_trainer(source: CheckpointSource) -> str:
  """Why the trainer at hand does not start from `source`, and what to do."""
  if source.kind == 'keras_hub':
    return (f'run.init_checkpoint={source.path!r} is a KerasHub preset: '
            'continue it with `python -m official_td.keras_hub.train` (the '
            'same gin file), or start from a Hugging Face BERT directory or '
            'a TensorFlow checkpoint.')
  return (f'run.init_checkpoint={source.path!r} is a TensorFlow checkpoint '
          f'({source.kind}); official_td.keras_hub.train starts from a '
          'KerasHub preset or a Hugging Face BERT directory: continue it with '
          '`python -m official_td.train`, or write a Hugging Face directory '
          'of a run with `python -m official_td.export --format=huggingface '
          '--model_dir=RUN --export_dir=DIR` and point run.init_checkpoint '
          'there.')


def inspect(path: str, keras_hub: bool = False) -> CheckpointSource:
  """Tells what `path` holds; a clear error if it is none of the kinds, or
  not one the trainer reads (`keras_hub`: official_td.keras_hub.train)."""
  source = _inspect(path)
  if source.kind not in (KERAS_HUB_KINDS if keras_hub else
                         MODEL_GARDEN_KINDS):
    raise ValueError(wrong_trainer(source))
  if keras_hub and source.kind == 'huggingface':
    # KerasHub's converter loads every BERT into its BertBackbone, whose
    # GELU is the tanh form whatever hidden_act says.
    source.inner_activation = 'gelu_tanh'
    source.activation_from = ("KerasHub's BertBackbone, which its converter "
                              'loads it into, has the tanh GELU')
  return source


def _inspect(path: str) -> CheckpointSource:
  preset = keras_hub_preset.read_config(path)
  if preset is not None:
    source = CheckpointSource(**keras_hub_preset.describe(path, preset))
    if source.lower_case is None:
      source.lower_case, source.casing_from = _vocab_casing(source.vocab_file)
    return source
  if hf_checkpoint.is_directory(path):
    settings = hf_checkpoint.encoder_settings(path)
    vocab = rundir.vocab_file_of(path)
    vocab = vocab if tf.io.gfile.exists(vocab) else None
    tokenizer = hf_checkpoint.tokenizer_config(path)
    lower = tokenizer.get('do_lower_case')
    if lower is None:
      lower, casing_from = _vocab_casing(vocab)
    else:
      lower = bool(lower)
      casing_from = (f'its {hf_checkpoint.TOKENIZER_CONFIG} has '
                     f'do_lower_case={str(lower).lower()}')
    strip, accents_from = tokenizer.get('strip_accents'), ''
    if strip is not None:
      accents_from = (f'its {hf_checkpoint.TOKENIZER_CONFIG} has '
                      f'strip_accents={str(bool(strip)).lower()}')
    elif lower is not None and 'do_lower_case' in tokenizer:
      strip, accents_from = lower, (
          f'its {hf_checkpoint.TOKENIZER_CONFIG} has do_lower_case='
          f'{str(lower).lower()} and no strip_accents (which follows it)')
    return CheckpointSource(
        'huggingface', path, settings.shape, vocab,
        'cls.predictions.transform.dense.weight' in
        hf_checkpoint.tensor_names(path), False,
        inner_activation=settings.inner_activation,
        activation_from=f'its {hf_checkpoint.CONFIG} has hidden_act='
        f'{settings.hidden_act!r}',
        lower_case=lower, casing_from=casing_from,
        strip_accents=None if strip is None else bool(strip),
        accents_from=accents_from)
  prefix = path
  if tf.io.gfile.isdir(path):
    prefix = tf.train.latest_checkpoint(path)
    if not prefix and tf.io.gfile.exists(
        os.path.join(path, GOOGLE_CHECKPOINT + '.index')):
      prefix = os.path.join(path, GOOGLE_CHECKPOINT)  # no `checkpoint` file.
  if not prefix or not tf.io.gfile.exists(prefix + '.index'):
    raise ValueError(
        f'run.init_checkpoint={path!r} is neither a Hugging Face BERT '
        'directory (config.json + model.safetensors), nor a TensorFlow '
        'checkpoint (a prefix with .index, or a directory holding one, such '
        'as a google-research/bert directory with bert_model.ckpt), nor a '
        'KerasHub preset (config.json + model.weights.h5): point it at one '
        'of those.')
  shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  directory = os.path.dirname(prefix)
  vocab = rundir.vocab_file_of(directory)
  vocab = vocab if tf.io.gfile.exists(vocab) else None
  lower, casing_from = _vocab_casing(vocab)
  if tf_checkpoints.GOOGLE_EMBEDDINGS in shapes:
    settings = tf_checkpoints.google_settings(prefix, shapes)
    # google-research/bert's own rule: the vocab's model decides the casing
    # (its `validate_case_matches_checkpoint` knows the released names).
    return CheckpointSource(
        'google_bert', prefix, settings.shape, vocab,
        any(k.startswith('cls/predictions/') for k in shapes), False,
        root='model', inner_activation=settings.inner_activation,
        activation_from=f'its {GOOGLE_CONFIG} has hidden_act='
        f'{settings.hidden_act!r}', lower_case=lower, casing_from=casing_from)
  for root in ('encoder', 'model'):
    if f'{root}/{_V1_EMBEDDINGS}' in shapes and 'encoder/' + _EMBEDDINGS \
        not in shapes:
      return CheckpointSource('bert_encoder_v1', prefix, tf_checkpoints.v1_shape(shapes, root),
                    vocab, False, False, root, lower_case=lower,
                    casing_from=casing_from)
  if 'encoder/' + _EMBEDDINGS not in shapes:
    raise ValueError(
        f'The checkpoint {prefix!r} holds no BERT encoder: neither a '
        'BertEncoderV2 under `encoder/` (as tf.train.Checkpoint(encoder='
        'BertEncoderV2(...)) writes it) nor a BertEncoder under `model/` or '
        '`encoder/`; save the encoder that way, or export it to a Hugging '
        'Face directory, and point run.init_checkpoint there.')
  source = CheckpointSource(
      'checkpoint', prefix, tf_checkpoints.checkpoint_shape(shapes), vocab,
      any(k.startswith('model/masked_lm/') for k in shapes),
      any(k.startswith('importance/') for k in shapes), lower_case=lower,
      casing_from=casing_from)
  if rundir.is_finished(directory):  # a run of this project: its record.
    run = rundir.read_run(directory)
    source.inner_activation = encoders.activation_of(run.encoder_kwargs)
    source.activation_from = (f'its run\'s {rundir.ENCODER_CONFIG} has '
                              f'{source.inner_activation!r}')
    source.lower_case = run.lower_case
    source.casing_from = (f'its run was trained on '
                          f'{"lower-cased" if run.lower_case else "cased"} '
                          'text')
    source.strip_accents = run.casing.strip_accents
    source.accents_from = f'its run\'s text was {run.casing.describe()}'
  return source

# The `EncoderConfig` fields a checkpoint describes (its vocab size is the
# data's vocab's, checked by `check`).
ARCHITECTURE_FIELDS = tuple(k for k in SHAPE_KEYS if k != 'vocab_size') + (
    'inner_activation',)


def adopt(source: CheckpointSource, config: EncoderConfig,
          bound: Optional[Collection[str]] = None
          ) -> Tuple[EncoderConfig, Dict[str, Any]]:
  """The encoder config with the checkpoint's architecture where not set.

  Every field of `ARCHITECTURE_FIELDS` the checkpoint describes is taken
  from it unless the configuration sets it; a field set to another value
  than the checkpoint's is refused, naming both (a checkpoint is continued
  as the network it is, or not at all).

  Args:
    source: from `inspect`.
    config: the run's encoder config.
    bound: the fields the configuration sets (the gin bindings in effect,
      `configurables.bound_fields`); None: those that differ from
      `EncoderConfig`'s defaults.

  Returns:
    `(config, adopted)`: the config to build, and the fields taken from the
    checkpoint with their values (recorded in the run's results).

  Raises:
    ValueError: for each contradicted field, both values, in one message.
  """
  theirs = {k: v for k, v in source.shape.items() if k in ARCHITECTURE_FIELDS}
  if source.inner_activation is not None:
    theirs['inner_activation'] = source.inner_activation
  if bound is None:
    defaults = EncoderConfig()
    bound = [k for k in ARCHITECTURE_FIELDS
             if getattr(config, k) != getattr(defaults, k)]
  conflicts = [k for k, v in theirs.items()
               if k in bound and getattr(config, k) != v]
  if conflicts:
    def there(k):
      if k == 'inner_activation':
        return f'{theirs[k]!r} there ({source.activation_from})'
      return f'{theirs[k]} there'
    raise ValueError(
        f'run.init_checkpoint={source.path!r} does not fit the encoder: '
        + ', '.join(f'{k} {there(k)}, {getattr(config, k)!r} here '
                    f'(encoder.{k} is set)' for k in conflicts)
        + '. Remove those settings to take the checkpoint\'s, or start from '
        'a checkpoint of the network you configured.')
  adopted = {k: v for k, v in theirs.items()
             if k not in bound and getattr(config, k) != v}
  return dataclasses.replace(config, **adopted), adopted


def check(source: CheckpointSource, encoder_kwargs: Dict, vocab_file: str,
          lower_case: bool, strip_accents: Optional[bool] = None):
  """Raises ValueError unless the checkpoint fits the encoder and the data.

  Run after `adopt`, which has made the architecture the checkpoint's (or
  refused it): what is left to differ is the vocab and the text.

  Args:
    source: from `inspect`.
    encoder_kwargs: the BertEncoderV2 arguments of the run (vocab size
      resolved from the vocab).
    vocab_file: the data's vocab.
    lower_case: the data's casing (its summary's).
    strip_accents: whether the data's accents were stripped (its summary's;
      None: as `lower_case`).
  """
  ours = {k: encoder_kwargs[k] for k in SHAPE_KEYS if k in encoder_kwargs}
  differ = [k for k in ours if k in source.shape and ours[k] !=
            source.shape[k]]
  if differ:
    raise ValueError(
        f'run.init_checkpoint={source.path!r} does not fit the encoder: '
        + ', '.join(f'{k} {source.shape[k]} there, {ours[k]} here'
                    for k in differ) + '. Set the encoder.* bindings to the '
        'checkpoint\'s shape (e.g. gin/models/bert_base.gin for BERT-base).')
  if source.lower_case is not None and source.lower_case != lower_case:
    raise ValueError(
        f'run.init_checkpoint={source.path!r} was trained on '
        f'{"lower-cased" if source.lower_case else "cased"} text '
        f'({source.casing_from}), but the data was made '
        f'{"lower-cased (--lower_case)" if lower_case else "cased (--nolower_case)"}'
        ': recreate the data with create_pretraining_data '
        f'{"--lower_case" if source.lower_case else "--nolower_case"} and the '
        'checkpoint\'s vocab.txt.')
  strip = lower_case if strip_accents is None else strip_accents
  if source.strip_accents is not None and source.strip_accents != strip:
    raise ValueError(
        f'run.init_checkpoint={source.path!r} was trained on text with its '
        f'accents {"stripped" if source.strip_accents else "kept"} '
        f'({source.accents_from}), but the data was made with them '
        f'{"stripped" if strip else "kept"}: recreate the data with '
        'create_pretraining_data '
        f'{"--strip_accents" if source.strip_accents else "--nostrip_accents"}'
        ' and the checkpoint\'s vocab.txt.')
  if source.vocab_file is None:
    return
  theirs = vocab_lib.resolve_special_token_ids(source.vocab_file)
  here = vocab_lib.resolve_special_token_ids(vocab_file)
  names = ('pad_id', 'unk_id', 'cls_id', 'sep_id', 'mask_id')
  moved = [n for n in names if getattr(theirs, n) != getattr(here, n)]
  if theirs.vocab_size != here.vocab_size or moved:
    details = [f'{n[:-3].upper()} is id {getattr(theirs, n)} there, '
               f'{getattr(here, n)} here' for n in moved]
    if theirs.vocab_size != here.vocab_size:
      details.insert(0, f'{theirs.vocab_size} ids there, {here.vocab_size} '
                     'here')
    raise ValueError(
        f'The data\'s vocab {vocab_file!r} is not the vocab of '
        f'run.init_checkpoint ({source.vocab_file}): ' + '; '.join(details)
        + '. Create the data with --vocab_file=' + source.vocab_file + '.')


def initialize(source: CheckpointSource, encoder, pretrainer, importance=None) -> Dict:
  """Loads the checkpoint's weights into the (built) model.

  Returns:
    What was loaded: `{'encoder': True, 'mlm_head': bool, 'importance':
    bool}`, and `'not_used'`: the file's tensors the model does not use, in
    one line (a Hugging Face directory's next-sentence head, say), where
    there are any.
  """
  loaded = dict(encoder=True, mlm_head=False, importance=False)
  if source.kind == 'huggingface':
    report = hf_checkpoint.assign(hf_checkpoint.read_tensors(source.path),
                                  encoder, pretrainer.masked_lm)
    loaded['mlm_head'] = report.mlm_head
    if report.skipped:
      loaded['not_used'] = report.skipped_line()
  elif source.kind == 'bert_encoder_v1':
    tf_checkpoints.copy_from_v1(source, encoder)
  elif source.kind == 'google_bert':
    tf_checkpoints.copy_from_google(source, encoder, pretrainer)
    loaded['mlm_head'] = source.has_head
  else:
    items = dict(encoder=encoder)
    if source.has_head:
      items['model'] = pretrainer
      loaded['mlm_head'] = True
    if source.has_importance and importance is not None:
      items['importance'] = importance
      loaded['importance'] = True
    tf.train.Checkpoint(**items).read(
        source.path).assert_existing_objects_matched().expect_partial()
  logging.info('Initialized from %s: %s', source.path, loaded)
  return loaded
