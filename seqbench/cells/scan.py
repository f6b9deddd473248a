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


SCAN_BLOCK = 1 << 19  # elements of one (B, L, E, N) block of the selective scan; see selective_scan


def selective_scan(delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, x: torch.Tensor,
                   h0: torch.Tensor, block: int = SCAN_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """S6's scan in one differentiable step (Gu & Dao 2023): from Δ (B, T, E), A (E, N),
    B and C (B, T, N), x (B, T, E) and h_0 (B, E, N),

        h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) B_t,    y_t = h_t C_t,

    returns y (B, T, E) and h_T (B, E, N). Chunked, as Mamba's kernel is: time is cut into chunks
    of L steps whose (B, L, E, N) tensors hold about ``block`` elements (so they stay in the CPU's
    cache, in buffers reused from chunk to chunk); per chunk exp(Δ A), the drive and y (and in the
    backward pass every gradient's reduction) are batched ops, and the recurrence itself is one
    fused multiply-add per step. Only y, h_T and h at each chunk's start are kept: the backward
    pass recomputes each chunk's h from there, so no (B, T, E, N) tensor is ever stored. Without
    gradients (evaluation, generation) nothing is kept at all."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (delta, a, b, c, x, h0)):
        return _SelectiveScan.apply(delta, a, b, c, x, h0, block)
    y, h, _, _ = _scan_forward(delta, a, b, c, delta * x, h0, block, keep_starts=False)
    return y, h


def _chunk_length(delta: torch.Tensor, a: torch.Tensor, block: int) -> int:
    """Steps per chunk: ``block`` elements of (B, L, E, N), at least one step, at most T."""
    per_step = delta.shape[0] * delta.shape[2] * a.shape[1]
    return max(1, min(delta.shape[1], block // max(1, per_step)))


def _chunk_states(delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, dx: torch.Tensor, h: torch.Tensor,
                  decay: torch.Tensor, states: torch.Tensor) -> None:
    """One chunk's exp(Δ A) into ``decay`` and its h_t into ``states`` (both (B, L, E, N)), from h (B, E, N)."""
    torch.mul(delta.unsqueeze(-1), a, out=decay).exp_()
    torch.mul(dx.unsqueeze(-1), b.unsqueeze(2), out=states)
    states[:, 0].addcmul_(decay[:, 0], h)
    for t in range(1, states.shape[1]):
        states[:, t].addcmul_(decay[:, t], states[:, t - 1])


def _scan_forward(delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, dx: torch.Tensor,
                  h0: torch.Tensor, block: int, keep_starts: bool) -> tuple[torch.Tensor, torch.Tensor, Any, int]:
    """The forward scan chunk by chunk, from ``dx`` = Δ ⊙ x: (y, h_T, h at each chunk's start
    stacked on dim 1 when ``keep_starts`` else None, the chunk length)."""
    length = _chunk_length(delta, a, block)
    decay = delta.new_empty((delta.shape[0], length) + a.shape)  # buffers, reused by every chunk
    states, y = torch.empty_like(decay), torch.empty_like(delta)
    h, starts = h0, []
    for start in range(0, delta.shape[1], length):
        chunk = slice(start, start + length)
        size = dx[:, chunk].shape[1]
        if keep_starts:
            starts.append(h)
        _chunk_states(delta[:, chunk], a, b[:, chunk], dx[:, chunk], h, decay[:, :size], states[:, :size])
        y[:, chunk] = _vector_times_matrices(c[:, chunk], states[:, :size])
        h = states[:, size - 1].clone()
    return y, h, torch.stack(starts, dim=1) if keep_starts else None, length


def _vector_times_matrices(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """m (B, L, E, N) times v (B, L, N) → (B, L, E), written v mᵀ: the fast batched-matmul path."""
    return (v.unsqueeze(-2) @ m.transpose(-1, -2)).squeeze(-2)


class _SelectiveScan(torch.autograd.Function):
    """Backward, chunk by chunk from the last: g_t = ∂L/∂h_t (from y_t and, at T, from h_T) +
    exp(Δ_{t+1} A) g_{t+1}, the scan backwards in time; then with s_t = g_t ⊙ h_{t−1} ⊙ exp(Δ_t A):
    ∂Δ = Σ_n s A + x Σ_n g B,  ∂A = Σ_{b,t} s Δ,  ∂B = Σ_e g Δ x,  ∂C = Σ_e h ∂y,
    ∂x = Δ Σ_n g B,  ∂h_0 = g_0 exp(Δ_0 A). Results go straight into preallocated (B, T, …) tensors:
    on CPU a fresh large tensor per op costs more (page faults) than the op."""

    @staticmethod
    def forward(ctx: Any, delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                x: torch.Tensor, h0: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        dx = delta * x
        y, h, starts, ctx.length = _scan_forward(delta, a, b, c, dx, h0, block, keep_starts=True)
        ctx.save_for_backward(delta, a, b, c, x, dx, starts)
        return y, h

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, grad_last: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        delta, a, b, c, x, dx, starts = ctx.saved_tensors
        length = ctx.length
        decay = delta.new_empty((delta.shape[0], length) + a.shape)
        states, g = torch.empty_like(decay), torch.empty_like(decay)
        grad_delta, g_b, grad_b, grad_c = (torch.empty_like(t) for t in (delta, delta, b, c))
        grad_a, carry = torch.zeros_like(a), grad_last
        for k in reversed(range(starts.shape[1])):
            chunk = slice(k * length, (k + 1) * length)
            size = dx[:, chunk].shape[1]
            d_c, s_c, g_c = decay[:, :size], states[:, :size], g[:, :size]
            _chunk_states(delta[:, chunk], a, b[:, chunk], dx[:, chunk], starts[:, k], d_c, s_c)
            carry = _chunk_backward(grad_y[:, chunk], c[:, chunk], d_c, g_c, carry)
            grad_c[:, chunk] = (grad_y[:, chunk].unsqueeze(-2) @ s_c).squeeze(-2)  # Σ_e h ∂y
            grad_b[:, chunk] = (dx[:, chunk].unsqueeze(-2) @ g_c).squeeze(-2)  # Σ_e g Δ x
            g_b[:, chunk] = _vector_times_matrices(b[:, chunk], g_c)  # Σ_n g B
            d_c.mul_(g_c)  # s = g ⊙ exp(Δ A) ⊙ h_{t−1}, in the decay buffer
            d_c[:, 1:].mul_(s_c[:, :-1])
            d_c[:, 0].mul_(starts[:, k])
            torch.sum(torch.mul(d_c, a, out=s_c), -1, out=grad_delta[:, chunk])
            grad_a += torch.mul(d_c, delta[:, chunk].unsqueeze(-1), out=g_c).sum((0, 1))
        return grad_delta.addcmul_(g_b, x), grad_a, grad_b, grad_c, g_b.mul_(delta), carry, None


def _chunk_backward(grad_y: torch.Tensor, c: torch.Tensor, decay: torch.Tensor, g: torch.Tensor,
                    carry: torch.Tensor) -> torch.Tensor:
    """One chunk's g_t into ``g`` (B, L, E, N), from ∂y and C of the chunk and ``carry``, the gradient
    that reaches the chunk's last h from after it (∂L/∂h_T for the last chunk); returns the carry into
    the chunk before it, exp(Δ_0 A) ⊙ g_0 (∂L/∂h_0 for the first chunk)."""
    torch.mul(grad_y.unsqueeze(-1), c.unsqueeze(2), out=g)
    g[:, -1] += carry
    for t in range(g.shape[1] - 2, -1, -1):
        g[:, t].addcmul_(decay[:, t + 1], g[:, t + 1])
    return decay[:, 0] * g[:, 0]
