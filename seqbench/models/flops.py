"""Analytic FLOPs per token of each cell's forward pass, and the matmul each cell is made of.

Convention (that of ``torch.utils.flop_counter`` and of most papers): a matrix product of
(m, k) by (k, n) costs 2·m·k·n FLOPs, one multiply and one add per multiply-accumulate.
Elementwise work (gate nonlinearities, bias adds, LayerNorm, softmax) is not counted: it is
O(hidden) per token against the O(hidden²) of the matmuls. Per token and layer, with
``d`` the layer's input width (``input_size`` for the first layer, ``hidden`` after) and
``H`` the hidden width:

- ``rnn``: 2·H·(d + H)    (W_ih x and W_hh h, one gate block)
- ``lstm``: 8·H·(d + H)   (four gate blocks: i, f, g, o)
- ``gru``: 6·H·(d + H)    (three gate blocks: r, z, n)
- ``transformer``: 2·input_size·H once (input projection), then per layer 6·H² (q, k, v) +
  2·H² (output projection) + 4·r·H² (MLP of ratio r, 4 by default) + 2·H·(T + 1) for causal
  attention: the token at position t (1-based) scores t keys (2·H·t) and sums t values
  (2·H·t); averaged over t = 1..T that is 2·H·(T + 1). This is the only term that grows with T.

The ``*-ref`` cells compute exactly what their fused twins compute, so they count the same.
A plugin cell provides its count as ``flops_per_token(hidden, layers, length, input_size)``,
either registered (``register(name, factory, flops_per_token=fn)``) or as an attribute of its
factory or of the module it builds; without one its FLOPs are unknown (NaN).

Training counts 3 × forward: the backward pass of a matmul is two matmuls of the same size
(gradients with respect to the input and to the weight).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TRAIN_FACTOR = 3.0  # forward + backward (2 × forward) FLOPs per training step
PROBE_MAX_ROWS = 4096  # the transformer's probe GEMM is capped at this many rows (B·T)


def recurrent(gates: int, hidden: int, layers: int, input_size: int) -> float:
    """Forward FLOPs per token of a stack of recurrent layers with ``gates`` gate blocks."""
    total = 0.0
    for layer in range(layers):
        d = input_size if layer == 0 else hidden
        total += 2.0 * gates * hidden * (d + hidden)
    return total


def transformer(hidden: int, layers: int, length: int, input_size: int, mlp_ratio: int = 4) -> float:
    """Forward FLOPs per token of the causal Transformer, averaged over positions 1..length."""
    dense = (6 + 2 + 4 * mlp_ratio) * hidden * hidden  # qkv, output projection, MLP
    attention = 2.0 * hidden * (length + 1)  # causal: mean of 4·H·t over t = 1..T
    return 2.0 * input_size * hidden + layers * (dense + attention)


def builtin_name(entry: Any) -> Optional[str]:
    """The built-in formula a registered cell follows: its own name for the built-in cells,
    its fused twin's for a ``*-ref`` cell; None for plugin cells."""
    provider = str(getattr(entry, "provider", ""))
    if not provider.startswith("seqbench."):
        return None
    name = entry.extra.get("fused_twin", entry.name)
    return name if name in GATES or name == "transformer" else None


def plugin_formula(entry: Any, module: Any = None) -> Optional[Callable[..., float]]:
    """A plugin's own ``flops_per_token``: registered extra, factory attribute or module attribute."""
    for holder in (getattr(entry, "extra", {}), entry.obj, module):
        fn = holder.get("flops_per_token") if isinstance(holder, dict) else getattr(holder, "flops_per_token", None)
        if callable(fn):
            return fn
    return None


def flops_per_token(entry: Any, hidden: int, layers: int, length: int, input_size: int,
                    params: Optional[dict] = None, module: Any = None) -> float:
    """Forward FLOPs per token of the registered cell ``entry`` (NaN when unknown)."""
    name = builtin_name(entry)
    if name in GATES:
        return recurrent(GATES[name], hidden, layers, input_size)
    if name == "transformer":
        return transformer(hidden, layers, length, input_size, int((params or {}).get("mlp_ratio", 4)))
    fn = plugin_formula(entry, module)
    if fn is None:
        return math.nan
    try:
        return float(fn(hidden, layers, length, input_size))
    except Exception:  # noqa: BLE001 - a broken plugin formula means "unknown", not a failed run
        return math.nan


def probe_shape(entry: Any, batch: int, hidden: int, length: int) -> tuple[int, int, int]:
    """(m, k, n) of the matmul that dominates the cell, for the peak probe: the recurrent
    step (batch, H)×(H, gates·H) for recurrent cells, the MLP's (batch·T, H)×(H, 4H) (rows
    capped at PROBE_MAX_ROWS) for the Transformer, (batch, H)×(H, H) for plugin cells."""
    name = builtin_name(entry)
    if name in GATES:
        return batch, hidden, GATES[name] * hidden
    if name == "transformer":
        return min(batch * length, PROBE_MAX_ROWS), hidden, 4 * hidden
    return batch, hidden, hidden
