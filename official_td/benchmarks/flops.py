"""Forward matmul FLOPs of plain and token-dropping BERT (the compute model).

A Transformer block with `q` query tokens and `s` key/value tokens, hidden
size `H` and inner size `I` costs `2qH^2` (Q) + `4sH^2` (K, V) + `4qsH`
(scores and context) + `2qH^2` (attention output) + `4qHI` (FFN). The MLM head
over `P` predictions costs `2PH^2 + 2PHV`. Backward passes cost about twice the
forward for every term, so the ratio of two models' step FLOPs is the ratio of
their forward FLOPs.
"""

import dataclasses
from typing import Optional

from official_td.networks import default_drop_window


def block_flops(q: int, s: int, hidden: int, inner: int) -> int:
  """Forward matmul FLOPs of one block: `q` queries over `s` keys/values."""
  h = hidden
  return 2 * q * h * h + 4 * s * h * h + 4 * q * s * h + 2 * q * h * h + (
      4 * q * h * inner)


@dataclasses.dataclass
class FlopModel:
  """Per-sequence forward FLOPs of one BERT configuration."""
  num_layers: int = 12
  hidden_size: int = 768
  inner_dim: int = 3072
  seq_length: int = 512
  keep_k: int = 256
  max_predictions: int = 76
  vocab_size: int = 30522
  drop_start_layer: Optional[int] = None
  drop_end_layer: Optional[int] = None

  def window(self):
    start, end = default_drop_window(self.num_layers)
    if self.drop_start_layer is not None:
      start = self.drop_start_layer
    if self.drop_end_layer is not None:
      end = self.drop_end_layer
    return start, end

  def head(self) -> int:
    p, h = self.max_predictions, self.hidden_size
    return 2 * p * h * h + 2 * p * h * self.vocab_size

  def plain(self) -> int:
    s = self.seq_length
    full = block_flops(s, s, self.hidden_size, self.inner_dim)
    return self.num_layers * full + self.head()

  def token_drop(self) -> int:
    s, k, h, i = self.seq_length, self.keep_k, self.hidden_size, self.inner_dim
    start, end = self.window()
    full = block_flops(s, s, h, i)
    return (start * full + block_flops(k, s, h, i) +
            (end - start - 1) * block_flops(k, k, h, i) +
            (self.num_layers - end) * full + self.head())

  def ratio(self) -> float:
    """Token-drop FLOPs / plain FLOPs."""
    return self.token_drop() / self.plain()
