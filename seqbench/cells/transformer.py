"""A causal, decoder-only Transformer baseline in the style of nanoGPT.

Pre-norm blocks (LayerNorm → causal self-attention → residual, LayerNorm → MLP → residual),
sinusoidal positional encoding (so any length works), attention through
``F.scaled_dot_product_attention``. Step-by-step use carries a key/value cache as its state:
``state = (position, [(k, v) per layer])``.

``build_attention_mixer`` is the attention alone (positions added to its input, causal
self-attention, state ``(position, (k, v))``): the Transformer's mixer in the shared block
backbone (``--backbone block``, ``seqbench.models.backbone``), where the block supplies the
norms, the residuals and the MLP.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn


State = tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]


def sinusoidal_positions(start: int, length: int, dim: int, device: Any, dtype: Any) -> torch.Tensor:
    """(length, dim) sinusoidal encodings for positions start .. start + length - 1."""
    position = torch.arange(start, start + length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    enc = torch.zeros(length, dim, device=device, dtype=torch.float32)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return enc.to(dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: Optional[tuple[torch.Tensor, torch.Tensor]]):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k = torch.cat((cache[0], k), dim=2)
            v = torch.cat((cache[1], v), dim=2)
        past = k.shape[2] - T
        drop = self.dropout if self.training else 0.0
        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        elif T == 1:  # one new query sees the whole cache
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:  # several new queries after a cache: query i sees keys up to past + i
            keys = torch.arange(past + T, device=x.device)
            mask = keys[None, :] <= (past + torch.arange(T, device=x.device))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.proj(y)), (k, v)


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float, mlp_ratio: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, n_heads, dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cache=None):
        a, cache = self.attn(self.ln1(x), cache)
        x = x + a
        return x + self.mlp(self.ln2(x)), cache


def default_heads(width: int) -> int:
    """4 heads where the width allows, else 2 or 1, so any width works (parameter budgets)."""
    return next(h for h in (4, 2, 1) if width % h == 0)


class AttentionMixer(nn.Module):
    """(B, T, d) → (B, T, d): sinusoidal positions added to the input, then causal self-attention."""

    def __init__(self, d: int, n_heads: Optional[int] = None) -> None:
        super().__init__()
        n_heads = default_heads(d) if n_heads is None else n_heads
        if d % n_heads:
            raise ValueError(f"transformer hidden size {d} is not divisible by n_heads={n_heads}")
        self.attn = CausalSelfAttention(d, n_heads, 0.0)

    def forward(self, x: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        start, cache = state if state is not None else (0, None)
        h = x + sinusoidal_positions(start, x.shape[1], x.shape[-1], x.device, x.dtype)
        y, cache = self.attn(h, cache)  # cache: (k, v), each (B, heads, start + T, d / heads)
        return y, (start + x.shape[1], cache)


def build_attention_mixer(d: int, n_heads: Optional[int] = None) -> AttentionMixer:
    """The Transformer's mixer for the block backbone (``register(..., mixer=...)``)."""
    return AttentionMixer(d, n_heads)


class CausalTransformer(nn.Module):
    """Maps (B, T, input_size) to (B, T, hidden_size); attention never looks ahead.

    ``n_heads`` defaults to 4, or to 2 or 1 when the width is not divisible by 4.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 n_heads: Optional[int] = None, mlp_ratio: int = 4) -> None:
        super().__init__()
        if n_heads is None:
            n_heads = default_heads(hidden_size)
        self.n_heads = n_heads
        if hidden_size % n_heads:
            raise ValueError(f"transformer hidden size {hidden_size} is not divisible by n_heads={n_heads}")
        self.hidden_size = hidden_size
        self.inp = nn.Linear(input_size, hidden_size)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden_size, n_heads, dropout, mlp_ratio) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> tuple[torch.Tensor, State]:
        start, caches = state if state is not None else (0, [None] * len(self.blocks))
        h = self.inp(x)
        h = self.drop(h + sinusoidal_positions(start, x.shape[1], h.shape[-1], h.device, h.dtype))
        new_caches = []
        for block, cache in zip(self.blocks, caches):
            h, cache = block(h, cache)
            new_caches.append(cache)
        return self.ln_f(h), (start + x.shape[1], new_caches)

