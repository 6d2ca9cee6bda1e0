"""Encoder networks with token dropping."""

from official_td.networks.token_drop_bert_encoder import TokenDropBertEncoder
