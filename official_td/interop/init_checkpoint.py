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
  head (`cls/predictions/...`) too where the checkpoint holds it.

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
import json
import os
import re
import shutil
import tempfile
from typing import Dict, Optional

from absl import logging
import tensorflow as tf

from official_td import rundir
from official_td import vocab as vocab_lib
from official_td.configs import encoders
from official_td.interop import bert_config
from official_td.interop import huggingface

_EMBEDDINGS = '_embedding_layer/embeddings/.ATTRIBUTES/VARIABLE_VALUE'
# BertEncoder (v1), a functional Keras model: its layers by position.
GOOGLE_CHECKPOINT = 'bert_model.ckpt'
GOOGLE_CONFIG = 'bert_config.json'
_GOOGLE_EMBEDDINGS = 'bert/embeddings/word_embeddings'
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
  kind: str  # 'huggingface', 'checkpoint', 'bert_encoder_v1' or 'google_bert'
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


def _vocab_casing(vocab_file: Optional[str]):
  """`(lower_case, where from)` as the vocab decides (None: it does not)."""
  if vocab_file is None:
    return None, ''
  decided = vocab_lib.vocab_lower_case(vocab_lib.load_vocab(vocab_file))
  if decided is None:
    return None, ''
  return decided, f'its vocab {vocab_file!r} is {"un" if decided else ""}cased'


