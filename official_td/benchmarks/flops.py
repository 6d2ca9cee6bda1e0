"""Forward matmul FLOPs of plain and token-dropping BERT (the compute model).

A Transformer block with `q` query tokens and `s` key/value tokens, hidden
size `H` and inner size `I` costs `2qH^2` (Q) + `4sH^2` (K, V) + `4qsH`
(scores and context) + `2qH^2` (attention output) + `4qHI` (FFN). The MLM head
over `P` predictions costs `2PH^2 + 2PHV`. Backward passes cost about twice the
forward for every term, so the ratio of two models' step FLOPs is the ratio of
their forward FLOPs.
"""

import dataclasses

from official_td.configs.encoder_config import EncoderConfig
from official_td.keep import default_drop_window


def block_flops(q: int, s: int, hidden: int, inner: int) -> int:
  """Forward matmul FLOPs of one block: `q` queries over `s` keys/values."""
  h = hidden
  return 2 * q * h * h + 4 * s * h * h + 4 * q * s * h + 2 * q * h * h + (
      4 * q * h * inner)


def _bert_base() -> EncoderConfig:
  return EncoderConfig(vocab_size=30522)


@dataclasses.dataclass
class FlopModel:
  """Per-sequence forward FLOPs of one configuration: the encoder's shape
  and drop window (`EncoderConfig`, BERT-base by default), the sequence
  length, the tokens kept in the window and the MLM predictions."""
  encoder: EncoderConfig = dataclasses.field(default_factory=_bert_base)
  seq_length: int = 512
  keep_k: int = 256
  max_predictions: int = 76

  def window(self):
    start, end = default_drop_window(self.encoder.num_layers)
    if self.encoder.drop_start_layer is not None:
      start = self.encoder.drop_start_layer
    if self.encoder.drop_end_layer is not None:
      end = self.encoder.drop_end_layer
    return start, end

  def head(self) -> int:
    p, h = self.max_predictions, self.encoder.hidden_size
    return 2 * p * h * h + 2 * p * h * self.encoder.vocab_size

  def plain(self) -> int:
    s, encoder = self.seq_length, self.encoder
    full = block_flops(s, s, encoder.hidden_size, encoder.inner_dim)
    return encoder.num_layers * full + self.head()

  def token_drop(self) -> int:
    s, k = self.seq_length, self.keep_k
    h, i = self.encoder.hidden_size, self.encoder.inner_dim
    start, end = self.window()
    full = block_flops(s, s, h, i)
    return (start * full + block_flops(k, s, h, i) +
            (end - start - 1) * block_flops(k, k, h, i) +
            (self.encoder.num_layers - end) * full + self.head())

  def ratio(self) -> float:
    """Token-drop FLOPs / plain FLOPs."""
    return self.token_drop() / self.plain()
