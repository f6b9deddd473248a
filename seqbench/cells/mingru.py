"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201).

Both drop h_{t-1} from the gates, so every gate depends on x_t alone (x_t: the block's
normalized input, width d; the recurrent width is E = round(expand · d)):

    minGRU   z_t = σ(W_z x_t)   h̃_t = g(W_h x_t)   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t
    minLSTM  f_t = σ(W_f x_t)   i_t = σ(W_i x_t)   h̃_t = g(W_h x_t)
             f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
             h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t
    y_t = W_out h_t    (W_out only when E ≠ d)

with g(x) = x + ½ for x ≥ 0 and σ(x) below (the paper's log-space variant, so every h_t > 0).
Both are h_t = a_t ⊙ h_{t−1} + b_t with a_t, b_t > 0 computed from all inputs at once:

- step form (``step``): the recurrence above, one step at a time (generation, ``mode=sequential``);
- parallel form (``parallel``), over all t at once from the carried h, by one of two scans:
  ``scan="log"``, the paper's: the log-space scan of Heinsen 2023 (``scan.log_scan``),
  log h_t = a*_t + logcumsumexp_{k≤t}(log b_k − a*_k), a* = cumsum(log a), from log a and log b
  computed stably (softplus), in chunks of 128 steps; ``scan="linear"`` (the default): the
  Blelloch scan of the same recurrence in linear space (``scan.linear_scan``: products and sums
  only, exact to rounding since 0 < a < 1; about 15× faster than torch's logcumsumexp on CPU,
  forward + backward at B=16, T=1024, E=50, measured by benchmarks/modern_speed.py).

The block is the paper's language-model block (as in lucidrains' minGRULM): a pre-norm residual
mixer, then a pre-norm residual MLP (``blocks.GatedMLP``). The state is h of every layer, (B, E).
Weights are laid out like lucidrains' minGRU-pytorch (``to_hidden_and_gate``: candidate, then
gate(s); no biases), so its modules load them as they are (tests/test_modern_mingru.py).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from seqbench.cells.blocks import Block, BlockStack, GatedMLP
from seqbench.cells.scan import check_mode, linear_scan, log_scan, run_steps, use_parallel

GATES = {"mingru": 1, "minlstm": 2}
SCANS = ("linear", "log")


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation: x + ½ for x ≥ 0, σ(x) below (continuous at 0)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), without ever taking the log of a non-positive number."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


class MinRNN(nn.Module):
    """The minGRU or minLSTM mixer: (B, T, d) → (B, T, d), state h (B, E)."""

    def __init__(self, kind: str, d: int, expand: float = 1.0, mode: str = "auto", scan: str = "linear") -> None:
        super().__init__()
        if kind not in GATES:
            raise ValueError(f"kind must be one of {', '.join(GATES)}, not {kind!r}")
        if expand <= 0:
            raise ValueError(f"expand must be positive, not {expand!r}")
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {', '.join(SCANS)}, not {scan!r}")
        self.kind, self.mode, self.scan = kind, check_mode(mode), scan
        self.inner = max(1, round(expand * d))
        self.to_hidden_and_gate = nn.Linear(d, (GATES[kind] + 1) * self.inner, bias=False)
        self.to_out = nn.Linear(self.inner, d, bias=False) if self.inner != d else nn.Identity()

    def coefficients(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a and b of h_t = a_t h_{t-1} + b_t, straight from the paper's equations."""
        if self.kind == "mingru":
            cand, gate = k.chunk(2, dim=-1)
            z = torch.sigmoid(gate)
            return 1 - z, z * g(cand)
        cand, f, i = k.chunk(3, dim=-1)
        f, i = torch.sigmoid(f), torch.sigmoid(i)
        return f / (f + i), i / (f + i) * g(cand)

    def log_coefficients(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log a and log b, in log space throughout (log σ(x) = −softplus(−x))."""
        if self.kind == "mingru":
            cand, gate = k.chunk(2, dim=-1)
            return -F.softplus(gate), -F.softplus(-gate) + log_g(cand)  # log(1 − z), log z + log h̃
        cand, f, i = k.chunk(3, dim=-1)
        diff = F.softplus(-f) - F.softplus(-i)  # log i − log f
        return -F.softplus(diff), -F.softplus(-diff) + log_g(cand)  # log f', log i' + log h̃

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, d), h (B, E) → y (B, d), h (B, E)."""
        a, b = self.coefficients(self.to_hidden_and_gate(x))
        h = a * h + b
        return self.to_out(h), h

    def parallel(self, x: torch.Tensor, h0: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole chunk: x (B, T, d), h0 (B, E) or None (zero) → y (B, T, d), h_T (B, E)."""
        k = self.to_hidden_and_gate(x)
        if self.scan == "linear":
            h = linear_scan(*self.coefficients(k), h0)  # (B, T, E)
        else:
            log_a, log_b = self.log_coefficients(k)  # (B, T, E) each
            log_h0 = None if h0 is None else h0.clamp_min(torch.finfo(h0.dtype).tiny).log()
            h = log_scan(log_a, log_b, log_h0).exp()
        return self.to_out(h), h[:, -1]

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        if use_parallel(self.mode, x.shape[1]):
            return self.parallel(x, state)
        h0 = x.new_zeros(x.shape[0], self.inner) if state is None else state
        return run_steps(self.step, x, h0)


def mixer(d: int, expand: float = 1.0, mode: str = "auto", scan: str = "linear") -> MinRNN:
    """The bare minGRU mixer (for ``--backbone block``)."""
    return MinRNN("mingru", d, expand, mode, scan)


def _stack(kind: str, input_size: int, d: int, num_layers: int, dropout: float, expand: float,
           mode: str, scan: str) -> BlockStack:
    return BlockStack(input_size, d, num_layers,
                      lambda _: Block(d, MinRNN(kind, d, expand, mode, scan), GatedMLP(d), dropout))


def build_mingru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 mode: str = "auto", expand: float = 1.0, scan: str = "linear") -> BlockStack:
    """minGRU blocks of width ``hidden_size`` (mixer, then gated MLP); ``scan``: linear or log."""
    return _stack("mingru", input_size, hidden_size, num_layers, dropout, expand, mode, scan)


def build_minlstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                  mode: str = "auto", expand: float = 1.0, scan: str = "linear") -> BlockStack:
    """minLSTM blocks of width ``hidden_size`` (mixer, then gated MLP); ``scan``: linear or log."""
    return _stack("minlstm", input_size, hidden_size, num_layers, dropout, expand, mode, scan)


def minlstm_mixer(d: int, expand: float = 1.0, mode: str = "auto", scan: str = "linear") -> MinRNN:
    """The bare minLSTM mixer (for ``--backbone block``)."""
    return MinRNN("minlstm", d, expand, mode, scan)
