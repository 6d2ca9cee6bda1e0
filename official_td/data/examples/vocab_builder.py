"""WordPiece vocabularies: use a given `vocab.txt` or build one from a corpus."""

from typing import Sequence

import tensorflow as tf

from official_td import casing as casing_lib
from official_td import vocab as vocab_lib


def build_vocab(documents: Sequence[str],
                vocab_size: int,
                output_path: str,
                casing: casing_lib.Casing = casing_lib.Casing()) -> str:
  """Learns a WordPiece vocab with tensorflow-text and writes `vocab.txt`.

  Uses `tensorflow_text`'s `bert_vocab_from_dataset` (BERT's word splitting,
  then WordPiece learning); the special tokens are reserved first.

  Args:
    documents: the corpus.
    vocab_size: target size (the result can be slightly smaller).
    output_path: where to write the vocab, one token per line.
    casing: the text's casing and accents (default: lower-cased, accents
      stripped, as uncased BERT).

  Returns:
    `output_path`.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset
  if not documents:
    raise ValueError('Cannot build a vocab from an empty corpus.')
  dataset = tf.data.Dataset.from_tensor_slices(list(documents)).batch(1000)
  dataset = dataset.map(casing.normalize)
  vocab = bert_vocab_from_dataset.bert_vocab_from_dataset(
      dataset,
      vocab_size=vocab_size,
      reserved_tokens=list(vocab_lib.RESERVED_TOKENS),
      bert_tokenizer_params=dict(lower_case=casing.tokenizer_lower_case),
      learn_params={})
  with tf.io.gfile.GFile(output_path, 'w') as f:
    f.write('\n'.join(vocab) + '\n')
  vocab_lib.resolve_special_token_ids(output_path)  # sanity check.
  return output_path


def make_tokenizer(vocab_file: str,
                   casing: casing_lib.Casing = casing_lib.Casing()):
  """The data pipeline's WordPiece tokenizer over `vocab_file`."""
  from official_td.data.examples import tokenization  # pylint: disable=g-import-not-at-top
  vocab_lib.resolve_special_token_ids(vocab_file)
  return tokenization.WordPieceTokenizer(vocab_file, casing)
