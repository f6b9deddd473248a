"""LRU: the Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences", arXiv:2303.06349).

A complex diagonal linear recurrence with N states per layer, input u_t ∈ R^d (their eq. 6-7, §3)::

    λ_j = exp(−exp(ν_j) + i exp(θ_j))          exponential parametrization: |λ_j| < 1 always
    γ_j = exp(γ_log_j),  γ_log initialized to log √(1 − |λ_j|²)      (the γ normalization)
    x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t)             B ∈ C^{N×d}
    y_t = Re(C x_t) + D ⊙ u_t                   C ∈ C^{d×N}, D ∈ R^d

initialized with |λ| uniform on the ring [r_min, r_max] (by area) and phase uniform in
[0, max_phase] (their §3.3; the long-range defaults r_min = 0.9, r_max = 0.999, max_phase = π/10).

The recurrence is time-invariant, so the parallel form is one ``linear_scan`` with a constant λ
(log2(T) rounds of b_t ← b_t + λ^offset b_{t−offset}), exact; ``step`` is the recurrence. Complex
parameters are kept as real and imaginary parts (real tensors, as optimizers and the parameter
count expect). The model: pre-norm residual blocks of the LRU, each followed by a gated MLP
(``blocks.GatedMLP``, SwiGLU; the paper's block puts a GLU after the LRU in the same branch).
State per layer: x as its real and imaginary parts, (B, N, 2): 2N floats. Options: ``d_state``
(N, default d), ``r_min``, ``r_max``, ``max_phase``, ``mode`` (auto | parallel | sequential).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from seqbench.cells.blocks import Block, BlockStack, GatedMLP
from seqbench.cells.linear_scan import linear_scan
from seqbench.cells.rglru import check_mode
from seqbench.cells.scan import run_steps, use_parallel
from seqbench.errors import UsageError


class LRUMixer(nn.Module):
    """The LRU layer, (B, T, d) → (B, T, d); state x as (B, N, 2) real."""

    def __init__(self, d: int, d_state: Optional[int] = None, r_min: float = 0.9, r_max: float = 0.999,
                 max_phase: float = math.pi / 10, mode: str = "auto") -> None:
        super().__init__()
        check_mode("lru", mode)
        n = d if d_state is None else d_state
        if n < 1 or not 0 <= r_min < r_max <= 1 or max_phase <= 0:
            raise UsageError(f"lru: need d_state >= 1, 0 <= r_min < r_max <= 1 and max_phase > 0, "
                             f"got d_state={n}, r_min={r_min}, r_max={r_max}, max_phase={max_phase}")
        self.mode = mode
        radius_squared = torch.empty(n).uniform_(r_min ** 2, r_max ** 2)                  # uniform on the ring
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(radius_squared)))
        self.theta_log = nn.Parameter(torch.log(torch.empty(n).uniform_(0, 1) * max_phase))
        self.gamma_log = nn.Parameter(0.5 * torch.log(1 - radius_squared))
        self.B_re = nn.Parameter(torch.randn(n, d) / math.sqrt(2 * d))
        self.B_im = nn.Parameter(torch.randn(n, d) / math.sqrt(2 * d))
        self.C_re = nn.Parameter(torch.randn(d, n) / math.sqrt(n))
        self.C_im = nn.Parameter(torch.randn(d, n) / math.sqrt(n))
        self.D = nn.Parameter(torch.randn(d))

    def eigenvalues(self) -> torch.Tensor:
        """λ (N,), complex."""
        return torch.polar(torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log))

    def drive(self, u: torch.Tensor) -> torch.Tensor:
        """γ ⊙ (B u), complex (..., N)."""
        gamma = torch.exp(self.gamma_log)
        return torch.complex(gamma * (u @ self.B_re.T), gamma * (u @ self.B_im.T))

    def readout(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Re(C x) + D ⊙ u, real (..., d)."""
        return x.real @ self.C_re.T - x.imag @ self.C_im.T + self.D * u

    def forward(self, u: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = u.new_zeros(u.shape[0], self.nu_log.shape[0], 2)
        if not use_parallel(self.mode, u.shape[1]):
            return run_steps(self.step, u, state)
        x0 = torch.view_as_complex(state.contiguous())                                    # (B, N)
        xs = linear_scan(self.eigenvalues().view(1, 1, -1), self.drive(u), x0)           # (B, T, N)
        return self.readout(xs, u), torch.view_as_real(xs[:, -1])

    def step(self, u_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: u_t (B, d), state (B, N, 2) → y_t (B, d), state."""
        x = self.eigenvalues() * torch.view_as_complex(state.contiguous()) + self.drive(u_t)
        return self.readout(x, u_t), torch.view_as_real(x)


def mixer(d: int, d_state: Optional[int] = None, r_min: float = 0.9, r_max: float = 0.999,
          max_phase: float = math.pi / 10, mode: str = "auto") -> LRUMixer:
    """The bare LRU layer of width d, for the block backbone."""
    return LRUMixer(d, d_state, r_min, r_max, max_phase, mode)


def build_lru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
              d_state: Optional[int] = None, r_min: float = 0.9, r_max: float = 0.999,
              max_phase: float = math.pi / 10, mode: str = "auto") -> BlockStack:
    """Deep LRU: ``num_layers`` residual blocks of (LRU, gated MLP), width hidden_size."""
    def make_block(_: int) -> Block:
        layer = mixer(hidden_size, d_state, r_min, r_max, max_phase, mode)
        return Block(hidden_size, layer, GatedMLP(hidden_size), dropout)

    return BlockStack(input_size, hidden_size, num_layers, make_block)
