"""DeltaNet: linear attention with the delta rule, trained chunkwise (Yang et al. 2024, "Parallelizing
Linear Transformers with the Delta Rule over Sequence Length", arXiv:2406.06484; the delta rule as
fast weights: Schlag et al. 2021).

Per head, with a fast-weight state S (d_k × d_v), q_t and k_t L2-normalized and β_t ∈ (0, 1)::

    S_t = S_{t−1} + k_t (β_t (v_t − S_{t−1}ᵀ k_t))ᵀ      i.e.  S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ
    o_t = S_tᵀ q_t / √d_k

The parallel form is the paper's chunkwise algorithm (§3, the WY representation computed with the
UT transform): split the sequence into chunks of C (64) steps; in each chunk, with K, V, Q (C × d)
and β the chunk's rows and S the state entering it::

    T = (I + tril(diag(β) K Kᵀ, −1))⁻¹ diag(β)        (one triangular solve)
    W = T K,  U = T V                                 (the WY factors)
    U' = U − W S                                      (pseudo-values, corrected for the entering state)
    O = Q S + tril(Q Kᵀ) U'                           (tril including the diagonal)
    S ← S + Kᵀ U'

Everything but the loop over T/C chunks is batched matrix products; the result is exact (no
approximation), so chunk by chunk with the state fed back equals the whole sequence.

The mixer (as flash-linear-attention's ``DeltaNet`` layer without its short convolutions):
q, k, v = silu(W x), q and k L2-normalized per head, β = σ(W_β x) per head, the delta rule,
per-head RMSNorm, output projection. The model is a Transformer-style block stack: pre-norm
residual blocks of this mixer, each followed by a SwiGLU MLP (``blocks.GatedMLP``).
State per layer: S, (B, heads, d/heads, d/heads). Options: ``heads`` (4, 2 or 1: the largest
dividing d, as the Transformer's), ``chunk`` (64), ``mode`` (auto | parallel | sequential).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from seqbench.cells.blocks import Block, BlockStack, GatedMLP
from seqbench.cells.rglru import check_mode
from seqbench.cells.scan import run_steps, use_parallel
from seqbench.cells.transformer import default_heads
from seqbench.errors import UsageError


def delta_rule_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                    S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the recurrence: q, k (B, H, d_k), v (B, H, d_v), beta (B, H), S (B, H, d_k, d_v)."""
    correction = beta.unsqueeze(-1) * (v - torch.einsum("bhk,bhkv->bhv", k, S))     # (B, H, d_v)
    S = S + k.unsqueeze(-1) * correction.unsqueeze(-2)
    return torch.einsum("bhk,bhkv->bhv", q, S), S


def delta_rule_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                       S: torch.Tensor, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The chunkwise (WY) form over a sequence: q, k (B, H, T, d_k), v (B, H, T, d_v), beta (B, H, T),
    initial S (B, H, d_k, d_v) → outputs (B, H, T, d_v) and the final S."""
    length, d_k = q.shape[2], q.shape[3]
    chunk = min(chunk, length)  # a sequence shorter than a chunk is one chunk, unpadded
    pad = (-length) % chunk  # zero rows (k = 0, β = 0) leave the state unchanged
    q, k, v = (F.pad(t, (0, 0, 0, pad)).unflatten(2, (-1, chunk)) for t in (q, k, v))    # (B, H, n, C, d)
    beta = F.pad(beta, (0, pad)).unflatten(2, (-1, chunk)).unsqueeze(-1)                  # (B, H, n, C, 1)
    eye = torch.eye(chunk, dtype=q.dtype, device=q.device)
    causal = torch.ones(chunk, chunk, dtype=q.dtype, device=q.device).tril()  # masks by product: tril of a
    lower = beta * (k @ k.transpose(-1, -2)) * (causal - eye)                 # batch is slow on CPU (B, H, n, C, C)
    wu = torch.linalg.solve_triangular(eye + lower, beta * torch.cat([k, v], dim=-1), upper=False,
                                       unitriangular=True)
    w, u = wu[..., :d_k], wu[..., d_k:]                                                 # W = T K, U = T V
    scores = (q @ k.transpose(-1, -2)) * causal                                          # (B, H, n, C, C)
    outputs = []
    for q_i, k_i, w_i, u_i, scores_i in zip(*(t.unbind(2) for t in (q, k, w, u, scores))):   # chunk by chunk
        u_i = u_i - w_i @ S                                                              # (B, H, C, d_v)
        outputs.append(q_i @ S + scores_i @ u_i)
        S = S + k_i.transpose(-1, -2) @ u_i
    return torch.stack(outputs, dim=2).flatten(2, 3)[:, :, :length], S


class DeltaNetMixer(nn.Module):
    """The DeltaNet layer, (B, T, d) → (B, T, d); state S (B, heads, d/heads, d/heads)."""

    def __init__(self, d: int, heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> None:
        super().__init__()
        check_mode("deltanet", mode)
        self.heads = default_heads(d) if heads is None else heads
        if self.heads < 1 or d % self.heads or chunk < 1:
            raise UsageError(f"deltanet: width {d} is not divisible by heads={self.heads}" if chunk >= 1
                             else f"deltanet: chunk must be at least 1, not {chunk}")
        self.head_dim, self.chunk, self.mode = d // self.heads, chunk, mode
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.beta = nn.Linear(d, self.heads, bias=False)
        self.out_norm = nn.RMSNorm(self.head_dim)
        self.out = nn.Linear(d, d, bias=False)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q (scaled by 1/√d_k), k, v: (..., heads, head_dim); beta: (..., heads)."""
        q, k, v = (F.silu(t).unflatten(-1, (self.heads, self.head_dim)) for t in self.qkv(x).chunk(3, dim=-1))
        q, k = F.normalize(q, dim=-1) * self.head_dim ** -0.5, F.normalize(k, dim=-1)
        return q, k, v, torch.sigmoid(self.beta(x))

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = x.new_zeros(x.shape[0], self.heads, self.head_dim, self.head_dim)
        if not use_parallel(self.mode, x.shape[1]):
            return run_steps(self.step, x, state)
        q, k, v, beta = (t.transpose(1, 2) for t in self.project(x))                  # heads before time
        o, state = delta_rule_chunked(q, k, v, beta, state, self.chunk)                 # (B, H, T, d_v)
        return self.out(self.out_norm(o.transpose(1, 2)).flatten(-2)), state

    def step(self, x_t: torch.Tensor, S: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x_t (B, d), S (B, H, d_k, d_v) → y_t (B, d), S."""
        o, S = delta_rule_step(*self.project(x_t), S)                                  # (B, H, d_v)
        return self.out(self.out_norm(o).flatten(-2)), S


def mixer(d: int, heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> DeltaNetMixer:
    """The bare DeltaNet layer of width d, for the block backbone."""
    return DeltaNetMixer(d, heads, chunk, mode)


def build_deltanet(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> BlockStack:
    """DeltaNet: ``num_layers`` residual blocks of (DeltaNet layer, SwiGLU MLP), width hidden_size."""
    def make_block(_: int) -> Block:
        return Block(hidden_size, mixer(hidden_size, heads, chunk, mode), GatedMLP(hidden_size), dropout)

    return BlockStack(input_size, hidden_size, num_layers, make_block)
