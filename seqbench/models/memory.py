"""Training memory computed, not measured: on a CPU the process's resident-set growth is
allocator noise for small models, so tables show this figure there instead.

``train_mb`` = parameters, their gradients and Adam's two moments (4 × params floats) plus
the activations a training step keeps for backward: batch × T × hidden floats per layer
times ``KEPT_PER_UNIT`` for the built-in cells (fused kernels keep their gates and states),
2 for any other (a lower bound), plus the input and output.
"""
from __future__ import annotations

from typing import Optional

# Floats per token, layer and hidden unit that a training step keeps for backward.
KEPT_PER_UNIT = {"rnn": 2, "lstm": 6, "gru": 5, "transformer": 16}
PLUGIN_KEPT = 2


def kept_per_unit(cell: Optional[str]) -> int:
    """``KEPT_PER_UNIT`` of a cell name (a ``*-ref`` cell counts as its fused twin)."""
    return KEPT_PER_UNIT.get((cell or "").removesuffix("-ref"), PLUGIN_KEPT)


def activation_bytes(kept: int, batch: int, length: int, hidden: int, layers: int, element: int = 4) -> int:
    """Input, output and the activations kept for backward of one training step."""
    return element * batch * length * hidden * (2 + layers * kept)


def train_mb(cell: Optional[str], params: float, batch: float, length: float, hidden: float, layers: float,
             element: int = 4) -> float:
    """Megabytes (2^20 bytes) a training step of ``cell`` holds: weights, gradients, Adam
    state and the activations kept for backward."""
    state = 4 * float(params) * element
    acts = activation_bytes(kept_per_unit(cell), int(batch), int(length), int(hidden), int(layers), element)
    return (state + acts) / 2**20
