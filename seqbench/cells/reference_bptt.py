"""Backpropagation through time written out by hand for the reference cells' ``compile`` mode.

Autograd over a Python time loop records ~10 small operations per step and replays them one
by one backward; that, not arithmetic, makes ``lstm-ref`` twice as slow as torch's fused
``nn.LSTM``. Here each layer is one ``torch.autograd.Function`` doing what the fused kernels
do: the forward loop keeps the activated gates of every step, and the backward runs the
chain rule through the same steps in reverse, derived from the equations in
``reference.py``:

- per step, only the recurrent part: the gradients of the gate pre-activations (``dgates``),
  then ``dh_{t-1} = dgates_t W_hh`` (and ``dc_{t-1}`` for the LSTM);
- after the loop, for all steps at once: ``dW_hh = Σ_t dgates_tᵀ h_{t-1}`` (one matmul),
  ``db_hh = Σ_t dgates_t``, and ``dgates`` itself, the gradient of ``x_proj = W_ih x + b_ih``,
  from which autograd derives ``dW_ih``, ``db_ih`` and ``dx``.

The ``*_forward_steps`` / ``*_backward_steps`` functions loop over a few steps with plain
tensor ops; ``torch.compile`` fuses each step's elementwise work into one kernel around the
matmul, on chunks of ``CHUNK`` steps (a remainder runs one step at a time, so at most two
shapes compile per direction). Uncompiled they compute the same, which the tests check
against the fused cells in float64. Tensors are time-major inside: (steps, batch, width).
"""
from __future__ import annotations

import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

CHUNK = 25  # steps unrolled in one compiled graph: longer compiles longer (25: ~10 s per direction on CPU)

def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for matrices, as a batch of one. Compiled, ``x + a @ b`` would become
    ``addmm``, which on CPU first copies ``x`` into its output and at these sizes (batch ×
    hidden by hidden × gates·hidden) runs about half as fast again as ``bmm`` followed by an
    add fused into the step's elementwise kernel."""
    return torch.bmm(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0)


# --------------------------------------------------------------------------- forward steps
# x_proj: (steps, batch, gates * hidden). Each returns the sequences the backward needs
# (h first: the layer's output), then the state after the last step.


def rnn_forward_steps(x_proj: Tensor, h: Tensor, w_hh: Tensor) -> Tuple[Tensor, Tensor]:
    """x_proj holds W_ih x + b_ih + b_hh.  h' = tanh(x_proj + W_hh h)."""
    hs = []
    for x_t in x_proj.unbind(0):
        h = torch.tanh(x_t + matmul(h, w_hh.t()))
        hs.append(h)
    return torch.stack(hs), h


