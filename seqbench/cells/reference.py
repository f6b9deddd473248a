"""Reference recurrent cells written gate by gate: ``rnn-ref``, ``lstm-ref`` and ``gru-ref``.

Each computes exactly what torch's ``nn.RNN`` (tanh) / ``nn.LSTM`` / ``nn.GRU`` compute, in
plain tensor operations, so this file can be read as the definition of the fused cells in
``recurrent.py``. The parameters have the fused cells' names, shapes, gate order (LSTM
i, f, g, o; GRU r, z, n), registration order and initialization, so state dicts load both
ways and ``seqbench check`` compares each with its ``fused_twin``. The state is the fused
cells' too: ``h`` of shape (layers, batch, hidden), or ``(h, c)`` for the LSTM.

Each layer projects the inputs of all time steps with one matmul, then loops over time for
the recurrent part. ``mode`` picks how that loop runs:

- ``eager``: the Python loop below;
- ``jit``: the same loop scripted with TorchScript (deprecated: torch 2.13 warns when
  scripting; that warning is silenced here);
- ``compile``: each layer is one autograd function with backpropagation through time written
  out by hand (``reference_bptt.py``, derived from the cells below and tested against the
  fused kernels' gradients), its steps fused by ``torch.compile`` in chunks of 25. Trains
  within ~1.5 × the fused LSTM on CPU (eager and jit: ~2.2 ×), but the first forward and
  backward compile for 10-30 s on CPU, and a new dtype or shape compiles again;
- ``auto`` (default): ``jit``, fast with no compile wait; see ``choose_mode``.

A mode that fails to script or compile falls back to ``eager`` with one warning (a compiled
backward that fails runs uncompiled, also with one warning); ``cell.mode`` says which mode runs.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbench.cells.init import check_lstm_options, check_rnn_options, init_lstm, init_rnn
from seqbench.cells.reference_bptt import bptt_layer

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks stacked in each weight matrix
MODES = ("auto", "eager", "jit", "compile")

# --------------------------------------------------------------------------- one time step
# ``x_proj`` is W_ih x + b_ih for this step, computed for all steps before the loop.


def rnn_cell(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return torch.tanh(x_proj + F.linear(h, w_hh, b_hh))


def rnn_relu_cell(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh)  (``nonlinearity="relu"``, e.g. the IRNN)."""
    return torch.relu(x_proj + F.linear(h, w_hh, b_hh))


def lstm_cell(x_proj: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor]:
    """i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g                       h' = o ⊙ tanh(c')
    """
    input_gate, forget_gate, candidate, output_gate = lstm_gates(x_proj, h, w_hh, b_hh)
    c = forget_gate * c + input_gate * candidate  # cell update
    h = output_gate * torch.tanh(c)  # hidden
    return h, c


