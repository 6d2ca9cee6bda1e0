"""Casing and accents: two facts of a text, each decided once per run.

Uncased BERT lower-cases and strips accents (NFD, then every combining mark
removed); cased BERT does neither. Hugging Face's `BertTokenizer` keeps the
two apart (`do_lower_case`, `strip_accents`; `strip_accents=None` follows
`do_lower_case`), and uncased checkpoints exist that lower-case and keep
accents (Spanish and Portuguese uncased BERTs: `do_lower_case: true,
strip_accents: false`). A `Casing` carries both; the data's summary, the
run's record, fine-tuning, the SavedModel's tokenizer and both exports read
them from there.

The tokenizers of tensorflow-text (`FastBertTokenizer`,
`BertTokenizer`, the Model Garden's `layers.BertTokenizer`) have one switch
for uncased BERT's whole normalization (case folding, NFD, accents
stripped). `tokenizer_lower_case` is that switch; `normalize` does what it
does not, before the tokenizer: case folding alone (`case_fold_utf8`, the
same folding, accents kept, composed) or accent stripping alone.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Casing:
  """Whether a text is lower-cased and whether its accents are stripped."""
  lower_case: bool = True
  strip_accents: bool = True

  @classmethod
  def of(cls, lower_case: bool, strip_accents: Optional[bool] = None
         ) -> 'Casing':
    """Hugging Face's rule: `strip_accents=None` follows `lower_case`."""
    lower_case = bool(lower_case)
    return cls(lower_case, lower_case if strip_accents is None
               else bool(strip_accents))

  @classmethod
  def coerce(cls, casing) -> 'Casing':
    """`casing` itself, or for a bool (the older single setting) uncased
    BERT's `Casing.of(True)` or cased BERT's `Casing.of(False)`."""
    return casing if isinstance(casing, cls) else cls.of(casing)

  @property
  def tokenizer_lower_case(self) -> bool:
    """The tensorflow-text tokenizers' own lower-casing switch (case
    folding, NFD and accents stripped): on for uncased BERT only."""
    return self.lower_case and self.strip_accents

  @property
  def hf_strip_accents(self) -> Optional[bool]:
    """`strip_accents` of Hugging Face's `tokenizer_config.json` (None where
    it follows `do_lower_case`)."""
    return None if self.strip_accents == self.lower_case else (
        self.strip_accents)

  def describe(self) -> str:
    return (('lower-cased' if self.lower_case else 'cased') + ', accents ' +
            ('stripped' if self.strip_accents else 'kept'))

  def normalize(self, strings):
    """What the tokenizer's own switch leaves to do, as TensorFlow ops on a
    string tensor (nothing for uncased and for cased BERT)."""
    if self.tokenizer_lower_case or not (self.lower_case or
                                         self.strip_accents):
      return strings
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_text as text  # pylint: disable=g-import-not-at-top
    if self.lower_case:  # lower-cased, accents kept.
      return text.case_fold_utf8(strings)
    return tf.strings.regex_replace(text.normalize_utf8(strings, 'NFD'),
                                    r'\p{Mn}', '')
