"""Interoperability: Hugging Face BERT directories in and out, and starting
pretraining from existing checkpoints."""
