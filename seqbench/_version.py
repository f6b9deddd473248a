"""seqbench's version, in one place (the lowest layer: every layer may read it)."""
__version__ = "0.1.0"