def lstm_gates(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The LSTM's input gate i, forget gate f, candidate g and output gate o (see ``lstm_cell``)."""
    i, f, g, o = (x_proj + F.linear(h, w_hh, b_hh)).chunk(4, 1)  # pre-activations, torch's order
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def gru_cell(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """r = σ(W_ir x + b_ir + W_hr h + b_hr)    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))    h' = (1 − z) ⊙ n + z ⊙ h
    """
    reset_gate, update_gate, candidate = gru_gates(x_proj, h, w_hh, b_hh)
    return (1 - update_gate) * candidate + update_gate * h  # hidden


def gru_gates(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The GRU's reset gate r, update gate z and candidate n (see ``gru_cell``)."""
    x_r, x_z, x_n = x_proj.chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    reset_gate = torch.sigmoid(x_r + h_r)
    update_gate = torch.sigmoid(x_z + h_z)
    candidate = torch.tanh(x_n + reset_gate * h_n)  # reset applied after the hidden projection, as torch
    return reset_gate, update_gate, candidate


# --------------------------------------------------------------------------- one layer
# Time loops over x_proj of shape (batch, time, gates * hidden); TorchScript can script them.


def rnn_layer(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor]:
    outputs: List[Tensor] = []
    for x_t in x_proj.unbind(1):
        h = rnn_cell(x_t, h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h


def rnn_relu_layer(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor]:
    outputs: List[Tensor] = []
    for x_t in x_proj.unbind(1):
        h = rnn_relu_cell(x_t, h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h


def lstm_layer(x_proj: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    outputs: List[Tensor] = []
    for x_t in x_proj.unbind(1):
        h, c = lstm_cell(x_t, h, c, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h, c


def gru_layer(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tuple[Tensor, Tensor]:
    outputs: List[Tensor] = []
    for x_t in x_proj.unbind(1):
        h = gru_cell(x_t, h, w_hh, b_hh)
        outputs.append(h)
    return torch.stack(outputs, 1), h


LAYERS = {"rnn": rnn_layer, "rnn_relu": rnn_relu_layer, "lstm": lstm_layer, "gru": gru_layer}


_BUILT: dict[tuple[str, str], Callable] = {}  # (kind, mode) -> layer function, shared by all cells


def layer_function(kind: str, mode: str) -> Callable:
    """The layer function of ``kind`` in ``mode``; raises where scripting fails (compile fails
    later, on first use)."""
    if mode == "eager":
        return LAYERS[kind]
    if (kind, mode) not in _BUILT:
        if mode == "jit":
            with warnings.catch_warnings():  # TorchScript is deprecated but still the fastest here
                warnings.simplefilter("ignore", DeprecationWarning)
                _BUILT[kind, mode] = torch.jit.script(LAYERS[kind])
        elif mode == "compile":
            _BUILT[kind, mode] = bptt_layer(kind)
        else:
            raise ValueError(f"unknown mode {mode!r}")
    return _BUILT[kind, mode]


def choose_mode() -> str:
    """What ``auto`` runs. Measured on torch 2.13, CPU, batch 32, hidden 128, 100 steps, training
    step (``benchmarks/ref_compile.py``): ``jit`` is 5-25 % faster than ``eager``; ``compile`` is
    ~1.4 × faster than ``jit`` but first compiles for 10-30 s, and again for each new shape or dtype,
    which short runs and tests would pay every time. So ``jit``, which falls back to ``eager``
    (one warning) on a torch that can no longer script; ask for ``compile`` for long training."""
    return "jit"


# --------------------------------------------------------------------------- the module


class ReferenceRecurrent(nn.Module):
    """A stack of ``num_layers`` reference layers mapping (B, T, in) to (B, T, hidden)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, mode: str = "auto", **options: Any) -> None:
        super().__init__()
        if kind not in GATES:
            raise ValueError(f"unknown recurrent cell {kind!r}; expected one of {', '.join(GATES)}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        relu = kind == "rnn" and options.get("nonlinearity", "tanh") == "relu"
        if relu and mode == "compile":
            raise ValueError("mode=compile runs the tanh RNN only; use mode=jit or eager with nonlinearity=relu")
        self.kind = kind
        self.layer_kind = "rnn_relu" if relu else kind  # which time loop of LAYERS runs
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout if num_layers > 1 else 0.0  # between layers only, as torch
        # nn.LSTM's parameters, in its order, under the attribute ``rnn`` like FusedRecurrent
        self.rnn = nn.ParameterDict()
        width = GATES[kind] * hidden_size
        for k in range(num_layers):
            self.rnn[f"weight_ih_l{k}"] = nn.Parameter(torch.empty(width, input_size if k == 0 else hidden_size))
            self.rnn[f"weight_hh_l{k}"] = nn.Parameter(torch.empty(width, hidden_size))
            self.rnn[f"bias_ih_l{k}"] = nn.Parameter(torch.empty(width))
            self.rnn[f"bias_hh_l{k}"] = nn.Parameter(torch.empty(width))
        bound = 1.0 / math.sqrt(hidden_size)  # torch's init: same seed, same weights as the fused cell
        for p in self.rnn.values():
            nn.init.uniform_(p, -bound, bound)
        if kind == "lstm":
            init_lstm(self.rnn, num_layers, hidden_size, **options)
        elif kind == "rnn":
            init_rnn(self.rnn, num_layers, options.get("init", "uniform"))
        self.mode = choose_mode() if mode == "auto" else mode
        if self.mode == "jit":
            try:
                layer_function(self.layer_kind, "jit")
            except Exception as exc:  # noqa: BLE001 - any scripting failure means eager
                self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        reason = (str(exc).strip().splitlines() or [""])[0]
        warnings.warn(f"{self.kind}-ref: mode '{self.mode}' failed ({type(exc).__name__}: {reason}); "
                      "running eager", RuntimeWarning, stacklevel=2)
        self.mode = "eager"

    def forward(self, x: torch.Tensor, state: Optional[Any] = None) -> tuple[torch.Tensor, Any]:
        if self.mode == "compile":
            try:
                return self._run(x, state, layer_function(self.layer_kind, "compile"))
            except Exception as exc:  # noqa: BLE001 - a genuine error raises again from eager below
                y = self._run(x, state, layer_function(self.layer_kind, "eager"))
                self._fall_back(exc)
                return y
        return self._run(x, state, layer_function(self.layer_kind, self.mode))

    def _run(self, x: torch.Tensor, state: Optional[Any], layer: Callable) -> tuple[torch.Tensor, Any]:
        lstm = self.kind == "lstm"
        if state is None:
            zeros = x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)
            state = (zeros, zeros) if lstm else zeros
        h0, c0 = state if lstm else (state, None)
        hs, cs, p = [], [], self.rnn
        for k in range(self.num_layers):
            # W_ih x + b_ih, all steps at once; (B, T, gates * hidden) laid out time-major, so each step is contiguous
            x_proj = F.linear(x.transpose(0, 1), p[f"weight_ih_l{k}"], p[f"bias_ih_l{k}"]).transpose(0, 1)
            w_hh, b_hh = p[f"weight_hh_l{k}"], p[f"bias_hh_l{k}"]
            if lstm:
                x, h, c = layer(x_proj, h0[k], c0[k], w_hh, b_hh)
                cs.append(c)
            else:
                x, h = layer(x_proj, h0[k], w_hh, b_hh)
            hs.append(h)
            if k < self.num_layers - 1 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
        return x, ((torch.stack(hs), torch.stack(cs)) if lstm else torch.stack(hs))


def build_rnn_ref(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                  mode: str = "auto", init: str = "uniform", nonlinearity: str = "tanh") -> ReferenceRecurrent:
    check_rnn_options(init, nonlinearity)
    return ReferenceRecurrent("rnn", input_size, hidden_size, num_layers, dropout, mode, init=init,
                              nonlinearity=nonlinearity)


def build_lstm_ref(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   mode: str = "auto", forget_bias: float = 1.0, init: str = "uniform",
                   t_max: Optional[int] = None) -> ReferenceRecurrent:
    check_lstm_options(forget_bias, init, t_max)
    return ReferenceRecurrent("lstm", input_size, hidden_size, num_layers, dropout, mode, forget_bias=forget_bias,
                              init=init, t_max=t_max)


def build_gru_ref(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                  mode: str = "auto") -> ReferenceRecurrent:
    return ReferenceRecurrent("gru", input_size, hidden_size, num_layers, dropout, mode)


# --------------------------------------------------------------------------- internals (seqbench inspect)

INTERNALS = {"lstm": ("input", "forget", "candidate", "output", "cell"), "gru": ("reset", "update", "candidate")}


def record_internals(cell: ReferenceRecurrent, x: Tensor, state: Optional[Any] = None) -> dict[str, Tensor]:
    """Every gate at every step of an LSTM or GRU reference cell, each (B, T, hidden): LSTM
    ``input``, ``forget``, ``candidate``, ``output`` and the ``cell`` state c; GRU ``reset``,
    ``update`` and ``candidate``; both also ``hidden``. Layers after the first are keyed
    ``l1.input`` and so on. Runs eagerly, step by step, through the cell equations above."""
    lstm = cell.kind == "lstm"
    if state is None:
        zeros = x.new_zeros(cell.num_layers, x.shape[0], cell.hidden_size)
        state = (zeros, zeros) if lstm else zeros
    h0, c0 = state if lstm else (state, None)
    out: dict[str, Tensor] = {}
    p = cell.rnn
    for k in range(cell.num_layers):
        x_proj = F.linear(x, p[f"weight_ih_l{k}"], p[f"bias_ih_l{k}"])
        w_hh, b_hh = p[f"weight_hh_l{k}"], p[f"bias_hh_l{k}"]
        h, c = h0[k], (c0[k] if lstm else None)
        steps: dict[str, List[Tensor]] = {name: [] for name in (*INTERNALS[cell.kind], "hidden")}
        for x_t in x_proj.unbind(1):
            if lstm:
                gates = lstm_gates(x_t, h, w_hh, b_hh)
                h, c = lstm_cell(x_t, h, c, w_hh, b_hh)
                values = (*gates, c, h)
            else:
                gates = gru_gates(x_t, h, w_hh, b_hh)
                h = gru_cell(x_t, h, w_hh, b_hh)
                values = (*gates, h)
            for name, value in zip(steps, values):
                steps[name].append(value)
        prefix = f"l{k}." if k else ""
        out.update({prefix + name: torch.stack(values, 1) for name, values in steps.items()})
        x = out[prefix + "hidden"]
    return out
