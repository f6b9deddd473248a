"""Recurrent cells on torch's fused kernels: ``rnn`` (Elman), ``lstm`` and ``gru``.

Each wraps ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with ``batch_first=True``. The state is what
torch returns (``h`` of shape (layers, batch, hidden), or ``(h, c)`` for the LSTM), so
feeding it back continues the sequence exactly. Options (see ``init.py``): the LSTM's
``forget_bias`` (default 1) and ``init`` (``uniform`` or ``chrono``, with ``t_max``), the RNN's
``init`` (``uniform``, ``orthogonal``, ``identity``) and ``nonlinearity`` (``tanh``, ``relu``).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from seqbench.cells.init import check_lstm_options, check_rnn_options, init_lstm, init_rnn

FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class FusedRecurrent(nn.Module):
    """A stack of ``num_layers`` fused recurrent layers mapping (B, T, in) to (B, T, hidden)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, **options: Any) -> None:
        super().__init__()
        self.kind = kind
        self.hidden_size = hidden_size
        extra = {"nonlinearity": options.get("nonlinearity", "tanh")} if kind == "rnn" else {}
        # torch applies dropout between layers only, and warns when there is a single layer
        self.rnn = FUSED[kind](input_size, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0, **extra)
        params = dict(self.rnn.named_parameters())
        if kind == "lstm":
            init_lstm(params, num_layers, hidden_size, **options)
        elif kind == "rnn":
            init_rnn(params, num_layers, options.get("init", "uniform"))

    def forward(self, x: torch.Tensor, state: Optional[Any] = None) -> tuple[torch.Tensor, Any]:
        return self.rnn(x, state)


def build_rnn(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
              init: str = "uniform", nonlinearity: str = "tanh") -> FusedRecurrent:
    check_rnn_options(init, nonlinearity)
    return FusedRecurrent("rnn", input_size, hidden_size, num_layers, dropout, init=init, nonlinearity=nonlinearity)


def build_lstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
               forget_bias: float = 1.0, init: str = "uniform", t_max: Optional[int] = None) -> FusedRecurrent:
    check_lstm_options(forget_bias, init, t_max)
    return FusedRecurrent("lstm", input_size, hidden_size, num_layers, dropout, forget_bias=forget_bias,
                          init=init, t_max=t_max)


def build_gru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> FusedRecurrent:
    return FusedRecurrent("gru", input_size, hidden_size, num_layers, dropout)

