"""Encoder networks with token dropping."""

from official_td.networks.token_drop_bert_encoder import default_drop_window
from official_td.networks.token_drop_bert_encoder import TokenDropBertEncoder
from official_td.networks.token_drop_bert_encoder import keep_k_from_ratio
