"""The parallel form of a diagonal linear recurrence ``h_t = a_t ⊙ h_{t−1} + b_t`` (RG-LRU, LRU).

Each step is an affine map ``h ↦ a_t h + b_t``; composing two of them is again one,
``(a_2, b_2) ∘ (a_1, b_1) = (a_2 a_1, a_2 b_1 + b_2)``, and composition is associative, so all
prefixes come out of log2(T) doubling rounds (Hillis & Steele 1986; Blelloch 1990)::

    for offset = 1, 2, 4, ... < T:
        b_t ← b_t + a_t b_{t−offset}        a_t ← a_t a_{t−offset}        (t ≥ offset)

After the round with ``offset``, position t holds the map of the window (t − 2·offset, t]; the
initial state enters as ``b_0 ← b_0 + a_0 h_0``. Only products and sums, never a division or a
logarithm, so it is exact (to rounding) for any real or complex a, including a_t = 0, and
gradients flow through ordinary autograd. O(T log T) work in about 3·log2(T) tensor ops.

A time-invariant a (given with time dimension 1, as the LRU's λ) needs no tensor of products: every
position the round updates has a_t = a^offset, so the round is ``b_t ← b_t + a^offset b_{t−offset}``
with a^offset squared each round.
"""
from __future__ import annotations

import torch


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """All states h_1..h_T of ``h_t = a_t h_{t−1} + b_t`` along dim 1.

    a: (B, T, ...), or (B or 1, 1, ...) for the same a at every step; b: (B, T, ...); h0: (B, ...).
    Returns (B, T, ...).
    """
    constant = a.shape[1] == 1 and b.shape[1] > 1
    b = torch.cat([b[:, :1] + a[:, :1] * h0.unsqueeze(1), b[:, 1:]], dim=1)
    offset, length = 1, b.shape[1]
    while offset < length:
        if constant:  # a holds a^offset
            b = torch.cat([b[:, :offset], b[:, offset:] + a * b[:, :-offset]], dim=1)
            a = a * a
        else:
            b = torch.cat([b[:, :offset], b[:, offset:] + a[:, offset:] * b[:, :-offset]], dim=1)
            a = torch.cat([a[:, :offset], a[:, offset:] * a[:, :-offset]], dim=1)
        offset *= 2
    return b
