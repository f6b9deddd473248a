"""Corpora for the character language model and their downloads."""
