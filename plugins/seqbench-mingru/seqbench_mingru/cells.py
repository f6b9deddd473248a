"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Both drop the hidden state from the gates, so every gate depends on x_t alone:

    minGRU   z_t = σ(W_z x_t)   h̃_t = g(W_h x_t)   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t
    minLSTM  f_t = σ(W_f x_t)   i_t = σ(W_i x_t)   h̃_t = g(W_h x_t)
             f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
             h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t

Both are h_t = a_t ⊙ h_{t−1} + b_t with a_t, b_t > 0 computed from the inputs at once, so they
run either step by step (``mode="sequential"``) or as one parallel scan in log space over the
whole sequence (``mode="parallel"``, see ``scan.py``); ``"auto"`` scans when the input has
more than one step. The state is h_T of every layer, shape (layers, batch, inner), so
generation continues step by step from a parallel pass.

Stacking follows the paper: the first layer maps the input to the hidden size; every further
layer is a pre-norm residual block, x + layer(LayerNorm(x)). ``expand`` widens the recurrent
state to round(expand · hidden) with a linear map back to hidden (the paper's expansion factor).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .scan import g, log_g, log_scan

MODES = ("auto", "sequential", "parallel")


class MinLayer(nn.Module):
    """One minGRU or minLSTM layer: (batch, time, input_size) → (batch, time, out_size)."""

    def __init__(self, kind: str, input_size: int, inner_size: int, out_size: int) -> None:
        super().__init__()
        self.kind = kind
        gates = {"mingru": 1, "minlstm": 2}[kind]
        self.proj = nn.Linear(input_size, (gates + 1) * inner_size)  # gate(s) and candidate at once
        self.out = nn.Linear(inner_size, out_size, bias=False) if inner_size != out_size else nn.Identity()

    def coefficients(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a and b of h_t = a_t h_{t-1} + b_t, straight from the paper's equations."""
        if self.kind == "mingru":
            gate, cand = k.chunk(2, dim=-1)
            z = torch.sigmoid(gate)
            return 1 - z, z * g(cand)
        f, i, cand = k.chunk(3, dim=-1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        return f / (f + i), i / (f + i) * g(cand)

    def log_coefficients(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log a and log b, computed stably in log space."""
        if self.kind == "mingru":
            gate, cand = k.chunk(2, dim=-1)
            return -F.softplus(gate), -F.softplus(-gate) + log_g(cand)  # log(1 − z), log z + log h̃
        f, i, cand = k.chunk(3, dim=-1)
        diff = F.softplus(-f) - F.softplus(-i)  # log i − log f
        return -F.softplus(diff), -F.softplus(-diff) + log_g(cand)  # log f', log i' + log h̃

    def forward(self, x: torch.Tensor, h0: Optional[torch.Tensor], parallel: bool) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.proj(x)
        if parallel:
            log_a, log_b = self.log_coefficients(k)
            log_h0 = None if h0 is None else h0.clamp_min(torch.finfo(h0.dtype).tiny).log()
            h = log_scan(log_a, log_b, log_h0).exp()
        else:
            a, b = self.coefficients(k)
            state = torch.zeros_like(b[:, 0]) if h0 is None else h0
            steps = []
            for t in range(x.shape[1]):
                state = a[:, t] * state + b[:, t]
                steps.append(state)
            h = torch.stack(steps, dim=1)
        return self.out(h), h[:, -1]


class MinRNN(nn.Module):
    """A stack of ``num_layers`` minGRU or minLSTM layers, a seqbench cell."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 mode: str = "auto", expand: float = 1.0, residual: bool = True) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if expand <= 0:
            raise ValueError(f"expand must be positive, not {expand!r}")
        self.mode, self.residual, self.num_layers = mode, residual, num_layers
        self.inner_size = max(1, round(expand * hidden_size))
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(MinLayer(kind, n, self.inner_size, hidden_size) for n in sizes)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in sizes[1:]) if residual else None
        self.dropout = nn.Dropout(dropout)

    def flops_per_token(self, hidden: int, layers: int, length: int, input_size: int) -> float:
        """Forward FLOPs per token, for ``seqbench speed``: 2 per multiply-add of every linear map
        (the scan's elementwise work is not counted, as for the built-in cells)."""
        return float(sum(2 * m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear)))

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        parallel = self.mode == "parallel" or (self.mode == "auto" and x.shape[1] > 1)
        last = []
        for i, layer in enumerate(self.layers):
            h0 = None if state is None else state[i]
            if i == 0:
                x, h = layer(x, h0, parallel)
            elif self.residual:
                y, h = layer(self.norms[i - 1](self.dropout(x)), h0, parallel)
                x = x + y
            else:
                x, h = layer(self.dropout(x), h0, parallel)
            last.append(h)
        return x, torch.stack(last)


def mingru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
           mode: str = "auto", expand: float = 1.0, residual: bool = True) -> MinRNN:
    return MinRNN("mingru", input_size, hidden_size, num_layers, dropout, mode, expand, residual)


def minlstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
            mode: str = "auto", expand: float = 1.0, residual: bool = True) -> MinRNN:
    return MinRNN("minlstm", input_size, hidden_size, num_layers, dropout, mode, expand, residual)
