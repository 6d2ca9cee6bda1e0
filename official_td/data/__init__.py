"""Pretraining data: corpora, vocabularies, MLM example creation, validation."""
