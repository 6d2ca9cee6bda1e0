"""Pretraining data creation (offline, Apache Beam): text in, TFRecords out."""
