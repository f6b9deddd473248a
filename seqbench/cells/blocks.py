"""The residual block stack that modern layers sit in, shared by their files and by the block
backbone (``--backbone block``), which puts any cell, classic ones included, in the same block.

A stack maps (B, T, input) to (B, T, d), ``d`` being the model width (``hidden``)::

    h_0 = W_in x              (a linear projection; the identity when input == d)
    for each layer l:
        h = h + mixer_l(norm(h))          # the sequence mixer: an RNN, an SSM, attention ...
        h = h + mlp_l(norm(h))            # only where the block has an MLP
    y = norm(h)

A mixer is any module ``mixer(x, state) -> (y, state)`` with x and y of shape (B, T, d); its state
carries the sequence on (a recurrent state, a convolution buffer, a key/value cache). The stack's
state is the tuple of its layers' states, so running chunk by chunk with the state fed back
equals running the whole sequence (``seqbench check``'s step-by-step test).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F


class GatedMLP(nn.Module):
    """SwiGLU feed-forward (Shazeer 2020): ``W_down (silu(W_gate x) * W_up x)``, width ``expand · d``."""

    def __init__(self, d: int, expand: float = 2.0) -> None:
        super().__init__()
        inner = max(1, int(round(expand * d)))
        self.gate_up = nn.Linear(d, 2 * inner, bias=False)
        self.down = nn.Linear(inner, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


def causal_conv(x: torch.Tensor, buffer: torch.Tensor, conv: nn.Conv1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise causal convolution of x (B, T, D) continuing ``buffer`` (B, K-1, D), the last K-1 inputs,
    with the weights of the depthwise ``conv`` (D, 1, K); returns (B, T, D) and the new buffer.
    Written as K shifted multiply-adds in (B, T, D) layout: on CPU several times faster than conv1d
    on the transposed input, forward and backward."""
    xx = torch.cat([buffer, x], dim=1)                              # (B, K-1+T, D)
    weight, length = conv.weight[:, 0], x.shape[1]                  # (D, K)
    y = xx[:, :length] * weight[:, 0] if conv.bias is None else torch.addcmul(conv.bias, xx[:, :length], weight[:, 0])
    for k in range(1, weight.shape[1]):
        y = y.addcmul(xx[:, k:k + length], weight[:, k])
    return y, xx[:, xx.shape[1] - buffer.shape[1]:]


class Block(nn.Module):
    """Pre-norm residual block: ``h + mixer(norm(h))``, then ``h + mlp(norm(h))`` when ``mlp`` is given."""

    def __init__(self, d: int, mixer: nn.Module, mlp: Optional[nn.Module] = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d)
        self.mixer = mixer
        self.mlp_norm = nn.RMSNorm(d) if mlp is not None else None
        self.mlp = mlp
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, h: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        y, state = self.mixer(self.norm(h), state)
        h = h + self._drop(y)
        if self.mlp is not None:
            h = h + self._drop(self.mlp(self.mlp_norm(h)))
        return h, state

    def _drop(self, y: torch.Tensor) -> torch.Tensor:
        return self.dropout(y) if self.dropout is not None else y


class BlockStack(nn.Module):
    """``num_layers`` blocks built by ``make_block(layer_index)``, an input projection and a final norm."""

    def __init__(self, input_size: int, d: int, num_layers: int, make_block: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.hidden_size = d
        self.proj = nn.Linear(input_size, d) if input_size != d else nn.Identity()
        self.blocks = nn.ModuleList(make_block(i) for i in range(num_layers))
        self.norm = nn.RMSNorm(d)

    def forward(self, x: torch.Tensor, state: Optional[Sequence[Any]] = None) -> tuple[torch.Tensor, tuple]:
        h = self.proj(x)
        states = []
        for i, block in enumerate(self.blocks):
            h, s = block(h, None if state is None else state[i])
            states.append(s)
        return self.norm(h), tuple(states)

