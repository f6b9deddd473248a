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
exactly, so both forms compute the same function. The states at the chunks' starts come from the
inter-chunk recurrence (a loop over T/L chunks, each O(L·d_h²)); then all chunks' outputs are
computed at once. Memory is O(T·L), not O(T²), and any initial state is accepted.

**Block** (the paper's mLSTM block, pre-up-projection, Fig. 10; xLSTM's ``mLSTMLayer``)::

    x_m, z = W_up x                           (two branches of width ≈ expand·d, a multiple of 4 and heads)
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

from seqbench.cells.blocks import Block, BlockStack, causal_conv
from seqbench.cells.scan import MODES

EPS = 1e-6  # added to the normalizer, as in xLSTM's backends
QKV_BLOCK = 4  # q, k, v projections: block-diagonal with blocks of 4 features (xLSTM's qkv_proj_blocksize)

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


def chunk_outputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, b: torch.Tensor,
                  state: State, eps: float = EPS) -> torch.Tensor:
    """The stabilized quadratic form over chunks of L steps, each from its own start state: q, k, v (…, L, dh)
    (k scaled by 1/√dh), i_pre and b (…, L) with b the cumulative log forget gate from the chunk's start,
    state (C' (…, dh, dh), n' (…, dh), m (…)); returns h (…, L, dh)."""
    C0, n0, m0 = state
    L = q.shape[-2]
    log_D = b[..., :, None] - b[..., None, :] + i_pre[..., None, :]   # (…, L, L): [t, j]
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    log_D = log_D.masked_fill(~causal, float("-inf"))
    log_carry = b + m0[..., None]                                   # (…, L) weight of the carried state
    m = torch.maximum(log_D.amax(-1), log_carry)                    # (…, L) = the recurrence's m_t
    carry = torch.exp(log_carry - m)
    S = (q @ k.transpose(-1, -2)) * torch.exp(log_D - m[..., None])  # (…, L, L)
    num = S @ v + carry[..., None] * (q @ C0)                       # (…, L, dh)
    den = S.sum(-1) + carry * (q @ n0[..., None]).squeeze(-1)       # (…, L)
    return num / (torch.maximum(den.abs(), torch.exp(-m))[..., None] + eps)


def chunk_end_state(k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, b: torch.Tensor, state: State) -> State:
    """The state after one chunk (shapes as ``chunk_outputs``): every k_j v_jᵀ enters C weighted by
    exp(b_L − b_j + ĩ_j), the carried state by exp(b_L), all stabilized by the end's m."""
    C0, n0, m0 = state
    log_w = b[..., -1:] - b + i_pre                                 # (…, L)
    m = torch.maximum(log_w.amax(-1), b[..., -1] + m0)              # (…) = the recurrence's m_L
    carry = torch.exp(b[..., -1] + m0 - m)
    kw = k * torch.exp(log_w - m[..., None])[..., None]             # (…, L, dh)
    return carry[..., None, None] * C0 + kw.transpose(-1, -2) @ v, carry[..., None] * n0 + kw.sum(-2), m


def mlstm_parallel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
                   state: State, chunk: int = 64, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """The chunkwise form: q, k, v (B, H, T, dh), gate pre-activations (B, H, T), ``state`` at the start;
    returns h (B, H, T, dh) and the final state. The states at the chunks' starts come from the inter-chunk
    recurrence (a loop over T / chunk chunks); then every chunk's outputs at once. A last chunk shorter than
    ``chunk`` is done the same way on its own."""
    T = q.shape[-2]
    k = k / math.sqrt(k.shape[-1])
    log_f = F.logsigmoid(f_pre)
    whole = T - T % chunk
    outputs = []
    for start, stop, size in ((0, whole, chunk), (whole, T, T - whole)):
        if stop == start:
            continue
        qc, kc, vc = (t[..., start:stop, :].unflatten(-2, (-1, size)) for t in (q, k, v))   # (B, H, N, L, dh)
        ic = i_pre[..., start:stop].unflatten(-1, (-1, size))                              # (B, H, N, L)
        bc = log_f[..., start:stop].unflatten(-1, (-1, size)).cumsum(-1)
        starts = []
        for n in range(ic.shape[-2]):
            starts.append(state)
            state = chunk_end_state(kc[..., n, :, :], vc[..., n, :, :], ic[..., n, :], bc[..., n, :], state)
        start_states = tuple(torch.stack(parts, dim=2) for parts in zip(*starts))          # (B, H, N, …)
        outputs.append(chunk_outputs(qc, kc, vc, ic, bc, start_states, eps).flatten(2, 3))
    return torch.cat(outputs, dim=-2), state


def mlstm_sequential(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, i_pre: torch.Tensor, f_pre: torch.Tensor,
                     state: State, eps: float = EPS) -> tuple[torch.Tensor, State]:
    """``mlstm_step`` at every step; shapes as ``mlstm_parallel``."""
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

    def dense(self) -> torch.Tensor:
        """The (features, features) block-diagonal matrix (one dense matmul beats many tiny ones)."""
        return torch.block_diag(*self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dense())


def inner_width(d: int, expand: float, heads: int) -> int:
    """expand·d rounded up to a multiple of 4 and of ``heads`` (xLSTM rounds up to a multiple of 64; 4 keeps
    small models small), so every width d works and parameters grow with d (matched budgets)."""
    if heads < 1:
        raise ValueError(f"mlstm needs heads >= 1, got {heads}")
    step = math.lcm(QKV_BLOCK, heads)
    return step * max(1, math.ceil(expand * d / step))


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


class MLSTMLayer(nn.Module):
    """The mLSTM mixer (the inside of the pre-up-projection block): (B, T, d) → (B, T, d)."""

    def __init__(self, d: int, heads: int = 4, expand: float = 2.0, conv: int = 4, chunk: int = 64,
                 mode: str = "auto", num_blocks: int = 1) -> None:
        super().__init__()
        check_mode(mode)
        if conv < 1 or chunk < 1 or expand <= 0:
            raise ValueError(f"mlstm needs conv >= 1, chunk >= 1 and expand > 0, got {conv}, {chunk}, {expand}")
        self.inner = inner = inner_width(d, expand, heads)
        self.heads, self.mode, self.chunk = heads, mode, chunk
        qkv_blocks = inner // QKV_BLOCK
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

    def gates(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """ĩ and f̃ from [q; k; v] (B, T, 2·heads), without building the concatenation."""
        W = torch.cat([self.igate.weight, self.fgate.weight]).split(self.inner, dim=1)
        return F.linear(q, W[0], torch.cat([self.igate.bias, self.fgate.bias])) + F.linear(k, W[1]) + F.linear(v, W[2])

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
        q, k = F.linear(c, torch.cat([self.q_proj.dense(), self.k_proj.dense()])).chunk(2, dim=-1)
        v = self.v_proj(x_m)
        i_pre, f_pre = self.gates(q, k, v).transpose(1, 2).chunk(2, dim=1)                # (B, H, T) each
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
                heads: int = 4, expand: float = 2.0, conv: int = 4, chunk: int = 64,
                mode: str = "auto") -> BlockStack:
    """mLSTM blocks (no MLP after them) of width ``hidden_size``; see the module docstring."""
    return BlockStack(input_size, hidden_size, num_layers, lambda i: Block(
        hidden_size, MLSTMLayer(hidden_size, heads, expand, conv, chunk, mode, num_blocks=num_layers), None, dropout))
