"""The data pipeline's tokenizer (FastBertTokenizer) gives the ids of
tensorflow-text's BertTokenizer, and BERT's word boundaries."""

import os

import numpy as np
import tensorflow as tf
import tensorflow_text as text

from official_td import casing
from official_td import vocab as vocab_lib
from official_td.data.examples import tokenization
from official_td.data.examples import vocab_builder
from official_td.data.text import corpus
from tests import pretrain_utils as pu
from tests import testing_utils as tu

# Accents, ligatures, case folding, CJK, right-to-left and Indic scripts,
# emoji, control and zero-width characters, punctuation of many kinds.
MIXED = [
    'Café naïve résumé — “quotes” don\'t; Straße ΣΊΣΥΦΟΣ 東京都 Привет, мир!',
    '123,456.78 e-mail@example.com #hash ¿Qué pasa? ﬁ ligature Ångström',
    'Ünïcödé ÀÉÎÕÜ çà et là… (parenthèses) [brackets] {braces} <tags>',
    'İstanbul ıi DŽ ǅ ǆ ß ẞ ﬀ Ⅻ ① ½ x² ’apostrophe’ «guillemets»',
    'tab\there  double  spaces\u00a0nbsp\u200bzero-width 😀 emoji 中文字符测试',
    'ARABIC عربي HEBREW עברית HINDI हिन्दी THAI ภาษาไทย KOREAN 한국어',
]


class TokenizerTest(tu.TestCase):

  def lines_and_vocab(self, lower_case):
    documents = (pu.tiny_corpus() + pu.varied_corpus() +
                 corpus.embedded_corpus(max_documents=40) + MIXED * 3)
    vocab = vocab_builder.build_vocab(
        documents, 2000, os.path.join(self.get_temp_dir(),
                                      f'vocab_{lower_case}.txt'),
        casing.Casing.of(lower_case))
    lines = [l for d in documents for l in d.splitlines() if l.strip()]
    return lines, vocab

  def test_ids_and_words_equal_bert_tokenizer(self):
    for lower_case in (True, False):
      lines, vocab = self.lines_and_vocab(lower_case)
      reference = text.BertTokenizer(vocab, lower_case=lower_case,
                                     token_out_type=tf.int64).tokenize(lines)
      fast = tokenization.WordPieceTokenizer(vocab, lower_case)
      ids, lengths = fast.tokenize(lines)
      self.assertGreater(len(lines), 700)
      self.assertAllEqual(lengths,
                          reference.merge_dims(1, 2).row_lengths().numpy())
      self.assertAllEqual(ids, reference.flat_values.numpy())
      # Word boundaries: BertTokenizer's words are the `##`-free starts.
      starts = np.zeros(len(ids), bool)
      starts[np.cumsum(np.concatenate(
          [[0], reference.values.row_lengths().numpy()[:-1]]))] = True
      self.assertAllEqual(fast.starts_word[ids], starts)
      # The vocab tells which text it was made for: a vocab learned from
      # this multilingual text by tensorflow-text's own lower-casing and
      # accent stripping (Indic vowel signs too) is judged uncased, one
      # learned without them cased.
      self.assertEqual(
          vocab_lib.vocab_lower_case(vocab_lib.load_vocab(vocab)), lower_case)

  def test_a_vocab_without_cased_letters_fits_either_casing(self):
    self.assertIsNone(vocab_lib.vocab_lower_case(
        ['[PAD]', '[UNK]', '[CLS]', '中', '##文', '東京', '123', '##!']))
    self.assertTrue(vocab_lib.vocab_lower_case(['[CLS]', 'the', '##ss', '中']))
    # Capitals make a vocab cased; accents (in any script) say only that
    # accents were kept: casing and accents are two facts.
    for token, expected in (('The', (False, None)), ('Σ', (False, None)),
                            ('café', (True, False)), ('हिं', (True, False)),
                            ('##É', (False, False)), ('the', (True, None))):
      self.assertEqual(vocab_lib.vocab_casing(['[CLS]', 'the', token]),
                       expected, token)


if __name__ == '__main__':
  tf.test.main()
