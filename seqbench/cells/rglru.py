"""RG-LRU: the Real-Gated Linear Recurrent Unit of Hawk (De et al. 2024, "Griffin: Mixing Gated
Linear Recurrences with Local Attention for Efficient Language Models", arXiv:2402.19427).

The recurrence, per channel, with x_t the output of the short convolution (Griffin eqs. 1-4)::

    r_t = σ(W_a x_t + b_a)                      recurrence gate   (block-diagonal W_a, ``heads`` blocks)
    i_t = σ(W_x x_t + b_x)                      input gate        (block-diagonal W_x)
    a_t = σ(Λ)^(c r_t),  c = 8                  i.e.  log a_t = −c r_t softplus(−Λ)
    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ x_t)

The mixer is Griffin's recurrent block (Fig. 2): two branches from the normed input u,
``gelu(W_y u)`` and ``W_x u → causal depthwise conv1d (width 4) → RG-LRU``, multiplied and
projected back, ``W_out (gelu_branch ⊙ rglru_branch)``. The model is Hawk: pre-norm residual
blocks of this mixer, each followed by a gated MLP (``blocks.GatedMLP``: SwiGLU, expansion 2,
where Griffin uses GeGLU with expansion 3).

Forms: ``step`` is the recurrence written once (the reference); the parallel form computes every
gate at once and runs h_t = a_t h_{t−1} + b_t with ``linear_scan`` (exact, no log-space
division). State per layer: the convolution's last ``conv − 1`` inputs (B, conv − 1, e) and
h (B, e), e = round(expand · d). Options: ``expand`` (1), ``heads`` (1), ``conv`` (4), ``c`` (8),
``mode`` (auto | parallel | sequential).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from seqbench.cells.blocks import Block, BlockStack, GatedMLP
from seqbench.cells.linear_scan import linear_scan
from seqbench.cells.scan import MODES, run_steps, use_parallel
from seqbench.errors import UsageError

def check_mode(cell: str, mode: str) -> None:
    """A one-line error for a ``mode`` option other than auto, parallel, sequential."""
    if mode not in MODES:
        raise UsageError(f"{cell}: mode must be one of {', '.join(MODES)}, not {mode!r}")


class CausalConv1d(nn.Module):
    """Depthwise causal convolution over time, y_t = b + Σ_j w_j ⊙ x_{t−width+1+j}; its state is
    the last ``width − 1`` inputs (B, width − 1, channels), zeros at the start."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.conv = nn.Conv1d(channels, channels, width, groups=channels)

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.width - 1, x.shape[2])

    def forward(self, x: torch.Tensor, buffer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        padded = torch.cat([buffer, x], dim=1)                              # (B, width−1+T, C)
        y = self.conv(padded.transpose(1, 2)).transpose(1, 2)               # (B, T, C)
        return y, padded[:, padded.shape[1] - (self.width - 1):]


class BlockDiagonalLinear(nn.Module):
    """``heads`` independent (e/heads × e/heads) linear maps on consecutive channel blocks."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, block = heads, width // heads
        self.weight = nn.Parameter(torch.randn(heads, block, block) / math.sqrt(block))
        self.bias = nn.Parameter(torch.zeros(heads, block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.unflatten(-1, (self.heads, -1))                          # (..., heads, block)
        return (torch.einsum("...hi,hij->...hj", blocks, self.weight) + self.bias).flatten(-2)


class RGLRU(nn.Module):
    """The gated diagonal recurrence; ``forward`` is the parallel form, ``step`` the recurrence."""

    def __init__(self, width: int, heads: int = 1, c: float = 8.0) -> None:
        super().__init__()
        self.c = c
        self.input_gate = BlockDiagonalLinear(width, heads)
        self.recurrence_gate = BlockDiagonalLinear(width, heads)
        # Λ so that a = σ(Λ)^c lies in [0.9, 0.999] at r = 1 (Griffin's initialization)
        a = torch.empty(width).uniform_(0.9 ** 2, 0.999 ** 2).sqrt() ** (1 / c)
        self.Lambda = nn.Parameter(torch.log(a / (1 - a)))

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a_t and b_t = √(1 − a_t²) (i_t x_t), for x of any leading shape."""
        r, i = torch.sigmoid(self.recurrence_gate(x)), torch.sigmoid(self.input_gate(x))
        log_a = -self.c * r * F.softplus(-self.Lambda)
        multiplier = torch.sqrt((-torch.expm1(2 * log_a)).clamp_min(1e-12))   # √(1 − a²), accurate near a = 1
        return torch.exp(log_a), multiplier * (i * x)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients(x)                                         # (B, T, e) each
        return linear_scan(a, b, h)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients(x_t)                                       # (B, e) each
        return a * h + b


class RecurrentBlockMixer(nn.Module):
    """Griffin's recurrent block: ``W_out(gelu(W_y u) ⊙ RG-LRU(conv(W_x u)))``, (B, T, d) → (B, T, d)."""

    def __init__(self, d: int, expand: float = 1.0, heads: int = 1, conv: int = 4, c: float = 8.0,
                 mode: str = "auto") -> None:
        super().__init__()
        check_mode("rglru", mode)
        width = max(heads, int(round(expand * d)))
        if width % heads or conv < 1:
            raise UsageError(f"rglru: width {width} is not divisible by heads={heads}" if width % heads
                             else f"rglru: conv must be at least 1, not {conv}")
        self.mode = mode
        self.linear_y = nn.Linear(d, width)
        self.linear_x = nn.Linear(d, width)
        self.conv = CausalConv1d(width, conv)
        self.rg_lru = RGLRU(width, heads, c)
        self.linear_out = nn.Linear(width, d)

    def forward(self, u: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        if state is None:
            zeros = u.new_zeros(u.shape[0], self.linear_x.out_features)
            state = (self.conv.initial_state(zeros.unsqueeze(1)), zeros)
        if not use_parallel(self.mode, u.shape[1]):
            return run_steps(self.step, u, state)
        buffer, h = state
        x, buffer = self.conv(self.linear_x(u), buffer)                     # (B, T, e)
        hs = self.rg_lru(x, h)                                              # (B, T, e)
        gate = F.gelu(self.linear_y(u), approximate="tanh")
        return self.linear_out(gate * hs), (buffer, hs[:, -1])

    def step(self, u_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One step: u_t (B, d), state (conv buffer (B, conv−1, e), h (B, e)) → y_t (B, d), state."""
        buffer, h = state
        x_t, buffer = self.conv(self.linear_x(u_t).unsqueeze(1), buffer)
        h = self.rg_lru.step(x_t.squeeze(1), h)
        gate = F.gelu(self.linear_y(u_t), approximate="tanh")
        return self.linear_out(gate * h), (buffer, h)


def mixer(d: int, expand: float = 1.0, heads: int = 1, conv: int = 4, c: float = 8.0,
          mode: str = "auto") -> RecurrentBlockMixer:
    """The bare RG-LRU recurrent block of width d, for the block backbone."""
    return RecurrentBlockMixer(d, expand, heads, conv, c, mode)


def build_rglru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                expand: float = 1.0, heads: int = 1, conv: int = 4, c: float = 8.0,
                mode: str = "auto") -> BlockStack:
    """Hawk: ``num_layers`` residual blocks of (RG-LRU recurrent block, gated MLP), width hidden_size."""
    def make_block(_: int) -> Block:
        return Block(hidden_size, mixer(hidden_size, expand, heads, conv, c, mode), GatedMLP(hidden_size), dropout)

    return BlockStack(input_size, hidden_size, num_layers, make_block)
