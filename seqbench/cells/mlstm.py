"""mLSTM: the xLSTM cell with a matrix memory (Beck et al. 2024, "xLSTM: Extended Long Short-Term
Memory", NeurIPS 2024, arXiv:2405.04517, section 2.3 and appendix A.3).

Per head, with q_t, k_t, v_t ∈ R^{d_h}, the key scaled by 1/√d_h, an exponential input gate and a
sigmoid forget gate on scalar pre-activations ĩ_t, f̃_t::

    C_t = f_t C_{t-1} + i_t k_t v_tᵀ          (d_h × d_h matrix memory)
    n_t = f_t n_{t-1} + i_t k_t               (normalizer)
    h̃_t = C_tᵀ q_t / max(|n_tᵀ q_t|, 1)
    i_t = exp(ĩ_t),  f_t = σ(f̃_t)

stabilized by m_t = max(log f_t + m_{t-1}, ĩ_t), with C, n kept scaled by exp(−m_t)::

    i'_t = exp(ĩ_t − m_t),  f'_t = exp(log f_t + m_{t-1} − m_t)
    h̃_t = C'_tᵀ q_t / (max(|n'_tᵀ q_t|, exp(−m_t)) + ε)

**Step form** (``mlstm_step``): that recurrence, one step; the reference. **Parallel form**
(``mlstm_parallel``): chunkwise. Within a chunk of L steps that starts from state (C', n', m)
the outputs are the stabilized quadratic ("attention-like") form with the gate matrix
log D_tj = b_t − b_j + ĩ_j (j ≤ t, b = cumsum of log f over the chunk), plus the carried state
weighted by exp(b_t + m); the row stabilizer max(max_j log D_tj, b_t + m) is the recurrence's m_t
exactly, so both forms compute the same function. Chunks are chained through their end states
(inter-chunk recurrence), so memory is O(T·L), not O(T²), and any initial state is accepted.

**Block** (the paper's mLSTM block, pre-up-projection, Fig. 10; xLSTM's ``mLSTMLayer``)::

    x_m, z = W_up x                           (two branches of width expand·d)
    c = silu(causal_conv4(x_m))
    q, k = W_q c, W_k c;  v = W_v x_m         (block-diagonal projections, blocks of 4)
    ĩ, f̃ = W_i [q;k;v], W_f [q;k;v]          (one scalar per head)
    h = (GroupNorm_heads(mLSTM(q, k, v)) + skip ⊙ c) ⊙ silu(z)
    y = W_down h

sitting in ``blocks.Block`` (pre-norm, residual) with no MLP after it, as in the paper.
State per layer: (C', n', m, conv buffer) = heads·d_h² + heads·d_h + heads + 3·expand·d floats.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from seqbench.cells.blocks import Block, BlockStack

MODES = ("auto", "parallel", "sequential")
EPS = 1e-6  # added to the normalizer, as in xLSTM's backends

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (C' (B,H,dh,dh), n' (B,H,dh), m (B,H))


def mlstm_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
               state: State, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """One step of the stabilized recurrence: q, k, v (B, H, dh), gate pre-activations (B, H)."""
    C, n, m = state
    k = k / math.sqrt(k.shape[-1])
    log_f = F.logsigmoid(f_pre)
    m_new = torch.maximum(log_f + m, i_pre)                                   # (B, H)
    f = torch.exp(log_f + m - m_new)[..., None]                               # (B, H, 1)
    i = torch.exp(i_pre - m_new)[..., None]
    C = f[..., None] * C + i[..., None] * k[..., :, None] * v[..., None, :]  # (B, H, dh, dh)
    n = f * n + i * k                                                        # (B, H, dh)
    num = torch.einsum("bhk,bhkv->bhv", q, C)
    den = (q * n).sum(-1, keepdim=True)
    h = num / (torch.maximum(den.abs(), torch.exp(-m_new)[..., None]) + eps)
    return h, (C, n, m_new)


def mlstm_chunk(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
                state: State, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """The stabilized quadratic form over one chunk from ``state``: q, k, v (B, H, L, dh), gates (B, H, L);
    returns h (B, H, L, dh) and the state after the chunk."""
    C0, n0, m0 = state
    L = q.shape[-2]
    k = k / math.sqrt(k.shape[-1])
    b = F.logsigmoid(f_pre).cumsum(-1)                              # (B, H, L) log Π f from chunk start to t
    log_D = b[..., :, None] - b[..., None, :] + i_pre[..., None, :]   # (B, H, L, L): [t, j]
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    log_D = log_D.masked_fill(~causal, float("-inf"))
    log_carry = b + m0[..., None]                                   # (B, H, L) weight of the carried state
    m = torch.maximum(log_D.amax(-1), log_carry)                    # (B, H, L) = the recurrence's m_t
    D = torch.exp(log_D - m[..., None])
    carry = torch.exp(log_carry - m)                                # (B, H, L)
    S = (q @ k.transpose(-1, -2)) * D                               # (B, H, L, L)
    num = S @ v + carry[..., None] * (q @ C0)                       # (B, H, L, dh)
    den = S.sum(-1) + carry * (q @ n0[..., None]).squeeze(-1)       # (B, H, L)
    h = num / (torch.maximum(den.abs(), torch.exp(-m))[..., None] + eps)
    # the state after the chunk: every k_j v_jᵀ weighted by exp(b_L − b_j + ĩ_j − m_L)
    m_end = m[..., -1]
    w = torch.exp(b[..., -1:] - b + i_pre - m_end[..., None])[..., None]   # (B, H, L, 1)
    C = carry[..., -1, None, None] * C0 + (k * w).transpose(-1, -2) @ v
    n = carry[..., -1, None] * n0 + (k * w).sum(-2)
    return h, (C, n, m_end)


def mlstm_parallel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
                   state: State, chunk: int = 64, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """The chunkwise form over a whole sequence: ``mlstm_chunk`` on chunks of ``chunk`` steps, each
    starting from the state the previous one ended in. Shapes as ``mlstm_chunk``."""
    outputs = []
    for s in range(0, q.shape[-2], chunk):
        part = slice(s, s + chunk)
        h, state = mlstm_chunk(q[..., part, :], k[..., part, :], v[..., part, :], i_pre[..., part],
                               f_pre[..., part], state, eps)
        outputs.append(h)
    return torch.cat(outputs, dim=-2), state


def mlstm_sequential(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
                     state: State, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """``mlstm_step`` at every step; shapes as ``mlstm_chunk``."""
    outputs = []
    for t in range(q.shape[-2]):
        h, state = mlstm_step(q[..., t, :], k[..., t, :], v[..., t, :], i_pre[..., t], f_pre[..., t], state, eps)
        outputs.append(h)
    return torch.stack(outputs, dim=-2), state


class HeadwiseLinear(nn.Module):
    """A block-diagonal linear map (xLSTM's ``LinearHeadwiseExpand``): ``blocks`` independent square maps."""

    def __init__(self, features: int, blocks: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.weight = nn.Parameter(torch.empty(blocks, features // blocks, features // blocks))  # (blocks, out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unflatten(-1, (self.blocks, -1))
        return torch.einsum("...hi,hoi->...ho", x, self.weight).flatten(-2)


def causal_conv(x: torch.Tensor, buffer: torch.Tensor, conv: nn.Conv1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise causal convolution of x (B, T, D) continuing ``buffer`` (B, K-1, D), the last K-1 inputs;
    returns (B, T, D) and the new buffer."""
    xx = torch.cat([buffer, x], dim=1)                              # (B, K-1+T, D)
    y = conv(xx.transpose(1, 2)).transpose(1, 2)                    # valid convolution: (B, T, D)
    return y, xx[:, xx.shape[1] - buffer.shape[1]:]


def divisor(n: int, wanted: Optional[int]) -> int:
    """``wanted`` (checked to divide n), or the largest of 4, 2, 1 that divides n."""
    if wanted is None:
        return next(h for h in (4, 2, 1) if n % h == 0)
    if wanted < 1 or n % wanted:
        raise ValueError(f"heads={wanted} must be a positive divisor of the inner width {n}")
    return wanted


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


class MLSTMLayer(nn.Module):
    """The mLSTM mixer (the inside of the pre-up-projection block): (B, T, d) → (B, T, d)."""

    def __init__(self, d: int, heads: Optional[int] = None, expand: float = 2.0, conv: int = 4, chunk: int = 64,
                 mode: str = "auto", num_blocks: int = 1) -> None:
        super().__init__()
        check_mode(mode)
        if conv < 1 or chunk < 1 or expand <= 0:
            raise ValueError(f"mlstm needs conv >= 1, chunk >= 1 and expand > 0, got {conv}, {chunk}, {expand}")
        self.inner = inner = max(1, round(expand * d))
        self.heads = divisor(inner, heads)
        self.mode, self.chunk = mode, chunk
        qkv_blocks = inner // divisor(inner, None)                      # blocks of 4 (or 2, 1) features
        self.proj_up = nn.Linear(d, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, conv, groups=inner)         # depthwise, with bias
        self.q_proj, self.k_proj, self.v_proj = (HeadwiseLinear(inner, qkv_blocks) for _ in range(3))
        self.igate = nn.Linear(3 * inner, self.heads)
        self.fgate = nn.Linear(3 * inner, self.heads)
        self.outnorm = nn.Parameter(torch.ones(inner))                  # GroupNorm over heads, weight only
        self.skip = nn.Parameter(torch.ones(inner))
        self.proj_down = nn.Linear(inner, d, bias=False)
        self._init(d, num_blocks)

    def _init(self, d: int, num_blocks: int) -> None:
        """xLSTM's initialization: small init, Wang init for the output, forget bias linspace(3, 6)."""
        small = math.sqrt(2 / (5 * d))
        for weight in (self.proj_up.weight, self.q_proj.weight, self.k_proj.weight, self.v_proj.weight):
            nn.init.normal_(weight, std=small)
        nn.init.normal_(self.proj_down.weight, std=2 / num_blocks / math.sqrt(d))
        nn.init.zeros_(self.igate.weight)
        nn.init.normal_(self.igate.bias, std=0.1)
        nn.init.zeros_(self.fgate.weight)
        with torch.no_grad():
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, self.heads))

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B, H, dh = x.shape[0], self.heads, self.inner // self.heads
        zeros = lambda *shape: x.new_zeros(B, *shape)  # noqa: E731
        return zeros(H, dh, dh), zeros(H, dh), zeros(H), zeros(self.conv.kernel_size[0] - 1, self.inner)

    def forward(self, x: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        B, T, _ = x.shape
        C, n, m, buffer = self.initial_state(x) if state is None else state
        x_m, z = self.proj_up(x).chunk(2, dim=-1)                      # (B, T, inner) each
        c, buffer = causal_conv(x_m, buffer, self.conv)
        c = F.silu(c)
        q, k, v = self.q_proj(c), self.k_proj(c), self.v_proj(x_m)
        qkv = torch.cat([q, k, v], dim=-1)
        i_pre, f_pre = self.igate(qkv).transpose(1, 2), self.fgate(qkv).transpose(1, 2)   # (B, H, T)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, T, dh)
        parallel = self.mode == "parallel" or (self.mode == "auto" and T > 1)
        if parallel:
            h, (C, n, m) = mlstm_parallel(q, k, v, i_pre, f_pre, (C, n, m), self.chunk)
        else:
            h, (C, n, m) = mlstm_sequential(q, k, v, i_pre, f_pre, (C, n, m))
        h = F.layer_norm(h, h.shape[-1:], eps=1e-5).transpose(1, 2).flatten(-2) * self.outnorm   # (B, T, inner)
        h = (h + self.skip * c) * F.silu(z)
        return self.proj_down(h), (C, n, m, buffer)


def mixer(d: int, **options) -> MLSTMLayer:
    """The bare mLSTM mixer at width d (for ``--backbone block``)."""
    return MLSTMLayer(d, **options)


def build_mlstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                heads: Optional[int] = None, expand: float = 2.0, conv: int = 4, chunk: int = 64,
                mode: str = "auto") -> BlockStack:
    """mLSTM blocks (no MLP after them) of width ``hidden_size``; see the module docstring."""
    return BlockStack(input_size, hidden_size, num_layers, lambda i: Block(
        hidden_size, MLSTMLayer(hidden_size, heads, expand, conv, chunk, mode, num_blocks=num_layers), None, dropout))
