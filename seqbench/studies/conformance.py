"""Conformance checks for cells, for ``seqbench check`` and for plugin authors' own tests.

Each check builds the cell from its factory (in float64, eval mode, on CPU) and tests one
property every cell must have:

- ``shapes``: output (batch, time, hidden) in the input's dtype, a state returned;
- ``causal``: perturbing the input at step t changes no output before t;
- ``step_by_step``: running one step at a time with carried state equals the full sequence;
- ``deterministic``: same seed ⇒ same parameters and same output;
- ``param_count``: every trainable tensor the output depends on is a registered parameter,
  so the reported parameter count (``sum(p.numel() for p in model.parameters())``) is the
  module's real size and the optimizer trains all of it;
- ``fused_twin``: where the cell declares ``fused_twin="name"``, with the twin's weights its
  outputs and gradients equal the twin's (1e-5).

In a plugin's pytest suite::

    from seqbench.studies.conformance import assert_cell_conforms
    def test_my_cell():
        assert_cell_conforms("mycell", plugins=["my_plugin"])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import torch

BATCH, TIME, INPUT, HIDDEN, LAYERS = 3, 12, 5, 16, 2
TOLERANCE = 1e-5


@dataclass(frozen=True)
class CheckResult:
    cell: str
    check: str
    passed: bool
    detail: str = ""


class CellHarness:
    """Builds a registered cell in float64 for the checks, in ``backbone`` (``seqbench.models.backbone``)."""

    def __init__(self, entry: Any, params: Optional[dict] = None, backbone: str = "plain") -> None:
        self.entry = entry
        self.params = params or {}
        self.backbone = backbone

    def build(self, seed: int = 0) -> torch.nn.Module:
        from seqbench.models.model import build_cell

        torch.manual_seed(seed)
        if self.backbone == "plain":
            cell = self.entry.obj(INPUT, HIDDEN, LAYERS, 0.0, **self.params)
        else:
            cell = build_cell(self.entry, INPUT, HIDDEN, LAYERS, 0.0, self.params, self.backbone)
        return cell.double().eval()

    @staticmethod
    def inputs(seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(BATCH, TIME, INPUT, generator=generator, dtype=torch.float64)


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = TOLERANCE) -> tuple[bool, float]:
    err = (a - b).abs().max().item() if a.numel() else 0.0
    return bool(a.shape == b.shape and err <= tol * max(1.0, b.abs().max().item())), err


def check_shapes(h: CellHarness) -> str:
    cell, x = h.build(), h.inputs()
    result = cell(x)
    assert isinstance(result, tuple) and len(result) == 2, "forward must return (output, state)"
    y, state = result
    assert tuple(y.shape) == (BATCH, TIME, HIDDEN), f"output shape {tuple(y.shape)}, expected {(BATCH, TIME, HIDDEN)}"
    assert y.dtype == x.dtype, f"output dtype {y.dtype} for input dtype {x.dtype}"
    assert state is not None, "no state returned: the cell cannot run step by step"
    return f"output {tuple(y.shape)} {str(y.dtype).replace('torch.', '')}"


def check_causal(h: CellHarness) -> str:
    cell, x = h.build(), h.inputs()
    with torch.no_grad():
        y, _ = cell(x)
        for t in (0, TIME // 2, TIME - 1):
            x2 = x.clone()
            x2[:, t] += 1.0
            y2, _ = cell(x2)
            leak = (y2[:, :t] - y[:, :t]).abs().max().item() if t else 0.0
            assert leak <= 1e-12, f"output before step {t} changed by {leak:.2e} when input at step {t} changed"
            assert not torch.equal(y2[:, t:], y[:, t:]), f"input at step {t} has no effect at all"
    return "no output depends on a later input"


def check_step_by_step(h: CellHarness) -> str:
    cell, x = h.build(), h.inputs()
    with torch.no_grad():
        full, _ = cell(x)
        state, steps = None, []
        for t in range(TIME):
            y, state = cell(x[:, t : t + 1], state)
            steps.append(y)
        ok, err = _close(torch.cat(steps, 1), full)
    assert ok, f"step-by-step differs from the full sequence by {err:.2e}"
    return f"max difference {err:.1e}"


def check_deterministic(h: CellHarness) -> str:
    a, b, x = h.build(seed=3), h.build(seed=3), h.inputs()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), f"parameter {name} differs between two builds with the same seed"
    with torch.no_grad():
        ya, yb, yc = a(x)[0], b(x)[0], a(x)[0]
    assert torch.equal(ya, yb) and torch.equal(ya, yc), "same seed and input gave different outputs"
    return "identical parameters and outputs"


def _trainable_leaves(output: torch.Tensor) -> dict[int, torch.Tensor]:
    """Every leaf tensor requiring grad that ``output`` depends on, by id."""
    leaves, seen, stack = {}, set(), [output.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None:
            leaves[id(variable)] = variable
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


def check_param_count(h: CellHarness) -> str:
    cell, x = h.build(), h.inputs()
    y, _ = cell(x)
    registered = {id(p): p for p in cell.parameters() if p.requires_grad}
    leaves = _trainable_leaves(y.sum())
    hidden = [tuple(t.shape) for i, t in leaves.items() if i not in registered]
    assert not hidden, f"trainable tensors not registered as parameters (not counted, not trained): {hidden}"
    count = sum(p.numel() for p in registered.values())
    unused = sum(p.numel() for i, p in registered.items() if i not in leaves)
    return f"{count:,} parameters" + (f" ({unused:,} unused by forward)" if unused else "")


def check_fused_twin(h: CellHarness, twin: Optional[CellHarness]) -> str:
    assert twin is not None, "declared fused twin is not registered"
    cell, fused, x = h.build(), twin.build(seed=7), h.inputs()
    cell.load_state_dict(fused.state_dict())
    outputs, grads = [], []
    for module in (cell, fused):
        xi = x.clone().requires_grad_(True)
        y, _ = module(xi)
        y.pow(2).sum().backward()
        outputs.append(y.detach())
        grads.append([xi.grad] + [p.grad for p in module.parameters()])
    ok, err = _close(*outputs)
    assert ok, f"outputs differ from the fused twin's by {err:.2e}"
    worst = max(_close(a, b)[1] for a, b in zip(*grads))
    assert all(_close(a, b)[0] for a, b in zip(*grads)), f"gradients differ from the fused twin's by {worst:.2e}"
    return f"max difference {max(err, worst):.1e}"


CHECKS: dict[str, Callable[..., str]] = {
    "shapes": check_shapes,
    "causal": check_causal,
    "step_by_step": check_step_by_step,
    "deterministic": check_deterministic,
    "param_count": check_param_count,
}


def check_cell(name: str, registry: Any, params: Optional[dict] = None, backbone: str = "plain") -> list[CheckResult]:
    """Run every check on the registered cell ``name`` (in ``backbone``); never raises for a failing cell."""
    entry = registry.get("cell", name)
    harness = CellHarness(entry, params, backbone)
    results = []
    checks = dict(CHECKS)
    twin_name = entry.extra.get("fused_twin")
    if twin_name and backbone == "plain":
        twin = CellHarness(registry.cells[twin_name]) if twin_name in registry.cells else None
        checks["fused_twin"] = lambda h: check_fused_twin(h, twin)
    for check, fn in checks.items():
        try:
            results.append(CheckResult(name, check, True, fn(harness)))
        except Exception as exc:  # noqa: BLE001 - a raising cell fails the check, others go on
            detail = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
            results.append(CheckResult(name, check, False, " ".join(detail.split())))
    return results


def check_cells(names: Optional[Iterable[str]], registry: Any, backbone: str = "plain") -> list[CheckResult]:
    names = list(names) if names else list(registry.cells)
    for name in names:
        registry.get("cell", name)  # unknown names fail before any check runs
    return [result for name in names for result in check_cell(name, registry, backbone=backbone)]


def assert_cell_conforms(name: str, plugins: Iterable[str] = (), registry: Any = None,
                         backbone: str = "plain") -> None:
    """Raise AssertionError listing every failed check of cell ``name`` (in ``backbone``; for pytest)."""
    if registry is None:
        from seqbench.plugins.registry import Registry

        registry = Registry(plugins)
    failed = [r for r in check_cell(name, registry, backbone=backbone) if not r.passed]
    assert not failed, "; ".join(f"{r.check}: {r.detail}" for r in failed)
