"""Parallel scans of the linear recurrence h_t = a_t ⊙ h_{t-1} + b_t, and the plain step loop.

Modern recurrent layers (minGRU, minLSTM, S6, ...) run this recurrence with a_t, b_t computed
from all inputs at once, so the T sequential steps can be replaced by a scan over time:

- ``log_scan`` (Heinsen 2023, "Efficient Parallelization of a Ubiquitous Sequential
  Computation"), for a, b > 0: with a* = cumsum(log a),
  log h_t = a*_t + logcumsumexp_{k≤t}(log b_k − a*_k): two cumulative ops over time;
- ``linear_scan`` (Blelloch 1990, "Prefix sums and their applications"), for any real b and
  decays a: an up-sweep and a down-sweep over log2 T levels, O(T) work, exact (the same
  products and sums as the recurrence, only reassociated; no exp of a growing number), with a
  backward pass that is the same scan run backwards in time (so only h is kept for autograd).

``run_steps`` is the other way, one ``step`` per time step, the reference for both.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F

MODES = ("auto", "parallel", "sequential")
CHUNK = 128  # time steps per log-space scan; see log_scan


def check_mode(mode: str) -> str:
    """``mode`` when it is one of MODES, else a ValueError naming them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def use_parallel(mode: str, length: int) -> bool:
    """Whether a mixer in ``mode`` runs a chunk of ``length`` steps in parallel form (auto: T > 1)."""
    return mode == "parallel" or (mode == "auto" and length > 1)


def run_steps(step: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]], x: torch.Tensor,
              state: Any) -> tuple[torch.Tensor, Any]:
    """``step(x_t, state) -> (y_t, state)`` over every t of x (B, T, ...); (y (B, T, ...), final state)."""
    outputs = []
    for t in range(x.shape[1]):
        y, state = step(x[:, t], state)
        outputs.append(y)
    return torch.stack(outputs, dim=1), state


# --------------------------------------------------------------------------- log space (a, b > 0)


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: Optional[torch.Tensor] = None,
             chunk: int = CHUNK) -> torch.Tensor:
    """log h_t for every t, from log a and log b of shape (B, T, ...) and optionally log h_0 (B, ...)
    (h_0 = 0 when omitted).

    Scans ``chunk`` steps at a time, carrying h from one chunk into the next: within a chunk a*
    stays small, so a*_t + logcumsumexp(…) does not lose float32 precision to the cancellation of
    two large numbers (a* grows by about 0.7 per step with gates near ½)."""
    parts = []
    for start in range(0, log_a.shape[1], chunk):
        log_h0 = _log_scan(log_a[:, start:start + chunk], log_b[:, start:start + chunk], log_h0)
        parts.append(log_h0)
        log_h0 = log_h0[:, -1]
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def _log_scan(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: Optional[torch.Tensor]) -> torch.Tensor:
    if log_h0 is not None:  # h_0 enters at position 0 with coefficient a_0 = 1
        log_a = F.pad(log_a, (0,) * (2 * (log_a.dim() - 2)) + (1, 0))
        log_b = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)
    a_star = log_a.cumsum(dim=1)
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)
    return log_h[:, 1:] if log_h0 is not None else log_h


# --------------------------------------------------------------------------- Blelloch (any b)


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: Optional[torch.Tensor] = None) -> torch.Tensor:
    """h (B, T, ...) of h_t = a_t ⊙ h_{t-1} + b_t for a, b of shape (B, T, ...) and h_0 (B, ...)
    (zero when omitted); differentiable in a, b and h_0."""
    if h0 is None:
        h0 = a.new_zeros(a.shape[:1] + a.shape[2:])
    return _LinearScan.apply(a, b, h0)


