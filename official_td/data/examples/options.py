"""How pretraining sequences are built and masked: `DataOptions`."""

import dataclasses
from typing import Optional

from official_td import casing as casing_lib


# --------------------------------------------------------------- options
@dataclasses.dataclass
class DataOptions:
  """How sequences are built and masked.

  Attributes:
    seq_length: tokens per sequence, [CLS] and [SEP]s included.
    max_predictions_per_seq: masked positions per sequence (slots beyond the
      number masked are padded with weight 0).
    masked_lm_prob: fraction of tokens masked.
    whole_word_masking: mask all WordPieces of a word together.
    use_next_sentence_label: build [CLS] A [SEP] B [SEP] pairs with next-sentence labels instead
      of packed sequences.
    dupe_factor: static masking: times each sequence is written, each with a
      different mask.
    masking: 'static' (masked records, `BertPretrainDataLoader`'s format) or
      'dynamic' (unmasked records, masked afresh at every read in training).
    num_shards: TFRecord shards of the train split; 0 lets the runner choose
      (one file per bundle: nothing is shuffled through the runner, which is
      what keeps a single machine's memory bounded). A fixed count adds a
      shuffle of all records, cheap on Dataflow, held in memory by the
      DirectRunner.
    eval_fraction: fraction of documents held out for the eval split.
    seed: seed of the split and the masks.
    lower_case: lower-case the text (uncased vocab).
    strip_accents: strip accents (None: as `lower_case`, Hugging Face's
      rule); `lower_case` with `strip_accents=False` is the uncased BERTs
      that keep accents.
    tokenize_batch_size: documents tokenized per tensorflow-text call.
  """
  seq_length: int = 128
  max_predictions_per_seq: int = 20
  masked_lm_prob: float = 0.15
  whole_word_masking: bool = False
  use_next_sentence_label: bool = False
  dupe_factor: int = 1
  masking: str = 'static'
  num_shards: int = 0
  eval_fraction: float = 0.05
  seed: int = 12345
  lower_case: bool = True
  strip_accents: Optional[bool] = None
  tokenize_batch_size: int = 256

  @property
  def casing(self) -> casing_lib.Casing:
    return casing_lib.Casing.of(self.lower_case, self.strip_accents)

  def validate(self):
    """One clear ValueError for options that cannot work."""
    if self.seq_length < 8:
      raise ValueError(f'seq_length={self.seq_length} is too short; use >= 8.')
    body = self.seq_length - (3 if self.use_next_sentence_label else 2)
    if not 0 < self.max_predictions_per_seq <= body:
      raise ValueError(
          f'max_predictions_per_seq={self.max_predictions_per_seq} does not '
          f'fit seq_length={self.seq_length}: a sequence has {body} maskable '
          f'tokens; use 1..{body} (BERT: 20 at 128, 76-80 at 512).')
    if not 0.0 < self.masked_lm_prob < 1.0:
      raise ValueError(f'masked_lm_prob={self.masked_lm_prob} must be in '
                       '(0, 1).')
    if self.num_shards < 0 or self.dupe_factor < 1:
      raise ValueError('num_shards must be >= 0 and dupe_factor >= 1.')
    if self.masking not in ('static', 'dynamic'):
      raise ValueError(f"masking={self.masking!r}: use 'static' or "
                       "'dynamic'.")
    if self.masking == 'dynamic' and self.dupe_factor != 1:
      raise ValueError('dupe_factor applies to static masking only; dynamic '
                       'masking draws new masks at every read.')
    if not 0.0 <= self.eval_fraction < 1.0:
      raise ValueError(f'eval_fraction={self.eval_fraction} must be in '
                       '[0, 1).')