def lstm_forward_steps(x_proj: Tensor, h: Tensor, c: Tensor,
                       w_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """x_proj holds W_ih x + b_ih + b_hh. Returns h, the previous c, the activated gates
    (i, f, g, o) and tanh(c) per step, then the last h and c."""
    hs, c_prevs, gates, tanh_cs = [], [], [], []
    for x_t in x_proj.unbind(0):
        i, f, g, o = (x_t + matmul(h, w_hh.t())).chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_prevs.append(c)
        c = f * c + i * g
        tanh_c = torch.tanh(c)
        h = o * tanh_c
        hs.append(h), gates.append(torch.cat((i, f, g, o), 1)), tanh_cs.append(tanh_c)
    return torch.stack(hs), torch.stack(c_prevs), torch.stack(gates), torch.stack(tanh_cs), h, c


def gru_forward_steps(x_proj: Tensor, h: Tensor, w_hh: Tensor,
                      b_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """x_proj holds W_ih x + b_ih. Returns h, the previous h, the activated gates (r, z, n) and
    W_hn h_prev + b_hn per step, then the last h."""
    hs, h_prevs, gates, h_ns = [], [], [], []
    for x_t in x_proj.unbind(0):
        h_prevs.append(h)
        x_r, x_z, x_n = x_t.chunk(3, 1)
        h_r, h_z, h_n = (matmul(h, w_hh.t()) + b_hh).chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        hs.append(h), gates.append(torch.cat((r, z, n), 1)), h_ns.append(h_n)
    return torch.stack(hs), torch.stack(h_prevs), torch.stack(gates), torch.stack(h_ns), h


# --------------------------------------------------------------------------- backward steps
# dy: the gradient of the layer's output at each step; dh (dc): of the state after the last
# step. Steps run last to first; σ' = σ(1 − σ), tanh' = 1 − tanh².


def rnn_backward_steps(dy: Tensor, h: Tensor, dh: Tensor, w_hh: Tensor) -> Tuple[Tensor, Tensor]:
    """Returns d(pre-activation) per step and dh before the first step."""
    dpre: List[Tensor] = []
    for t in range(dy.shape[0] - 1, -1, -1):
        d = (dh + dy[t]) * (1 - h[t] * h[t])  # through tanh
        dpre.append(d)
        dh = matmul(d, w_hh)
    dpre.reverse()
    return torch.stack(dpre), dh


def lstm_backward_steps(dy: Tensor, c_prev: Tensor, gates: Tensor, tanh_c: Tensor, dh: Tensor, dc: Tensor,
                        w_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Returns dgates (of the pre-activations i, f, g, o) per step, and dh, dc before the first step."""
    dgates: List[Tensor] = []
    for t in range(dy.shape[0] - 1, -1, -1):
        i, f, g, o = gates[t].chunk(4, 1)
        dh = dh + dy[t]
        dc = dc + dh * o * (1 - tanh_c[t] * tanh_c[t])  # h = o tanh(c)
        d_i = dc * g * i * (1 - i)  # c = f c_prev + i g
        d_f = dc * c_prev[t] * f * (1 - f)
        d_g = dc * i * (1 - g * g)
        d_o = dh * tanh_c[t] * o * (1 - o)
        d = torch.cat((d_i, d_f, d_g, d_o), 1)
        dgates.append(d)
        dc = dc * f
        dh = matmul(d, w_hh)  # pre-activations = x_proj + W_hh h_prev
    dgates.reverse()
    return torch.stack(dgates), dh, dc


def gru_backward_steps(dy: Tensor, h_prev: Tensor, gates: Tensor, h_n: Tensor, dh: Tensor,
                       w_hh: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Returns the gradients of x_proj and of W_hh h + b_hh per step (they differ in the n block,
    where r multiplies the hidden projection), and dh before the first step."""
    dx_proj: List[Tensor] = []
    dh_proj: List[Tensor] = []
    for t in range(dy.shape[0] - 1, -1, -1):
        r, z, n = gates[t].chunk(3, 1)
        dh = dh + dy[t]
        d_n = dh * (1 - z) * (1 - n * n)  # h = (1 − z) n + z h_prev, n = tanh(x_n + r h_n)
        d_z = dh * (h_prev[t] - n) * z * (1 - z)
        d_r = d_n * h_n[t] * r * (1 - r)
        dx_proj.append(torch.cat((d_r, d_z, d_n), 1))
        d = torch.cat((d_r, d_z, d_n * r), 1)
        dh_proj.append(d)
        dh = dh * z + matmul(d, w_hh)
    dx_proj.reverse(), dh_proj.reverse()
    return torch.stack(dx_proj), torch.stack(dh_proj), dh


STEPS = {"rnn": (rnn_forward_steps, rnn_backward_steps), "lstm": (lstm_forward_steps, lstm_backward_steps),
         "gru": (gru_forward_steps, gru_backward_steps)}

# --------------------------------------------------------------------------- chunks


def join(pieces: List[Tensor]) -> Tensor:
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


class Steps:
    """A pair of step functions and how they run: ``compiled`` ones (torch.compile) on chunks of
    ``CHUNK`` steps, else the plain ones on the whole sequence. A compiled backward that fails
    runs plain from then on, with one warning (the forward's failures are the module's)."""

    def __init__(self, kind: str, compiled: bool) -> None:
        self.kind = kind
        self.forward, self.backward = STEPS[kind]
        self.chunk = CHUNK if compiled else None
        if compiled:
            self.forward, self.backward = torch.compile(self.forward), torch.compile(self.backward)

    def spans(self, length: int) -> List[Tuple[int, int]]:
        if self.chunk is None:
            return [(0, length)]
        full = length - length % self.chunk
        return [(s, s + self.chunk) for s in range(0, full, self.chunk)] + [(t, t + 1) for t in range(full, length)]

    def run_forward(self, x_proj: Tensor, state: List[Tensor],
                    weights: Sequence[Tensor]) -> Tuple[List[List[Tensor]], List[Tensor]]:
        """The forward steps chunk by chunk, carrying the state: each saved sequence as a list of
        pieces (one per chunk), and the final state."""
        pieces = []
        for s, e in self.spans(x_proj.shape[0]):
            *seqs, = self.forward(x_proj[s:e], *state, *weights)
            state = seqs[len(seqs) - len(state):]
            pieces.append(seqs[: len(seqs) - len(state)])
        return [list(field) for field in zip(*pieces)], [s.clone() for s in state]

    def run_backward(self, dy: Tensor, saved: Sequence[List[Tensor]], grad_state: List[Tensor],
                     w_hh: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """The backward steps from the last chunk to the first, over ``saved`` as ``run_forward``
        returned it: the per-step gradients, joined, and the initial state's."""
        spans, pieces = self.spans(dy.shape[0]), []
        for k in reversed(range(len(spans))):
            s, e = spans[k]
            *out, = self._backward((dy[s:e], *(field[k] for field in saved), *grad_state, w_hh))
            pieces.append(out[: len(out) - len(grad_state)])
            grad_state = out[len(out) - len(grad_state):]
        pieces.reverse()
        return [join(list(field)) for field in zip(*pieces)], grad_state

    def _backward(self, args: tuple) -> tuple:
        try:
            return self.backward(*args)
        except Exception as exc:  # noqa: BLE001 - a genuine error raises again below
            plain = STEPS[self.kind][1]
            if self.backward is plain:
                raise
            reason = (str(exc).strip().splitlines() or [""])[0]
            warnings.warn(f"{self.kind}-ref: compiled backward failed ({type(exc).__name__}: {reason}); "
                          "running it uncompiled", RuntimeWarning, stacklevel=2)
            self.backward = plain
            return plain(*args)


def time_major(x_proj: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """(batch, time, width) to (time, batch, width), plus ``bias``; contiguous, without a copy
    where x_proj already is time-major in memory (``reference`` lays it out so)."""
    x = x_proj.transpose(0, 1)
    return x + bias if bias is not None else x.contiguous()


def weight_grad(d: Tensor, h: Tensor, h0: Tensor) -> Tensor:
    """Σ_t d_tᵀ h_{t-1} over time-major ``d`` and ``h`` (h_{-1} = h0): the gradient of W_hh."""
    return torch.addmm(d[0].t() @ h0, d[1:].flatten(0, 1).t(), h[:-1].flatten(0, 1))


def unpack(saved: Sequence[Tensor], fields: int) -> List[List[Tensor]]:
    n = len(saved) // fields
    return [list(saved[k * n:(k + 1) * n]) for k in range(fields)]


# --------------------------------------------------------------------------- one layer, forward and backward
# Each ``apply`` takes the layer's x_proj (batch, time, gates * hidden), its initial state
# and W_hh, b_hh, and returns the output (batch, time, hidden) and the final state, like
# ``reference.lstm_layer``. Batch-first outside, time-major inside; the saved sequences
# stay in their chunks.


class RNNLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, steps: Steps, x_proj: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor):
        (h,), (h_last,) = steps.run_forward(time_major(x_proj, b_hh), [h0], [w_hh])
        h = join(h)
        ctx.steps = steps
        ctx.save_for_backward(h, h0, w_hh)
        return h.transpose(0, 1), h_last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy: Tensor, dh: Tensor):
        h, h0, w_hh = ctx.saved_tensors
        spans = ctx.steps.spans(h.shape[0])
        (dpre,), (dh0,) = ctx.steps.run_backward(time_major(dy), [[h[s:e] for s, e in spans]], [dh], w_hh)
        return None, dpre.transpose(0, 1), dh0, weight_grad(dpre, h, h0), dpre.sum((0, 1))


class LSTMLayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, steps: Steps, x_proj: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh: Tensor):
        (h, c_prev, gates, tanh_c), (h_last, c_last) = steps.run_forward(time_major(x_proj, b_hh), [h0, c0], [w_hh])
        h = join(h)
        ctx.steps = steps
        ctx.save_for_backward(h, h0, w_hh, *c_prev, *gates, *tanh_c)
        return h.transpose(0, 1), h_last, c_last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy: Tensor, dh: Tensor, dc: Tensor):
        h, h0, w_hh, *rest = ctx.saved_tensors
        (dgates,), (dh0, dc0) = ctx.steps.run_backward(time_major(dy), unpack(rest, 3), [dh, dc], w_hh)
        return None, dgates.transpose(0, 1), dh0, dc0, weight_grad(dgates, h, h0), dgates.sum((0, 1))


class GRULayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, steps: Steps, x_proj: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor):
        (h, h_prev, gates, h_n), (h_last,) = steps.run_forward(time_major(x_proj), [h0], [w_hh, b_hh])
        h = join(h)
        ctx.steps = steps
        ctx.save_for_backward(h, h0, w_hh, *h_prev, *gates, *h_n)
        return h.transpose(0, 1), h_last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy: Tensor, dh: Tensor):
        h, h0, w_hh, *rest = ctx.saved_tensors
        (dx_proj, dh_proj), (dh0,) = ctx.steps.run_backward(time_major(dy), unpack(rest, 3), [dh], w_hh)
        return None, dx_proj.transpose(0, 1), dh0, weight_grad(dh_proj, h, h0), dh_proj.sum((0, 1))


FUNCTIONS = {"rnn": RNNLayer, "lstm": LSTMLayer, "gru": GRULayer}


def bptt_layer(kind: str, compiled: bool = True) -> Callable:
    """A layer function like ``reference.lstm_layer`` with the hand-derived backward above."""
    steps, function = Steps(kind, compiled), FUNCTIONS[kind]

    def layer(x_proj: Tensor, *state_and_weights: Tensor) -> tuple:
        return function.apply(steps, x_proj, *state_and_weights)

    return layer
