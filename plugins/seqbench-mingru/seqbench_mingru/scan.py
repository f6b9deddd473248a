"""The parallel scan behind minGRU and minLSTM, in log space (Heinsen 2023).

The recurrence h_t = a_t ⊙ h_{t-1} + b_t with a_t, b_t > 0 unrolls to

    h_t = A_t (h_0 + Σ_{k≤t} b_k / A_k),   A_t = Π_{j≤t} a_j,

so with a* = cumsum(log a):  log h_t = a*_t + logcumsumexp_{k≤t}(log b_k − a*_k). Two cumulative
ops over time replace T sequential steps; working in log space keeps the products A_t from
underflowing over long sequences.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

CHUNK = 128  # time steps per scan; see log_scan


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation: x + 0.5 for x ≥ 0, sigmoid(x) below (continuous at 0)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without ever taking the log of a non-positive number."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: Optional[torch.Tensor] = None,
             chunk: int = CHUNK) -> torch.Tensor:
    """log h_t for every t of h_t = a_t h_{t-1} + b_t, given log a and log b of shape
    (batch, time, dim) and optionally log h_0 of shape (batch, dim) (h_0 = 0 when omitted).

    Scans ``chunk`` steps at a time, carrying h from one chunk into the next: within a chunk
    a* stays small, so a*_t + logcumsumexp(…) does not lose float32 precision to the
    cancellation of two large numbers (a* grows by about 0.7 per step with gates near ½)."""
    if log_a.shape[1] > chunk:
        parts = []
        for start in range(0, log_a.shape[1], chunk):
            log_h0 = _scan(log_a[:, start:start + chunk], log_b[:, start:start + chunk], log_h0)
            parts.append(log_h0)
            log_h0 = log_h0[:, -1]
        return torch.cat(parts, dim=1)
    return _scan(log_a, log_b, log_h0)


def _scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: Optional[torch.Tensor]) -> torch.Tensor:
    if log_h0 is not None:
        log_a = F.pad(log_a, (0, 0, 1, 0))  # h_0 enters at position 0 with coefficient a_0 = 1
        log_b = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)
    a_star = log_a.cumsum(dim=1)
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)
    return log_h[:, 1:] if log_h0 is not None else log_h
