"""Built-in cells: shapes, step-by-step equals full sequence, causality, layer stacking."""
from __future__ import annotations

import pytest
import torch

from seqbench.plugins.registry import Registry

CELLS = ["rnn", "lstm", "gru", "transformer"]


@pytest.fixture(scope="module")
def reg():
    return Registry(on_problem=lambda m: None)


def build(reg, name, layers=2, dtype=torch.float64):
    torch.manual_seed(0)
    cell = reg.cells[name].obj(5, 16, layers, 0.0).to(dtype)
    return cell.eval()


@pytest.mark.parametrize("name", CELLS)
def test_shape_and_state(reg, name):
    cell = build(reg, name, dtype=torch.float32)
    y, state = cell(torch.randn(3, 11, 5))
    assert y.shape == (3, 11, 16) and y.dtype == torch.float32
    assert state is not None


@pytest.mark.parametrize("name", CELLS)
def test_step_by_step_equals_full_sequence(reg, name):
    cell = build(reg, name)
    x = torch.randn(2, 13, 5, dtype=torch.float64)
    full, _ = cell(x)
    state, steps = None, []
    for t in range(x.shape[1]):
        y, state = cell(x[:, t : t + 1], state)
        steps.append(y)
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-9, atol=1e-9)
    # and in chunks of several steps (the transformer's cache path with a mask)
    head, state = cell(x[:, :5])
    tail, _ = cell(x[:, 5:], state)
    torch.testing.assert_close(torch.cat((head, tail), 1), full, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", CELLS)
def test_causal(reg, name):
    cell = build(reg, name)
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    y, _ = cell(x)
    x2 = x.clone()
    x2[:, 7] += 1.0
    y2, _ = cell(x2)
    torch.testing.assert_close(y2[:, :7], y[:, :7], rtol=0, atol=0)
    assert not torch.allclose(y2[:, 7:], y[:, 7:])


def test_layers_and_dropout_are_applied(reg):
    one = reg.cells["lstm"].obj(4, 8, 1, 0.0)
    three = reg.cells["lstm"].obj(4, 8, 3, 0.25)
    assert one.rnn.num_layers == 1 and three.rnn.num_layers == 3 and three.rnn.dropout == 0.25
    t = reg.cells["transformer"].obj(4, 8, 3, 0.0, n_heads=2)
    assert len(t.blocks) == 3


def test_transformer_rejects_indivisible_heads(reg):
    with pytest.raises(ValueError, match="not divisible"):
        reg.cells["transformer"].obj(4, 10, 1, 0.0, n_heads=4)
