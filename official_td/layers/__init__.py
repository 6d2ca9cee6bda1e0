"""Keras layers for token dropping: importance scores, the drop and its inverse.

The names are imported on first use: the layers import Keras, and the data
pipeline's workers, which need only `special_tokens`, then do not.
"""

import importlib

_MODULE_OF = {
    'resolve_special_token_ids': 'special_tokens',
    'SpecialTokenIds': 'special_tokens',
    'TokenDrop': 'token_drop',
    'TokenImportance': 'token_importance',
    'TokenRestore': 'token_restore',
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
  if name not in _MODULE_OF:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module = importlib.import_module(f'{__name__}.{_MODULE_OF[name]}')
  return getattr(module, name)
