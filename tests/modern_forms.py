"""A modern layer's two forms held equal: the parallel form against its own step-by-step
recurrence, in float64, outputs, final states and gradients (inputs, initial state, parameters)."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import torch

RELATIVE = 1e-6


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These tests run thousands of tiny ops, which a second thread slows down on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def set_mode(model: torch.nn.Module, mode: str) -> None:
    """Put every mixer of ``model`` (each module with a ``mode`` attribute) in ``mode``."""
    for module in model.modules():
        if hasattr(module, "mode"):
            module.mode = mode


def leaves(tree: Any) -> list[torch.Tensor]:
    """The tensors of a nested tuple/list state, in order."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    return [t for item in tree for t in leaves(item)]


def rebuild(tree: Any, tensors: list[torch.Tensor]) -> Any:
    """``tree`` with its tensors replaced, in order, by ``tensors`` (consumed from the front)."""
    if isinstance(tree, torch.Tensor):
        return tensors.pop(0)
    return type(tree)(rebuild(item, tensors) for item in tree)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def run_form(model: torch.nn.Module, mode: str, x: torch.Tensor, state: Any) -> list[torch.Tensor]:
    """Outputs, final state, and the gradients of a fixed random loss w.r.t. x, state and parameters."""
    set_mode(model, mode)
    model.zero_grad()
    x = x.clone().requires_grad_(True)
    initial = [s.clone().requires_grad_(True) for s in leaves(state)]
    y, final = model(x, rebuild(state, list(initial)))
    generator = torch.Generator().manual_seed(5)
    loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum() for t in [y, *leaves(final)])
    loss.backward()
    return [y, *leaves(final), x.grad, *(s.grad for s in initial), *(p.grad for p in model.parameters())]


def assert_forms_agree(build: Callable[[], torch.nn.Module], input_size: int, length: int = 37,
                       prefix: int = 9, batch: int = 2) -> None:
    """Parallel form == step-by-step form from a nonzero initial state (the state after a random
    prefix), to ``RELATIVE`` in float64."""
    torch.manual_seed(0)
    model = build().double()
    x = torch.randn(batch, prefix + length, input_size, dtype=torch.float64)
    set_mode(model, "parallel")
    with torch.no_grad():
        _, state = model(x[:, :prefix])
    assert any(s.abs().max() > 0 for s in leaves(state)), "the initial state is zero"
    parallel = run_form(model, "parallel", x[:, prefix:], state)
    sequential = run_form(model, "sequential", x[:, prefix:], state)
    assert len(parallel) == len(sequential)
    for i, (p, s) in enumerate(zip(parallel, sequential)):
        assert p is not None and s is not None, f"tensor {i}: no gradient"
        assert p.shape == s.shape, f"tensor {i}: shape {tuple(p.shape)} != {tuple(s.shape)}"
        error = relative_error(p, s)
        assert error <= RELATIVE, f"tensor {i} of {len(parallel)}: relative error {error:.2e}"
