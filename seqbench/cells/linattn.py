"""Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs: Fast Autoregressive
Transformers with Linear Attention", arXiv:2006.16236).

Causal softmax attention with the kernel exp(qᵀk) replaced by φ(q)ᵀφ(k), φ(x) = elu(x) + 1 > 0,
is an RNN (their eqs. 16-20), per head::

    S_t = S_{t−1} + φ(k_t) v_tᵀ          (d_k × d_v)
    z_t = z_{t−1} + φ(k_t)               (d_k, the normalizer)
    o_t = S_tᵀ φ(q_t) / (z_tᵀ φ(q_t) + ε)

The parallel form is chunked: within a chunk of C (64) steps the causal quadratic form
tril(φ(Q) φ(K)ᵀ) V, across chunks the states S and z entering each chunk from a cumulative sum
of the chunks' φ(K)ᵀ V and φ(K) (no loop at all); the same for the normalizer. Exact, and it
accepts an initial (S, z).

The mixer: q, k, v = W x split into heads, the recurrence above, output projection. The model is a
Transformer-style block stack: pre-norm residual blocks of this mixer, each followed by a SwiGLU
MLP (``blocks.GatedMLP``). State per layer: S (B, heads, d/heads, d/heads) and z (B, heads, d/heads).
Options: ``heads`` (4, 2 or 1: the largest dividing d), ``chunk`` (64), ``mode``
(auto | parallel | sequential).
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

EPS = 1e-6


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1, positive, so the normalizer never vanishes."""
    return F.elu(x) + 1


def linear_attention_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, S: torch.Tensor, z: torch.Tensor,
                          eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step: φ(q), φ(k) (B, H, d_k), v (B, H, d_v), S (B, H, d_k, d_v), z (B, H, d_k)."""
    S = S + k.unsqueeze(-1) * v.unsqueeze(-2)
    z = z + k
    numerator = torch.einsum("bhk,bhkv->bhv", q, S)
    return numerator / ((q * z).sum(-1, keepdim=True) + eps), S, z


def linear_attention_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, S: torch.Tensor,
                             z: torch.Tensor, chunk: int = 64,
                             eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The chunked form: φ(q), φ(k) (B, H, T, d_k), v (B, H, T, d_v), initial S and z → outputs
    (B, H, T, d_v) and the final S, z."""
    length = q.shape[2]
    chunk = min(chunk, length)  # a sequence shorter than a chunk is one chunk, unpadded
    pad = (-length) % chunk  # zero rows (φ(k) = 0, v = 0) add nothing to S or z
    q, k, v = (F.pad(t, (0, 0, 0, pad)).unflatten(2, (-1, chunk)) for t in (q, k, v))    # (B, H, n, C, d)
    kv = k.transpose(-1, -2) @ v                                                         # (B, H, n, d_k, d_v)
    S_after = S.unsqueeze(2) + kv.cumsum(dim=2)                                          # state after each chunk
    z_after = z.unsqueeze(2) + k.sum(dim=3).cumsum(dim=2)                                # (B, H, n, d_k)
    S_before = torch.cat([S.unsqueeze(2), S_after[:, :, :-1]], dim=2)
    z_before = torch.cat([z.unsqueeze(2), z_after[:, :, :-1]], dim=2)
    causal = torch.ones(chunk, chunk, dtype=q.dtype, device=q.device).tril()  # by product: tril is slow on CPU
    scores = (q @ k.transpose(-1, -2)) * causal                                          # (B, H, n, C, C)
    numerator = q @ S_before + scores @ v                                                # (B, H, n, C, d_v)
    denominator = (q @ z_before.unsqueeze(-1)) + scores.sum(-1, keepdim=True)            # (B, H, n, C, 1)
    o = (numerator / (denominator + eps)).flatten(2, 3)[:, :, :length]
    return o, S_after[:, :, -1], z_after[:, :, -1]


class LinearAttentionMixer(nn.Module):
    """Causal linear attention, (B, T, d) → (B, T, d); state (S, z)."""

    def __init__(self, d: int, heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> None:
        super().__init__()
        check_mode("linattn", mode)
        self.heads = default_heads(d) if heads is None else heads
        if self.heads < 1 or d % self.heads or chunk < 1:
            raise UsageError(f"linattn: width {d} is not divisible by heads={self.heads}" if chunk >= 1
                             else f"linattn: chunk must be at least 1, not {chunk}")
        self.head_dim, self.chunk, self.mode = d // self.heads, chunk, mode
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """φ(q), φ(k), v: (..., heads, head_dim)."""
        q, k, v = (t.unflatten(-1, (self.heads, self.head_dim)) for t in self.qkv(x).chunk(3, dim=-1))
        return feature_map(q), feature_map(k), v

    def forward(self, x: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        if state is None:
            S = x.new_zeros(x.shape[0], self.heads, self.head_dim, self.head_dim)
            state = (S, x.new_zeros(x.shape[0], self.heads, self.head_dim))
        if not use_parallel(self.mode, x.shape[1]):
            return run_steps(self.step, x, state)
        q, k, v = (t.transpose(1, 2) for t in self.project(x))                         # heads before time
        o, S, z = linear_attention_chunked(q, k, v, *state, chunk=self.chunk)           # (B, H, T, d_v)
        return self.out(o.transpose(1, 2).flatten(-2)), (S, z)

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One step: x_t (B, d), state (S, z) → y_t (B, d), state."""
        o, S, z = linear_attention_step(*self.project(x_t), *state)                    # (B, H, d_v)
        return self.out(o.flatten(-2)), (S, z)


def mixer(d: int, heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> LinearAttentionMixer:
    """The bare linear-attention layer of width d, for the block backbone."""
    return LinearAttentionMixer(d, heads, chunk, mode)


def build_linattn(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                  heads: Optional[int] = None, chunk: int = 64, mode: str = "auto") -> BlockStack:
    """Linear Transformer: ``num_layers`` residual blocks of (linear attention, SwiGLU MLP)."""
    def make_block(_: int) -> Block:
        return Block(hidden_size, mixer(hidden_size, heads, chunk, mode), GatedMLP(hidden_size), dropout)

    return BlockStack(input_size, hidden_size, num_layers, make_block)
