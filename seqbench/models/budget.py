"""Matched parameter budgets: solve each cell's width so that the whole model (embedding,
cell, head) lands within ±3 % of a parameter budget (``--params 50k``). ``solve_width`` serves
state-size budgets too (``seqbench.models.state``)."""
from __future__ import annotations

from typing import Any, Callable, Optional

from seqbench.errors import UsageError

TOLERANCE = 0.03
MAX_HIDDEN = 1 << 14


def count_built(build: Callable[[], Any]) -> Optional[int]:
    """Parameters of the module ``build()`` returns, built on the meta device (no memory, no
    compute) where the factory allows it, else for real; None when the factory rejects the
    width (ValueError, AssertionError: e.g. heads not dividing it)."""
    import torch

    from seqbench.models.model import count_params

    try:
        with torch.device("meta"):
            return count_params(build())
    except (ValueError, AssertionError):
        return None
    except Exception:  # noqa: BLE001 - a factory that cannot build on meta: count on the CPU
        try:
            return count_params(build())
        except (ValueError, AssertionError):
            return None


def count_model_params(task: Any, entry: Any, hidden: int, layers: int, cell_params: dict,
                       backbone: str = "plain") -> Optional[int]:
    """Parameters of the full model at width ``hidden``, or None when the cell rejects that width:
    the cell's, counted on the meta device, plus the embedding and head of ``model.SequenceModel``
    (``input_size × hidden`` for token inputs; ``hidden × output_size + output_size``), counted
    exactly without building them. ``backbone``: see ``seqbench.models.backbone``."""
    from seqbench.models.model import build_cell, cell_options

    tokens = task.input_kind == "tokens"
    options = cell_options(task, entry, cell_params, backbone)
    cell = count_built(lambda: build_cell(entry, hidden if tokens else task.input_size, hidden, layers, 0.0, options,
                                          backbone))
    if cell is None:
        return None
    return cell + (task.input_size * hidden if tokens else 0) + hidden * task.output_size + task.output_size


def match_hidden(task: Any, entry: Any, budget: int, layers: int, cell_params: Optional[dict] = None,
                 tolerance: float = TOLERANCE, backbone: str = "plain") -> tuple[int, int]:
    """The width whose whole model (embedding, cell, head) is closest to ``budget``;
    ``(hidden, params)``. See ``solve_width``."""
    cell_params = cell_params or {}
    return solve_width(entry.name, lambda h: count_model_params(task, entry, h, layers, cell_params, backbone),
                       budget, tolerance, where=" on this task")


def solve_width(name: str, count: Callable[[int], Optional[int]], budget: int, tolerance: float = TOLERANCE,
                where: str = "", what: str = "parameter budget", unit: str = "parameters") -> tuple[int, int]:
    """The width ``h`` whose ``count(h)`` (parameters, or another size in ``unit``, growing with
    ``h``; None where cell ``name`` rejects that width) is closest to ``budget``; ``(hidden, count)``.
    Widths are bracketed by doubling, then narrowed, so large widths are only tried for large budgets.

    Raises UsageError when no width lands within ``tolerance`` (budget too small for the
    cell, or widths too coarse around it).
    """
    cache: dict[int, Optional[int]] = {}

    def counted(h: int) -> Optional[int]:
        if h not in cache:
            cache[h] = count(h)
        return cache[h]

    def valid_at_or_above(h: int) -> Optional[tuple[int, int]]:
        for w in range(h, min(h + 64, MAX_HIDDEN) + 1):
            n = counted(w)
            if n is not None:
                return w, n
        return None

    smallest = valid_at_or_above(1)
    if smallest is None:
        raise UsageError(f"cell '{name}' could not be built at any small width")
    if smallest[1] > budget * (1 + tolerance):
        raise UsageError(f"{what} {budget:,} is too small for cell '{name}'{where}: "
                         f"its smallest model (hidden {smallest[0]}) has {smallest[1]:,} {unit}")

    def exceeds(h: int) -> bool:
        found = valid_at_or_above(h)
        return found is None or found[1] > budget

    def guess(lo: int, hi: int) -> int:  # where the line through the bracket's ends crosses the budget
        below, above = valid_at_or_above(lo - 1), valid_at_or_above(hi)
        if below is None or above is None or above[1] <= below[1]:
            return (lo + hi) // 2
        step = -(-(budget - below[1]) * (above[0] - below[0]) // (above[1] - below[1]))  # ceiling division
        return min(max(below[0] + step, lo), hi - 1)

    # smallest width whose (next valid) model exceeds the budget; sizes grow with the width:
    # bracketed by doubling, then narrowed by interpolation alternating with bisection
    lo = hi = smallest[0]
    while hi < MAX_HIDDEN and not exceeds(hi):
        lo, hi = hi + 1, min(2 * hi, MAX_HIDDEN)
    interpolate = True
    while lo < hi:
        mid = guess(lo, hi) if interpolate and lo > 1 else (lo + hi) // 2
        interpolate = not interpolate
        if exceeds(mid):
            hi = mid
        else:
            lo = mid + 1
    candidates = [c for c in (valid_at_or_above(max(lo - 1, 1)), valid_at_or_above(lo)) if c is not None]
    hidden, params = min(candidates, key=lambda c: (abs(c[1] - budget), c[0]))
    if abs(params - budget) > tolerance * budget:
        raise UsageError(f"cannot match {budget:,} {unit} within ±{tolerance:.0%} for cell '{name}': "
                         f"the closest width (hidden {hidden}) gives {params:,}")
    return hidden, params
