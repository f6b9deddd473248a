"""Recurrent cells on torch's fused kernels: ``rnn`` (Elman, tanh), ``lstm`` and ``gru``.

Each wraps ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with ``batch_first=True``. The state is what
torch returns (``h`` of shape (layers, batch, hidden), or ``(h, c)`` for the LSTM), so
feeding it back continues the sequence exactly.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..hookspecs import hookimpl

FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class FusedRecurrent(nn.Module):
    """A stack of ``num_layers`` fused recurrent layers mapping (B, T, in) to (B, T, hidden)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self.hidden_size = hidden_size
        # torch applies dropout between layers only, and warns when there is a single layer
        self.rnn = FUSED[kind](input_size, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, state: Optional[Any] = None) -> tuple[torch.Tensor, Any]:
        return self.rnn(x, state)


def _factory(kind: str):
    def build(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> FusedRecurrent:
        return FusedRecurrent(kind, input_size, hidden_size, num_layers, dropout)

    build.__name__ = f"build_{kind}"
    return build


@hookimpl
def seqbench_register_cells(register):
    register("rnn", _factory("rnn"), description="vanilla tanh RNN (torch nn.RNN, fused)")
    register("lstm", _factory("lstm"), description="LSTM (torch nn.LSTM, fused)")
    register("gru", _factory("gru"), description="GRU (torch nn.GRU, fused)")
