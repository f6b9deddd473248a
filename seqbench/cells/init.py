"""Initializations from the literature, as cell options, shared by the fused and reference cells.

Both keep their parameters under the fused names (``weight_ih_l0``, ``bias_hh_l0``, ...) and
start from torch's own init (uniform ±1/√H); these functions then change them in place, in the
same order, so a fused cell and its reference twin built from the same seed stay equal.

- LSTM ``forget_bias`` (default 1): added to the forget gate's bias (the f block of
  ``bias_hh``), so 0 is torch's init. Gers et al. 2000; Jozefowicz et al. 2015 found a forget
  bias of 1 closes most of the LSTM–GRU gap; Keras adds 1 by default (``unit_forget_bias``).
- LSTM ``init="chrono"`` (Tallec & Ollivier 2018): forget bias log U(1, T_max − 1), input bias
  its negative (the other bias of each pair zero), with T_max the task's sequence length
  (``t_max``, passed by the harness); replaces ``forget_bias``.
- RNN ``init="orthogonal"``: orthogonal recurrent weights (Saxe et al. 2014);
  ``init="identity"``: identity recurrent weights, zero biases and input weights N(0, 0.001²),
  the IRNN of Le et al. 2015 (meant for ``nonlinearity="relu"``).
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
from torch import nn

LSTM_INITS = ("uniform", "chrono")
RNN_INITS = ("uniform", "orthogonal", "identity")
NONLINEARITIES = ("tanh", "relu")


def check_lstm_options(forget_bias: float, init: str, t_max: Optional[int]) -> None:
    if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float)) or not math.isfinite(forget_bias):
        raise ValueError(f"forget_bias must be a number, got {forget_bias!r}")
    if init not in LSTM_INITS:
        raise ValueError(f"init must be one of {', '.join(LSTM_INITS)} for an LSTM, got {init!r}")
    if init == "chrono" and (not isinstance(t_max, int) or isinstance(t_max, bool) or t_max < 2):
        raise ValueError(f"init=chrono needs t_max, the longest dependency (an integer >= 2), got {t_max!r}")


def check_rnn_options(init: str, nonlinearity: str) -> None:
    if init not in RNN_INITS:
        raise ValueError(f"init must be one of {', '.join(RNN_INITS)} for an RNN, got {init!r}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be tanh or relu, got {nonlinearity!r}")


@torch.no_grad()
def init_lstm(params: Mapping[str, nn.Parameter], layers: int, hidden: int, forget_bias: float = 1.0,
              init: str = "uniform", t_max: Optional[int] = None) -> None:
    """Apply ``forget_bias`` or chrono initialization to every layer (gate order i, f, g, o)."""
    i, f = slice(0, hidden), slice(hidden, 2 * hidden)
    for k in range(layers):
        b_ih, b_hh = params[f"bias_ih_l{k}"], params[f"bias_hh_l{k}"]
        if init == "chrono":
            b_f = torch.log(torch.empty(hidden, device=b_ih.device, dtype=b_ih.dtype).uniform_(1, t_max - 1))
            b_ih[f], b_ih[i] = b_f, -b_f
            b_hh[f], b_hh[i] = 0.0, 0.0
        elif forget_bias:
            b_hh[f] += forget_bias


@torch.no_grad()
def init_rnn(params: Mapping[str, nn.Parameter], layers: int, init: str = "uniform") -> None:
    """Orthogonal or identity (IRNN) recurrent weights for every layer; ``uniform`` keeps torch's."""
    for k in range(layers):
        w_hh = params[f"weight_hh_l{k}"]
        if init == "orthogonal":
            nn.init.orthogonal_(w_hh)
        elif init == "identity":
            w_hh.copy_(torch.eye(w_hh.shape[0], dtype=w_hh.dtype, device=w_hh.device))
            nn.init.normal_(params[f"weight_ih_l{k}"], std=1e-3)
            params[f"bias_ih_l{k}"].zero_()
            params[f"bias_hh_l{k}"].zero_()
