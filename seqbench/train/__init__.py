"""The training loop of one trial and what watches it: timing, memory, curves, progress."""
