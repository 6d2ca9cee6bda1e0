"""Corpus text: sources read in parallel units, the embedded corpus, file readers."""
