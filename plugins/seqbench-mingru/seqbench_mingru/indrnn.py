"""IndRNN (Li, Li, Cook, Zhu & Gao 2018, "Independently Recurrent Neural Network (IndRNN):
Building a Longer and Deeper RNN", arXiv:1803.04831).

Each hidden unit has one recurrent weight of its own instead of a full matrix:

    h_t = relu(W x_t + u ⊙ h_{t−1} + b)          u ∈ R^H (elementwise), W ∈ R^{H×input}

Layers are stacked as in the paper's plain IndRNN: each layer's h is the next layer's input. The
recurrent weights start uniform in [0, 1] (the paper's choice for long-range tasks, |u| ≤ 1 keeps
the recurrence from exploding). The input projection runs over the whole sequence at once; the
recurrence runs step by step. The state is h of every layer, (layers, batch, hidden).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class IndRNN(nn.Module):
    """A stack of ``num_layers`` IndRNN layers: (B, T, input_size) → (B, T, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 recurrent_max: float = 1.0) -> None:
        super().__init__()
        if recurrent_max <= 0:
            raise ValueError(f"recurrent_max must be positive, not {recurrent_max!r}")
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.inputs = nn.ModuleList(nn.Linear(n, hidden_size) for n in sizes)
        self.recurrent = nn.ParameterList(
            nn.Parameter(torch.rand(hidden_size) * recurrent_max) for _ in sizes)  # u, one per unit
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        last = []
        for i, (linear, u) in enumerate(zip(self.inputs, self.recurrent)):
            drive = linear(self.dropout(x) if i else x)  # W x_t + b for every t: (B, T, H)
            h = drive.new_zeros(drive.shape[0], drive.shape[2]) if state is None else state[i]
            steps = []
            for t in range(drive.shape[1]):
                h = torch.relu(drive[:, t] + u * h)
                steps.append(h)
            x = torch.stack(steps, dim=1)
            last.append(h)
        return x, torch.stack(last)


def indrnn(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
           recurrent_max: float = 1.0) -> IndRNN:
    return IndRNN(input_size, hidden_size, num_layers, dropout, recurrent_max)
