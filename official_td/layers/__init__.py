"""Keras layers for token dropping: importance scores, the drop and its inverse."""

from official_td.layers.token_drop import TokenDrop
from official_td.layers.token_importance import TokenImportance
from official_td.layers.token_restore import TokenRestore

__all__ = ['TokenDrop', 'TokenImportance', 'TokenRestore']
