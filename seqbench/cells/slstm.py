"""sLSTM: the xLSTM cell with a scalar memory, exponential gating and memory mixing (Beck et al.
2024, "xLSTM: Extended Long Short-Term Memory", NeurIPS 2024, arXiv:2405.04517, section 2.2 and
appendix A.2).

Per unit, with pre-activations ĩ, f̃, z̃, õ = W x_t + R h_{t-1} + b (R block-diagonal over heads:
memory mixes within a head, not across heads; 4 heads, the first d mod 4 one unit wider when 4 does
not divide d, so every width works)::

    c_t = f_t c_{t-1} + i_t z_t               (cell state)
    n_t = f_t n_{t-1} + i_t                   (normalizer state)
    h_t = o_t c_t / n_t
    z_t = tanh(z̃_t),  i_t = exp(ĩ_t),  f_t = σ(f̃_t),  o_t = σ(õ_t)

stabilized by m_t = max(log f_t + m_{t-1}, ĩ_t), i'_t = exp(ĩ_t − m_t), f'_t = exp(log f_t +
m_{t-1} − m_t) in place of i_t, f_t (c and n are scaled alike, so h is unchanged).

**No parallel form.** h_{t-1} enters every gate through R, so the gates at t cannot be computed
before step t − 1 is done: the recurrence is not associative and there is no scan, chunkwise or
FFT form (the paper says so: sLSTM is not parallelizable). Its training form is the step loop,
``slstm_step`` at every step, with the input projections and the convolution computed for the
whole sequence at once, the steps one autograd node with their backward pass written out (as
xLSTM's CUDA kernel does; 1.7× faster than autograd through the steps on CPU, equal to it in
float64); ``mode="parallel"`` is refused.

**Block** (the paper's sLSTM block, post-up-projection, Fig. 9; xLSTM's ``sLSTMLayer``)::

    c = silu(causal_conv4(x))
    ĩ, f̃ = W_i c, W_f c;  z̃, õ = W_z x, W_o x     (block-diagonal over heads, no bias)
    y = GroupNorm_heads(sLSTM(ĩ, f̃, z̃, õ))

in ``blocks.Block`` (pre-norm, residual), followed there by the gated MLP with up-projection
factor 4/3 (the shared ``GatedMLP``, SiLU-gated where xLSTM's is GeLU-gated).
State per layer: (h, c, n, m, conv buffer) = 4·d + 3·d floats.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from seqbench.cells.blocks import Block, BlockStack, GatedMLP, causal_conv
from seqbench.cells.mlstm import check_mode

State = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # (h, c, n, m), each (B, d)


def slstm_step(raw: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """One step of the stabilized recurrence: ``raw`` (B, 4, d) holds ĩ, f̃, z̃, õ (input, recurrent and
    bias summed)."""
    _, c, n, m = state
    i_pre, f_pre, z_pre, o_pre = raw.unbind(1)
    log_f = F.logsigmoid(f_pre)
    m_new = torch.maximum(log_f + m, i_pre)
    i = torch.exp(i_pre - m_new)
    f = torch.exp(log_f + m - m_new)
    c = f * c + i * torch.tanh(z_pre)
    n = f * n + i
    h = torch.sigmoid(o_pre) * c / n
    return h, (h, c, n, m_new)


def head_sizes(d: int, heads: int) -> list[int]:
    """``heads`` head widths summing to d, as equal as possible (the first d mod heads one wider), so that
    every width d works and parameters grow with d (matched budgets)."""
    if heads < 1 or heads > d:
        raise ValueError(f"slstm needs 1 <= heads <= width, got heads={heads} for width {d}")
    return [d // heads + (h < d % heads) for h in range(heads)]


def block_diagonal(blocks: nn.ParameterList) -> torch.Tensor:
    """Per-head (4, s, s) weights → the (4, d, d) block-diagonal matrices, [gate, out, in]."""
    return torch.stack([torch.block_diag(*(w[g] for w in blocks)) for g in range(4)])


def slstm_sequence(wx: torch.Tensor, R: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """The recurrence over a sequence: ``wx`` (B, T, 4, d) the input pre-activations with bias, ``R``
    (4, d, d) the recurrent weights [gate, out, in]; returns h (B, T, d) and the final state. The
    steps run as one autograd node whose backward pass is written out (``_SLSTMSequence``), equal to
    autograd through ``slstm_step`` (``slstm_sequence_reference``, tests/test_modern_xlstm.py) at a
    fraction of its per-step cost."""
    d = wx.shape[-1]
    H, *final = _SLSTMSequence.apply(wx, R.permute(2, 0, 1).reshape(d, 4 * d), *state)
    return H, tuple(final)


def slstm_sequence_reference(wx: torch.Tensor, R: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """``slstm_sequence`` as ``slstm_step`` at every step, differentiated by autograd (the reference)."""
    B, T, _, d = wx.shape
    R = R.permute(2, 0, 1).reshape(d, 4 * d)                         # h_{t-1} @ R: every gate at once
    outputs = []
    for t in range(T):
        h, state = slstm_step(wx[:, t] + (state[0] @ R).view(B, 4, d), state)
        outputs.append(h)
    return torch.stack(outputs, dim=1), state


class _SLSTMSequence(torch.autograd.Function):
    """The sLSTM steps as one node. Forward: ``slstm_step`` at every t without autograd, keeping the
    pre-activations and h, c, n, m of every step. Backward: the gates recomputed for all t at once,
    then one loop back in time carrying ∂h (through R), ∂c, ∂n and ∂m (m's max routed as
    torch.maximum routes it, a tie split in half), each step's ∂ of the four pre-activations stored;
    ∂R and ∂wx come from them in one product each."""

    @staticmethod
    def forward(ctx, wx, R2, h, c, n, m):  # type: ignore[override]
        B, T, _, d = wx.shape
        raw = torch.empty_like(wx)
        hs, cs, ns, ms = (wx.new_empty(B, T + 1, d) for _ in range(4))
        hs[:, 0], cs[:, 0], ns[:, 0], ms[:, 0] = h, c, n, m
        state = (h, c, n, m)
        for t in range(T):
            torch.add(wx[:, t], (state[0] @ R2).view(B, 4, d), out=raw[:, t])
            _, state = slstm_step(raw[:, t], state)
            hs[:, t + 1], cs[:, t + 1], ns[:, t + 1], ms[:, t + 1] = state
        ctx.save_for_backward(raw, R2, hs, cs, ns, ms)
        return hs[:, 1:].clone(), hs[:, T].clone(), cs[:, T].clone(), ns[:, T].clone(), ms[:, T].clone()

    @staticmethod
    def backward(ctx, d_out, d_h, d_c, d_n, d_m):  # type: ignore[override]
        raw, R2, hs, cs, ns, ms = ctx.saved_tensors
        B, T, _, d = raw.shape
        i_pre, f_pre, z_pre, o_pre = raw.unbind(2)
        log_f, sig_neg_f = F.logsigmoid(f_pre), torch.sigmoid(-f_pre)
        m_prev, m_new, c_new, n_new = ms[:, :-1], ms[:, 1:], cs[:, 1:], ns[:, 1:]
        i, f, z, o = torch.exp(i_pre - m_new), torch.exp(log_f + m_prev - m_new), torch.tanh(z_pre), torch.sigmoid(o_pre)
        through = log_f + m_prev                                     # m_t = max(through, ĩ_t)
        to_through = (through > i_pre).to(raw.dtype) + 0.5 * (through == i_pre).to(raw.dtype)
        ratio = c_new / n_new
        d_o_pre, d_c_h, d_n_h = ratio * o * (1 - o), o / n_new, -o * ratio / n_new
        d_z_pre = i * (1 - z * z)
        d_raw = torch.empty_like(raw)
        d_h_rec = torch.zeros_like(d_h)
        d_c, d_n, d_m = (g.clone() for g in (d_c, d_n, d_m))
        d_out = d_out.clone()
        d_out[:, -1] += d_h
        for t in range(T - 1, -1, -1):
            dh = d_out[:, t] + d_h_rec
            torch.mul(dh, d_o_pre[:, t], out=d_raw[:, t, 3])
            d_c.addcmul_(dh, d_c_h[:, t])
            d_n.addcmul_(dh, d_n_h[:, t])
            torch.mul(d_c, d_z_pre[:, t], out=d_raw[:, t, 2])
            d_i_pre = torch.addcmul(d_n, d_c, z[:, t]).mul_(i[:, t])
            d_f = torch.addcmul(d_c * cs[:, t], d_n, ns[:, t]).mul_(f[:, t])  # ∂ of exp(log f + m_{t-1} − m_t)
            d_m.sub_(d_i_pre).sub_(d_f)                                       # m_t in i and f
            d_through = d_m * to_through[:, t]
            d_raw[:, t, 0] = d_i_pre.add_(d_m - d_through)
            d_m = d_f + d_through                                             # ∂ log f = ∂ m_{t-1}
            torch.mul(d_m, sig_neg_f[:, t], out=d_raw[:, t, 1])
            d_c, d_n = d_c * f[:, t], d_n * f[:, t]
            d_h_rec = d_raw[:, t].reshape(B, 4 * d) @ R2.T
        d_R2 = hs[:, :-1].reshape(B * T, d).T @ d_raw.reshape(B * T, 4 * d)
        return d_raw, d_R2, d_h_rec, d_c, d_n, d_m


class SLSTMLayer(nn.Module):
    """The sLSTM mixer (the sLSTM block without its MLP): (B, T, d) → (B, T, d)."""

    def __init__(self, d: int, heads: int = 4, conv: int = 4, mode: str = "auto",
                 block_index: int = 0, num_blocks: int = 1) -> None:
        super().__init__()
        check_mode(mode)
        if mode == "parallel":
            raise ValueError("slstm has no parallel form (its recurrent weights mix h_{t-1} into every gate); "
                             "use mode auto or sequential")
        if conv < 1:
            raise ValueError(f"slstm needs conv >= 1, got {conv}")
        self.sizes = head_sizes(d, min(heads, d))
        self.conv = nn.Conv1d(d, d, conv, groups=d)                      # depthwise, with bias
        # per head, input and recurrent weights of the gates i, f, z, o: (4, out, in)
        self.W = nn.ParameterList(torch.empty(4, s, s) for s in self.sizes)
        self.R = nn.ParameterList(torch.zeros(4, s, s) for s in self.sizes)   # xLSTM: zero init
        self.bias = nn.Parameter(torch.zeros(4, d))
        self.outnorm = nn.Parameter(torch.ones(d))                       # GroupNorm over heads, weight only
        self._init(d, block_index, num_blocks)

    def _init(self, d: int, block_index: int, num_blocks: int) -> None:
        """xLSTM's initialization: small init for W; forget biases spread by a power law over each head,
        from 5 (remember) to −7 (forget), steeper in later blocks."""
        ratio = block_index / (num_blocks - 1) if num_blocks > 1 else 0.0
        with torch.no_grad():
            for w in self.W:
                nn.init.normal_(w, std=math.sqrt(2 / (5 * d)))
            self.bias[1] = torch.cat([5.0 - 12.0 * torch.linspace(0.0, 1.0, s) ** (0.3 + 1.3 * ratio)
                                      for s in self.sizes])

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B, d = x.shape[0], x.shape[-1]
        return (*(x.new_zeros(B, d) for _ in range(4)), x.new_zeros(B, self.conv.kernel_size[0] - 1, d))

    def input_preactivations(self, x: torch.Tensor, buffer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """W x + b for the whole sequence: ĩ, f̃ from the convolved branch, z̃, õ from x; (B, T, 4, d)."""
        c, buffer = causal_conv(x, buffer, self.conv)
        W = block_diagonal(self.W)
        wx_if = torch.einsum("bti,goi->btgo", F.silu(c), W[:2])
        wx_zo = torch.einsum("bti,goi->btgo", x, W[2:])
        return torch.cat([wx_if, wx_zo], dim=2) + self.bias, buffer

    def forward(self, x: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        *cell_state, buffer = self.initial_state(x) if state is None else state
        wx, buffer = self.input_preactivations(x, buffer)
        h, cell_state = slstm_sequence(wx, block_diagonal(self.R), tuple(cell_state))
        y = torch.cat([F.layer_norm(part, part.shape[-1:], eps=1e-5) for part in h.split(self.sizes, dim=-1)], -1)
        return y * self.outnorm, (*cell_state, buffer)


def mixer(d: int, **options) -> SLSTMLayer:
    """The bare sLSTM mixer at width d (for ``--backbone block``)."""
    return SLSTMLayer(d, **options)


def build_slstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                heads: int = 4, conv: int = 4, mode: str = "auto") -> BlockStack:
    """sLSTM blocks, each followed by a gated MLP of factor 4/3; see the module docstring."""
    d = hidden_size
    return BlockStack(input_size, d, num_layers, lambda i: Block(
        d, SLSTMLayer(d, heads, conv, mode, block_index=i, num_blocks=num_layers), GatedMLP(d, 4 / 3), dropout))
