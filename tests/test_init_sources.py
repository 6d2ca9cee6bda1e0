"""Which trainer starts from which `run.init_checkpoint`: a KerasHub preset
is read (as JSON, before any work) for `official_td.keras_hub.train` and
refused by `official_td.train`, naming the other; a preset of no BERT or
without its weights is refused. The presets here are written in the layout
of KerasHub's `PresetSaver` (keras_hub/src/utils/preset_utils.py:
`config.json` and `tokenizer.json` as `keras.saving.serialize_keras_object`
writes them, `assets/tokenizer/vocabulary.txt`, `model.weights.h5`); the
worker of tests/test_keras_hub.py loads presets KerasHub itself saved."""

import json
import os

from official_td.interop import init_checkpoint
from tests import testing_utils as tu


def write_keras_hub_preset(directory, class_name='BertBackbone',
                           weights=True, lowercase=True, vocab_size=30):
  os.makedirs(os.path.join(directory, 'assets', 'tokenizer'))
  module = class_name.replace('Backbone', '').lower()
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    json.dump(dict(
        module=f'keras_hub.src.models.{module}.{module}_backbone',
        class_name=class_name,
        config=dict(name='bert_backbone', trainable=True,
                    vocabulary_size=vocab_size, num_layers=3, num_heads=2,
                    hidden_dim=32, intermediate_dim=64, dropout=0.1,
                    max_sequence_length=64, num_segments=2),
        registered_name=f'keras_hub>{class_name}'), f, indent=4)
  with open(os.path.join(directory, 'tokenizer.json'), 'w') as f:
    json.dump(dict(
        module='keras_hub.src.models.bert.bert_tokenizer',
        class_name='BertTokenizer',
        config=dict(name='bert_tokenizer', trainable=True, vocabulary=None,
                    sequence_length=None, lowercase=lowercase,
                    strip_accents=lowercase, split=True,
                    suffix_indicator='##', oov_token='[UNK]'),
        registered_name='keras_hub>BertTokenizer'), f, indent=4)
  tu.write_vocab(os.path.join(directory, 'assets', 'tokenizer',
                              'vocabulary.txt'), vocab_size)
  if weights:
    open(os.path.join(directory, 'model.weights.h5'), 'wb').close()
  return directory


class InitSourcesTest(tu.TestCase):

  def test_a_keras_hub_preset_is_the_keras_hub_trainers_only(self):
    path = write_keras_hub_preset(os.path.join(self.get_temp_dir(), 'p'))
    source = init_checkpoint.inspect(path, keras_hub=True)
    self.assertEqual(source.kind, 'keras_hub')
    self.assertEqual(source.shape, dict(
        vocab_size=30, hidden_size=32, num_layers=3, num_attention_heads=2,
        inner_dim=64, max_sequence_length=64, type_vocab_size=2))
    self.assertEqual((source.lower_case, source.strip_accents), (True, True))
    self.assertEqual((source.has_head, source.has_importance), (False, False))
    self.assertTrue(source.vocab_file.endswith('vocabulary.txt'))
    # A TokenDropBertBackbone preset holds its table in its weights file.
    token_drop = init_checkpoint.inspect(write_keras_hub_preset(
        os.path.join(self.get_temp_dir(), 'td'),
        class_name='TokenDropBertBackbone'), keras_hub=True)
    self.assertEqual((token_drop.has_importance, token_drop.shape),
                     (True, source.shape))
    with self.assertRaisesRegex(ValueError, 'is a KerasHub preset: continue '
                                'it with `python -m official_td.keras_hub'):
      init_checkpoint.inspect(path)

  def test_a_preset_of_no_bert_or_without_weights_is_refused(self):
    other = write_keras_hub_preset(os.path.join(self.get_temp_dir(), 'gpt'),
                                   class_name='GPT2Backbone')
    with self.assertRaisesRegex(ValueError, 'a KerasHub preset of a '
                                'GPT2Backbone, not of a BERT'):
      init_checkpoint.inspect(other, keras_hub=True)
    bare = write_keras_hub_preset(os.path.join(self.get_temp_dir(), 'bare'),
                                  weights=False)
    with self.assertRaisesRegex(ValueError, 'without its weights'):
      init_checkpoint.inspect(bare, keras_hub=True)
