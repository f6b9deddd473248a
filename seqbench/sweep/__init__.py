"""Sweeps: search spaces expanded into trial specs (space.py), every configuration built
cheaply before training (validate.py), the sweep's size and time shown first (estimate.py),
and per-cell selection on the validation split (tune.py)."""
