"""S6, the selective state space model of the Mamba block (Gu & Dao 2023, "Mamba: Linear-Time
Sequence Modeling with Selective State Spaces", arXiv:2312.00752, Algorithm 2 and Figure 3).

The Mamba block (the mixer; E = expand · d inner channels, N = d_state, R = dt_rank):

    x, z   = in_proj(u)                                   u (B, T, d) → x, z (B, T, E)
    x      = SiLU(causal depthwise conv1d(x))             kernel d_conv = 4, per channel
    Δ      = softplus(dt_proj(W_Δ x))                     (B, T, E)   low-rank R, then E
    B, C   = W_B x, W_C x                                 (B, T, N)   input-dependent
    A      = −exp(A_log)                                  (E, N)      S4D-real init: A_n = −n
    h_t    = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) B_t         (B, E, N)   zero-order hold for A, Euler for B
    y_t    = h_t C_t + D ⊙ x_t                            (B, E)
    out    = out_proj(y ⊙ SiLU(z))                        (B, T, d)

The block is Mamba's: a pre-norm residual mixer and no MLP after it. The state is the last
d_conv − 1 inputs of the convolution (B, E, d_conv − 1) and h (B, E, N).

- step form (``step``): the equations above for one t, written plainly (generation, ``mode=sequential``);
- parallel form (``parallel``): the convolution over the whole chunk (the carried inputs in
  front, ``blocks.causal_conv``), then the recurrence over time from the carried h:
  ``scan.selective_scan``, chunked as Mamba's kernel is, which keeps the (B, T, E, N) tensors
  out of autograd and out of memory (only cache-sized blocks of them exist at a time).

Parameter names and layout follow mambapy's ``MambaBlock`` (in_proj, conv1d, x_proj, dt_proj,
A_log, D, out_proj), so the same weights give the same outputs there (tests/test_modern_s6.py).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from seqbench.cells.blocks import Block, BlockStack, causal_conv
from seqbench.cells.scan import check_mode, run_steps, selective_scan, use_parallel

State = tuple[torch.Tensor, torch.Tensor]  # conv buffer (B, E, d_conv − 1), h (B, E, N)


class S6(nn.Module):
    """The Mamba block's mixer: (B, T, d) → (B, T, d)."""

    def __init__(self, d: int, d_state: int = 16, expand: float = 2.0, d_conv: int = 4,
                 dt_rank: Optional[int] = None, dt_min: float = 0.001, dt_max: float = 0.1,
                 mode: str = "auto") -> None:
        super().__init__()
        if d_state < 1 or d_conv < 1 or expand <= 0:
            raise ValueError(f"d_state and d_conv must be >= 1 and expand positive, got {d_state}, {d_conv}, {expand}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.mode = check_mode(mode)
        self.inner, self.d_state, self.d_conv = max(1, round(expand * d)), d_state, d_conv
        self.dt_rank = dt_rank or math.ceil(d / 16)
        e, n, r = self.inner, d_state, self.dt_rank
        self.in_proj = nn.Linear(d, 2 * e, bias=False)
        self.conv1d = nn.Conv1d(e, e, d_conv, groups=e)  # causal by the carried buffer in front
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(e, 1))  # (E, N)
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d, bias=False)
        self._init_dt(dt_min, dt_max)

    def _init_dt(self, dt_min: float, dt_max: float, floor: float = 1e-4) -> None:
        """Mamba's Δ init: softplus(bias) log-uniform in [dt_min, dt_max]; weights ±R^-½."""
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        dt = torch.exp(torch.rand(self.inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)

    def initial_state(self, x: torch.Tensor) -> State:
        return (x.new_zeros(x.shape[0], self.inner, self.d_conv - 1),
                x.new_zeros(x.shape[0], self.inner, self.d_state))

    def _selection(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Δ (…, E), B (…, N), C (…, N) from x (…, E)."""
        dt, b, c = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt)), b, c

    def step(self, u: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One step: u (B, d) → y (B, d)."""
        buffer, h = state
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([buffer, x.unsqueeze(-1)], dim=-1)  # (B, E, d_conv)
        x = F.silu((window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias)
        delta, b, c = self._selection(x)  # (B, E), (B, N), (B, N)
        decay = torch.exp(delta.unsqueeze(-1) * -torch.exp(self.A_log))  # (B, E, N)
        h = decay * h + (delta * x).unsqueeze(-1) * b.unsqueeze(1)
        y = (h * c.unsqueeze(1)).sum(-1) + self.D * x  # (B, E)
        return self.out_proj(y * F.silu(z)), (window[..., 1:], h)

    def parallel(self, u: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """A whole chunk: u (B, T, d) → y (B, T, d), from and to the state."""
        buffer, h0 = state
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x, buffer = causal_conv(x, buffer.transpose(1, 2), self.conv1d)
        x = F.silu(x)  # (B, T, E)
        delta, b, c = self._selection(x)  # (B, T, E), (B, T, N), (B, T, N)
        y, h = selective_scan(delta, -torch.exp(self.A_log), b, c, x, h0)  # (B, T, E), h_T (B, E, N)
        y = y + self.D * x
        return self.out_proj(y * F.silu(z)), (buffer.transpose(1, 2), h)

    def forward(self, u: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        state = self.initial_state(u) if state is None else state
        if use_parallel(self.mode, u.shape[1]):
            return self.parallel(u, state)
        return run_steps(self.step, u, state)


def mixer(d: int, **options) -> S6:
    """The bare S6 mixer (for ``--backbone block``); options as for ``build_s6``."""
    return S6(d, **options)


def build_s6(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, mode: str = "auto",
             d_state: int = 16, expand: float = 2.0, d_conv: int = 4, dt_rank: Optional[int] = None) -> BlockStack:
    """Mamba blocks of width ``hidden_size`` (S6 mixer, no MLP)."""
    return BlockStack(input_size, hidden_size, num_layers, lambda _: Block(
        hidden_size, S6(hidden_size, d_state, expand, d_conv, dt_rank, mode=mode), None, dropout))