def inspect(path: str) -> CheckpointSource:
  """Tells what `path` holds; a clear error if it is none of the kinds."""
  if huggingface.is_directory(path):
    settings = huggingface.encoder_settings(path)
    vocab = rundir.vocab_file_of(path)
    vocab = vocab if tf.io.gfile.exists(vocab) else None
    lower, casing_from = huggingface.tokenizer_lower_case(path), ''
    if lower is None:
      lower, casing_from = _vocab_casing(vocab)
    else:
      casing_from = (f'its {huggingface.TOKENIZER_CONFIG} has do_lower_case='
                     f'{str(lower).lower()}')
    return CheckpointSource(
        'huggingface', path, settings.shape, vocab,
        'cls.predictions.transform.dense.weight' in
        huggingface.tensor_names(path), False,
        inner_activation=settings.inner_activation,
        activation_from=f'its {huggingface.CONFIG} has hidden_act='
        f'{settings.hidden_act!r}',
        lower_case=lower, casing_from=casing_from)
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
        'as a google-research/bert directory with bert_model.ckpt): point it '
        'at one of those.')
  shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  directory = os.path.dirname(prefix)
  vocab = rundir.vocab_file_of(directory)
  vocab = vocab if tf.io.gfile.exists(vocab) else None
  lower, casing_from = _vocab_casing(vocab)
  if _GOOGLE_EMBEDDINGS in shapes:
    settings = _google_settings(prefix, shapes)
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
      return CheckpointSource('bert_encoder_v1', prefix, _v1_shape(shapes, root),
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
      'checkpoint', prefix, _checkpoint_shape(shapes), vocab,
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
  return source


def _google_settings(prefix: str, shapes) -> bert_config.EncoderSettings:
  """The encoder of a google-research/bert checkpoint, from the
  `bert_config.json` beside it; a clear error where the file is missing,
  describes another model, or disagrees with the checkpoint's tensors."""
  config_file = os.path.join(os.path.dirname(prefix), GOOGLE_CONFIG)
  if not tf.io.gfile.exists(config_file):
    raise ValueError(
        f'{prefix!r} is a google-research/bert checkpoint (its variables are '
        f'named bert/...), but {config_file!r} does not exist: put the '
        f'{GOOGLE_CONFIG} released with it beside the checkpoint.')
  with tf.io.gfile.GFile(config_file) as f:
    settings = bert_config.encoder_settings(json.load(f), config_file,
                                            bert_config.GOOGLE)
  shape = settings.shape
  layers = {int(m.group(1)) for k in shapes
            for m in [re.match(r'bert/encoder/layer_(\d+)/', k)] if m}
  found = dict(
      vocab_size=shapes[_GOOGLE_EMBEDDINGS][0],
      hidden_size=shapes[_GOOGLE_EMBEDDINGS][1], num_layers=len(layers),
      inner_dim=shapes.get('bert/encoder/layer_0/intermediate/dense/kernel',
                           [0, 0])[1],
      max_sequence_length=shapes.get(
          'bert/embeddings/position_embeddings', [0])[0])
  differ = [k for k, v in found.items() if shape[k] != v]
  if differ:
    raise ValueError(
        f'{config_file!r} does not describe the checkpoint {prefix!r}: '
        + ', '.join(f'{k} {shape[k]} in the config, {found[k]} in the '
                    'checkpoint' for k in differ)
        + '. Use the bert_config.json released with this checkpoint.')
  return settings


def _checkpoint_shape(shapes) -> Dict[str, int]:
  def shape(suffix):
    return shapes[f'encoder/{suffix}/.ATTRIBUTES/VARIABLE_VALUE']

  layers = {int(m.group(1)) for k in shapes
            for m in [re.match(r'encoder/_transformer_layers/(\d+)/', k)] if m}
  vocab_size, hidden = shape('_embedding_layer/embeddings')
  query = shape('_transformer_layers/0/_attention_layer/_query_dense/kernel')
  return dict(
      vocab_size=vocab_size, hidden_size=hidden, num_layers=len(layers),
      num_attention_heads=query[1],
      inner_dim=shape('_transformer_layers/0/_intermediate_dense/kernel')[1],
      max_sequence_length=shape(
          '_position_embedding_layer/embeddings')[0],
      type_vocab_size=shape('_type_embedding_layer/embeddings')[0])


def _v1_shape(shapes, root: str) -> Dict[str, int]:
  def shape(layer, suffix):
    return shapes[f'{root}/layer_with_weights-{layer}/{suffix}/'
                  '.ATTRIBUTES/VARIABLE_VALUE']

  blocks = sorted({int(m.group(1)) for k in shapes for m in [re.match(
      rf'{root}/layer_with_weights-(\d+)/_attention_layer/', k)] if m})
  vocab_size, hidden = shape(0, 'embeddings')
  return dict(
      vocab_size=vocab_size, hidden_size=hidden, num_layers=len(blocks),
      num_attention_heads=shape(
          blocks[0], '_attention_layer/_query_dense/kernel')[1],
      inner_dim=shape(blocks[0], '_intermediate_dense/kernel')[1],
      max_sequence_length=shape(1, 'embeddings')[0],
      type_vocab_size=shape(2, 'embeddings')[0])


def _copy_weights(source: CheckpointSource, theirs, ours, what: str):
  """Assigns `theirs` (a dict name -> variable) to `ours`, name by name; a
  clear error where a weight has no counterpart."""
  if sorted(theirs) != sorted(ours):
    raise ValueError(
        f'run.init_checkpoint={source.path!r}: the {what} weights '
        f'{sorted(set(theirs) ^ set(ours))} have no counterpart in the '
        'model.')
  for name, variable in ours.items():
    variable.assign(theirs[name])


def _encoder_names(weights, strip_scope: bool):
  """Weights by name; `strip_scope`: without the model's own name scope."""
  names = [w.name.split(':')[0] for w in weights]
  if strip_scope:
    names = [name.split('/', 1)[1] for name in names]
  return dict(zip(names, weights))


def _head_weights(masked_lm):
  """The MLM head's own weights, by role (its decoder is the encoder's word
  embedding table, copied with the encoder)."""
  return {'transform/kernel': masked_lm.dense.kernel,
          'transform/bias': masked_lm.dense.bias,
          'layer_norm/gamma': masked_lm.layer_norm.gamma,
          'layer_norm/beta': masked_lm.layer_norm.beta,
          'output_bias': masked_lm.bias}


def _copy_from_v1(source: CheckpointSource, encoder, pretrainer=None,
                  prefix: Optional[str] = None):
  """Restores a BertEncoder (v1) checkpoint (with `pretrainer`: a
  BertPretrainerV2 over one) from `prefix` (default: the source's) and
  copies it into `encoder` (and `pretrainer.masked_lm`)."""
  from official.nlp.modeling import models  # pylint: disable=g-import-not-at-top
  from official.nlp.modeling import networks  # pylint: disable=g-import-not-at-top
  v1 = networks.BertEncoder(**source.shape)
  root = v1
  if pretrainer is not None:
    root = models.BertPretrainerV2(encoder_network=v1)
    root(root.inputs)  # builds the MLM head.
  tf.train.Checkpoint(**{source.root: root}).read(
      prefix or source.path).assert_existing_objects_matched().expect_partial()
  _copy_weights(source, _encoder_names(v1.weights, False),
                _encoder_names(encoder.weights, True), 'BertEncoder\'s')
  if pretrainer is not None:
    _copy_weights(source, _head_weights(root.masked_lm),
                  _head_weights(pretrainer.masked_lm), 'MLM head\'s')


def _copy_from_google(source: CheckpointSource, encoder, pretrainer):
  """Converts a google-research/bert checkpoint with the Model Garden's
  converter (into a local scratch directory, removed after), then copies
  it as a BertEncoder (v1) checkpoint."""
  # pylint: disable=g-import-not-at-top
  from official.legacy.bert import configs
  from official.nlp.tools import tf2_bert_encoder_checkpoint_converter as tf2
  # pylint: enable=g-import-not-at-top
  config = configs.BertConfig.from_json_file(
      os.path.join(os.path.dirname(source.path), GOOGLE_CONFIG))
  scratch = tempfile.mkdtemp(prefix='official_td_bert_')  # local, removed.
  tf_logger = tf.get_logger()
  level = tf_logger.level
  try:
    converted = os.path.join(scratch, 'converted', 'ckpt')
    # The converter reports every variable at INFO: not for the console.
    tf_logger.setLevel('WARNING')
    tf2.convert_checkpoint(
        config, converted, source.path, checkpoint_model_name=source.root,
        converted_model='pretrainer' if source.has_head else 'encoder')
    _copy_from_v1(source, encoder,
                  pretrainer if source.has_head else None,
                  tf.train.latest_checkpoint(os.path.dirname(converted)))
  finally:
    tf_logger.setLevel(level)
    shutil.rmtree(scratch, ignore_errors=True)


def check(source: CheckpointSource, encoder_kwargs: Dict, vocab_file: str,
          lower_case: bool):
  """Raises ValueError unless the checkpoint fits the encoder and the data.

  Args:
    source: from `inspect`.
    encoder_kwargs: the BertEncoderV2 arguments of the run (vocab size
      resolved from the vocab).
    vocab_file: the data's vocab.
    lower_case: the data's casing (its summary's).
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
  ours = encoders.activation_of(encoder_kwargs)
  if source.inner_activation not in (None, ours):
    raise ValueError(
        f'run.init_checkpoint={source.path!r}: {source.activation_from} '
        f'(the activation {source.inner_activation!r}), but the encoder uses '
        f'{ours!r}: set encoder.inner_activation = '
        f"'{source.inner_activation}' (gin), or a BERT trained with it would "
        'continue with another activation.')
  if source.lower_case is not None and source.lower_case != lower_case:
    raise ValueError(
        f'run.init_checkpoint={source.path!r} was trained on '
        f'{"lower-cased" if source.lower_case else "cased"} text '
        f'({source.casing_from}), but the data was made '
        f'{"lower-cased (--lower_case)" if lower_case else "cased (--nolower_case)"}'
        ': recreate the data with create_pretraining_data '
        f'{"--lower_case" if source.lower_case else "--nolower_case"} and the '
        'checkpoint\'s vocab.txt.')
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
    bool}`.
  """
  loaded = dict(encoder=True, mlm_head=False, importance=False)
  if source.kind == 'huggingface':
    _, missing = huggingface.assign(huggingface.read_tensors(source.path),
                                    encoder, pretrainer.masked_lm)
    loaded['mlm_head'] = not missing
  elif source.kind == 'bert_encoder_v1':
    _copy_from_v1(source, encoder)
  elif source.kind == 'google_bert':
    _copy_from_google(source, encoder, pretrainer)
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