def blelloch_(a: torch.Tensor, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """In place on x (a is overwritten): x_t ← a_t x_{t-1} + x_t for every t along dim 1, or with
    ``reverse`` x_t ← a_t x_{t+1} + x_t; the length must be a power of 2. Up-sweep: each pair of
    blocks is combined into its later element, (a_late a_early, a_late x_early + x_late);
    down-sweep: each earlier element of a pair takes the prefix that precedes it from the later
    element of the pair before. Returns x."""
    early, late = (1, 0) if reverse else (0, 1)
    whole, levels = x, []
    while a.shape[1] > 1:
        a, x = a.unflatten(1, (-1, 2)), x.unflatten(1, (-1, 2))
        x[:, :, late].addcmul_(a[:, :, late], x[:, :, early])
        if a.shape[1] > 1:  # the top level's product is never read
            a[:, :, late].mul_(a[:, :, early])
        levels.append((a, x))
        a, x = a[:, :, late], x[:, :, late]
    for a, x in reversed(levels):
        if reverse:
            x[:, :-1, 1].addcmul_(a[:, :-1, 1], x[:, 1:, 0])
        else:
            x[:, 1:, 0].addcmul_(a[:, 1:, 0], x[:, :-1, 1])
    return whole


def _padded(t: torch.Tensor, length: int, fill: float) -> torch.Tensor:
    """A copy of t (B, T, ...) whose time dimension is padded with ``fill`` to ``length``."""
    if t.shape[1] == length:
        return t.clone(memory_format=torch.contiguous_format)
    out = t.new_full((t.shape[0], length) + tuple(t.shape[2:]), fill)
    out[:, :t.shape[1]] = t
    return out


def _scan(a: torch.Tensor, b: torch.Tensor, reverse: bool = False, in_place: bool = False) -> torch.Tensor:
    """The inclusive scan of (a, b) along dim 1 from a zero state (see blelloch_), on copies
    padded to a power of 2 with a = 1, b = 0 (padding at the end changes no earlier prefix; in
    reverse, b = 0 keeps the padding zero). ``in_place``: a and b may be overwritten."""
    length = b.shape[1]
    padded = 1 << max(0, (length - 1).bit_length())
    if in_place and padded == length and a.is_contiguous() and b.is_contiguous():
        return blelloch_(a, b, reverse)
    return blelloch_(_padded(a, padded, 1.0), _padded(b, padded, 0.0), reverse)[:, :length]


class _LinearScan(torch.autograd.Function):
    """Forward: the scan. Backward: g_t = ∂L/∂h_t + a_{t+1} g_{t+1} (the scan backwards in time),
    then ∂L/∂b_t = g_t, ∂L/∂a_t = g_t h_{t-1}, ∂L/∂h_0 = a_0 g_0."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        b = b.clone()
        b[:, 0] += a[:, 0] * h0
        h = _scan(a, b)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, h, h0 = ctx.saved_tensors
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1)
        g = _scan(a_next, grad_h, reverse=True)
        h_prev = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)
        return g * h_prev, g, a[:, 0] * g[:, 0]


def selective_scan(delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, x: torch.Tensor,
                   h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """S6's scan in one differentiable step (Gu & Dao 2023): from Δ (B, T, E), A (E, N),
    B and C (B, T, N), x (B, T, E) and h_0 (B, E, N),

        h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) B_t,    y_t = h_t C_t,

    returns y (B, T, E) and h_T (B, E, N). The (B, T, E, N) tensors live only inside the forward
    and backward passes (h is kept for the backward; exp(Δ A) is recomputed there), so autograd
    stores none of the intermediate products."""
    return _SelectiveScan.apply(delta, a, b, c, x, h0)


class _SelectiveScan(torch.autograd.Function):
    """Backward: g_t = ∂L/∂h_t (from y_t and, at T, from h_T) + exp(Δ_{t+1} A) g_{t+1}, the scan
    backwards in time; then with s_t = g_t ⊙ h_{t−1} ⊙ exp(Δ_t A):
    ∂Δ = Σ_n s A + x Σ_n g B,  ∂A = Σ_{b,t} s Δ,  ∂B = Σ_e g Δ x,  ∂C = Σ_e h ∂y,
    ∂x = Δ Σ_n g B,  ∂h_0 = g_0 exp(Δ_0 A)."""

    @staticmethod
    def forward(ctx: Any, delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        decay = torch.exp(delta.unsqueeze(-1) * a)  # (B, T, E, N)
        drive = (delta * x).unsqueeze(-1) * b.unsqueeze(2)  # (B, T, E, N)
        drive[:, 0] += decay[:, 0] * h0
        h = _scan(decay, drive, in_place=True)
        ctx.save_for_backward(delta, a, b, c, x, h0, h)
        return torch.einsum("bten,btn->bte", h, c), h[:, -1]

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, grad_last: torch.Tensor) -> tuple[torch.Tensor, ...]:
        delta, a, b, c, x, h0, h = ctx.saved_tensors
        decay = torch.exp(delta.unsqueeze(-1) * a)
        grad_h = grad_y.unsqueeze(-1) * c.unsqueeze(2)  # (B, T, E, N)
        grad_h[:, -1] += grad_last
        decay_next = torch.empty_like(decay)
        decay_next[:, :-1], decay_next[:, -1] = decay[:, 1:], 0.0
        g = _scan(decay_next, grad_h, reverse=True, in_place=True)
        s = g * decay
        s[:, 1:] *= h[:, :-1]
        s[:, 0] *= h0
        g_b = torch.einsum("bten,btn->bte", g, b)
        grad_delta = torch.einsum("bten,en->bte", s, a) + g_b * x
        grad_a = torch.einsum("bten,bte->en", s, delta)
        grad_b = torch.einsum("bten,bte->btn", g, delta * x)
        grad_c = torch.einsum("bten,bte->btn", h, grad_y)
        return grad_delta, grad_a, grad_b, grad_c, g_b * delta, g[:, 0] * decay[:, 0]
