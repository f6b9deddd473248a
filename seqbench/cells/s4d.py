"""S4D, a diagonal linear time-invariant state space model (Gu, Gupta, Goel & Ré 2022, "On the
Parameterization and Initialization of Diagonal State Space Models", arXiv:2206.11893), as in
the paper's standalone ``s4d.py``: the non-selective contrast to S6 (Δ, B, C do not depend on x).

Per channel h = 1..d (the model width), with N/2 complex modes n (conjugate pairs, hence 2·Re):

    A_n = −exp(log_A_real_n) + i·A_imag_n     S4D-Lin: −½ + iπn;  S4D-Inv: −½ + i(N/π)(N/(2n+1) − 1)
    Ā = exp(Δ A),  B̄ = (Ā − 1)/A · B          zero-order hold, B = 1 (folded into C), Δ = exp(log_dt)
    h_t = Ā ⊙ h_{t−1} + B̄ u_t                 (B, d, N/2) complex
    y_t = 2·Re(C · h_t) + D u_t
    out = GLU(W_out GELU(y))                   (the layer's output linear, d → 2d → d)

- step form (``step``): the recurrence above for one t (generation, ``mode=sequential``);
- parallel form (``parallel``): y = K * u, a causal convolution with the kernel
  K_l = 2·Re(Σ_n C_n B̄_n Ā_n^l) (a Vandermonde product), computed by FFT padded to 2T; the carried
  state adds 2·Re(C Ā^{t+1} h_0) and the final state is Ā^T h_0 + Σ_k Ā^{T−1−k} B̄ u_k.

The block is the S4 model's: a pre-norm residual layer and no MLP after it (the output linear
with GLU is inside the layer). The state is h/B̄ (B̄ folded into C) as a real view, (B, d, N/2, 2): d·N floats.
Not done here: the paper trains A and Δ with a smaller learning rate and no weight decay.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from seqbench.cells.blocks import Block, BlockStack
from seqbench.cells.scan import check_mode, run_steps, use_parallel

INITS = ("lin", "inv")


class S4D(nn.Module):
    """The S4D layer: (B, T, d) → (B, T, d); ``d_state`` = N, i.e. N/2 complex modes per channel."""

    def __init__(self, d: int, d_state: int = 64, init: str = "lin", dt_min: float = 0.001, dt_max: float = 0.1,
                 mode: str = "auto") -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {init!r}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be an even number >= 2, not {d_state!r}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.mode, self.modes = check_mode(mode), d_state // 2
        n = torch.arange(self.modes, dtype=torch.float32)
        imag = math.pi * n if init == "lin" else d_state / math.pi * (d_state / (2 * n + 1) - 1)
        self.log_dt = nn.Parameter(torch.rand(d) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.C = nn.Parameter(torch.randn(d, self.modes, 2) * 0.5 ** 0.5)  # complex N(0, 1) as a real view
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(d, self.modes)))
        self.A_imag = nn.Parameter(imag.repeat(d, 1))
        self.D = nn.Parameter(torch.randn(d))
        self.output_linear = nn.Linear(d, 2 * d)

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Ā, C·B̄ (d, N/2) complex and Δ·A (d, N/2), zero-order hold."""
        a = -torch.exp(self.log_A_real) + 1j * self.A_imag  # (d, N/2)
        dt_a = a * torch.exp(self.log_dt).unsqueeze(-1)
        a_bar = torch.exp(dt_a)
        return a_bar, torch.view_as_complex(self.C) * (a_bar - 1.0) / a, dt_a

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return F.glu(self.output_linear(F.gelu(y)), dim=-1)

    def initial_state(self, u: torch.Tensor) -> torch.Tensor:
        return u.new_zeros(u.shape[0], u.shape[-1], self.modes, 2)

    def step(self, u: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: u (B, d), state (B, d, N/2, 2) → y (B, d), state."""
        a_bar, c_b, _ = self.discrete()
        h = a_bar * torch.view_as_complex(state) + u.unsqueeze(-1)  # h/B̄: B̄ is folded into C·B̄
        y = 2 * (c_b * h).sum(-1).real + self.D * u
        return self._out(y), torch.view_as_real(h)

    def parallel(self, u: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole chunk: u (B, T, d) → y (B, T, d), from and to the state."""
        length = u.shape[1]
        a_bar, c_b, dt_a = self.discrete()
        powers = torch.exp(dt_a.unsqueeze(-1) * torch.arange(length + 1, device=u.device))  # Ā^l (d, N/2, T+1)
        kernel = 2 * torch.einsum("hn,hnl->hl", c_b, powers[..., :length]).real  # (d, T)
        v = u.transpose(1, 2)  # (B, d, T)
        y = torch.fft.irfft(torch.fft.rfft(v, n=2 * length) * torch.fft.rfft(kernel, n=2 * length), n=2 * length)
        h0 = torch.view_as_complex(state)  # (B, d, N/2)
        y = y[..., :length] + 2 * torch.einsum("bhn,hnl->bhl", c_b * h0, powers[..., 1:]).real
        y = y.transpose(1, 2) + self.D * u  # (B, T, d)
        h = powers[..., length] * h0 + torch.einsum("bhl,hnl->bhn", v.flip(-1).to(powers.dtype), powers[..., :length])
        return self._out(y), torch.view_as_real(h)

    def forward(self, u: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.initial_state(u) if state is None else state
        if use_parallel(self.mode, u.shape[1]):
            return self.parallel(u, state)
        return run_steps(self.step, u, state)


def mixer(d: int, **options) -> S4D:
    """The bare S4D layer (for ``--backbone block``); options as for ``build_s4d``."""
    return S4D(d, **options)


def build_s4d(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, mode: str = "auto",
              d_state: int = 64, init: str = "lin") -> BlockStack:
    """S4 blocks of width ``hidden_size`` (S4D layer with its output GLU, no MLP)."""
    return BlockStack(input_size, hidden_size, num_layers,
                      lambda _: Block(hidden_size, S4D(hidden_size, d_state, init, mode=mode), None, dropout))
