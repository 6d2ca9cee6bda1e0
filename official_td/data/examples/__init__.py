"""Pure example stages (no Beam): tokenize, pack, mask, serialize; options and keys."""
