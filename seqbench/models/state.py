"""State size: the floats a cell carries from one step of a sequence to the next, per sequence.

It is measured, not declared, so every cell (a plugin's too) gets it: the cell runs on a batch
of one sequence of length T and every tensor element of the state it returns is counted
(nested tuples, lists and dicts included; plain numbers such as a position are not floats
carried). For the built-in cells: rnn and gru ``H·L``, lstm ``2·H·L`` (h and c), the
Transformer's key/value cache ``2·L·d·T``, growing with T. ``--state-size`` solves each cell's
width for a state-size budget as ``--params`` does for parameters (``match_state``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from seqbench.errors import UsageError

# widths are solved from the state after these two lengths, extrapolated to T (see ``count_state``)
PROBES = (4, 8)


def state_floats(state: Any) -> int:
    """Elements of every tensor in ``state`` (tensors, and tuples, lists and dicts of them)."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.numel()
    if isinstance(state, (tuple, list)):
        return sum(state_floats(part) for part in state)
    if isinstance(state, dict):
        return sum(state_floats(part) for part in state.values())
    return 0


def measure_state(cell: Any, input_size: int, length: int) -> int:
    """The state ``cell`` returns after a sequence of ``length`` zeros of width ``input_size``, batch
    one, on the cell's device and in its dtype, without gradients; in floats."""
    import torch

    reference = next(iter(cell.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    with torch.no_grad():
        _, state = cell(torch.zeros(1, length, input_size, device=device, dtype=dtype))
    return state_floats(state)


def count_state(build: Callable[[], Any], input_size: int, length: int) -> Optional[int]:
    """The state size of the module ``build()`` returns, at ``length``, cheaply: built on the meta
    device and given zeroed CPU memory (``to_empty``: no initialization; a state's shape does not
    depend on the parameters' values), else built for real; None when the factory rejects the width.

    Beyond ``PROBES[-1]`` steps the state is measured after the two probe lengths and extrapolated
    linearly (constant when both agree), so a wide model is never run over a long sequence: exact
    for a state that is constant or grows by the same amount each step (recurrent states,
    convolution buffers shorter than the probes, key/value caches). A trial's ``state_floats``
    is measured on its real model at its full length (``measure_state``).
    """
    import torch

    try:
        with torch.device("meta"):
            cell = build()
        cell = cell.to_empty(device="cpu")
        for tensor in (*cell.parameters(), *cell.buffers()):  # uninitialized memory holds subnormals and
            tensor.detach().zero_()                               # NaNs, on which x86 arithmetic crawls
    except (ValueError, AssertionError):
        return None
    except Exception:  # noqa: BLE001 - a factory that cannot build on meta: build it on the CPU
        try:
            cell = build()
        except (ValueError, AssertionError):
            return None
    cell.eval()
    if length <= PROBES[-1]:
        return measure_state(cell, input_size, length)
    short, long = (measure_state(cell, input_size, t) for t in PROBES)
    per_step = (long - short) / (PROBES[1] - PROBES[0])
    return int(round(long + per_step * (length - PROBES[1])))


def count_model_state(task: Any, entry: Any, hidden: int, layers: int, cell_params: dict,
                      backbone: str = "plain") -> Optional[int]:
    """The state size of ``entry``'s model at width ``hidden`` on ``task`` (at its sequence length), or
    None when the cell rejects that width."""
    from seqbench.models.model import build_cell, cell_options

    input_size = hidden if task.input_kind == "tokens" else task.input_size
    options = cell_options(task, entry, cell_params, backbone)
    return count_state(lambda: build_cell(entry, input_size, hidden, layers, 0.0, options, backbone), input_size,
                       task.seq_len)


def match_state(task: Any, entry: Any, budget: int, layers: int, cell_params: Optional[dict] = None,
                backbone: str = "plain") -> tuple[int, int]:
    """The width whose state size is closest to ``budget``, within the tolerance of parameter
    budgets; ``(hidden, state floats)``. UsageError when the cell's state does not grow with its
    width, or when no width lands within the tolerance."""
    from seqbench.models.budget import solve_width

    cell_params = cell_params or {}

    def count(h: int) -> Optional[int]:
        return count_model_state(task, entry, h, layers, cell_params, backbone)

    def buildable(h: int) -> Optional[tuple[int, int]]:  # the first width from h that the cell accepts
        return next(((w, n) for w in range(h, h + 64) if (n := count(w)) is not None), None)

    small, large = buildable(8), buildable(64)
    if small is not None and large is not None and small[1] == large[1]:
        raise UsageError(f"the state of cell '{entry.name}' does not depend on its width ({small[1]:,} floats at "
                         f"hidden {small[0]} and {large[0]}): --state-size cannot size it; use --params or --hidden")
    return solve_width(entry.name, count, budget, where=" on this task", what="state size", unit="floats")
