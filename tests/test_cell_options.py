"""Each cell at its best-known practice: initializations as options, equal in fused and reference
cells, and doing what the papers say."""
from __future__ import annotations

import math

import pytest
import torch

from seqbench.plugins.registry import Registry

from test_reference_cells import IN, HID, assert_same, inputs, run

OPTIONS = [
    ("lstm", {"forget_bias": 0.0}), ("lstm", {"forget_bias": 1.0}), ("lstm", {"forget_bias": 2.5}),
    ("lstm", {"init": "chrono", "t_max": 50}),
    ("rnn", {"init": "orthogonal"}), ("rnn", {"init": "identity", "nonlinearity": "relu"}),
    ("rnn", {"nonlinearity": "relu"}),
]


@pytest.fixture(scope="module")
def reg():
    return Registry()


@pytest.mark.parametrize("kind, options", OPTIONS)
def test_reference_cell_takes_the_same_options_and_stays_equal(reg, kind, options):
    torch.manual_seed(4)
    fused = reg.cells[kind].obj(IN, HID, 2, 0.0, **options).double()
    torch.manual_seed(4)
    ref = reg.cells[f"{kind}-ref"].obj(IN, HID, 2, 0.0, mode="eager", **options).double()
    for (name, p), q in zip(ref.named_parameters(), fused.parameters()):
        assert torch.equal(p, q), name  # same seed, same initial weights
    x, state = inputs(kind, 9, 2, True)
    assert_same(run(ref, x, state), run(fused, x, state))


def test_forget_bias_is_added_to_torchs_init(reg):
    torch.manual_seed(0)
    plain = reg.cells["lstm"].obj(IN, HID, 1, 0.0, forget_bias=0.0)
    torch.manual_seed(0)
    biased = reg.cells["lstm"].obj(IN, HID, 1, 0.0)  # the default: 1
    gates = lambda m: (m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0).detach().view(4, HID)  # noqa: E731  i, f, g, o
    diff = gates(biased) - gates(plain)
    assert torch.allclose(diff[1], torch.ones(HID)) and diff[[0, 2, 3]].abs().max() == 0


def test_chrono_init_spans_the_dependency_range(reg):
    torch.manual_seed(0)
    cell = reg.cells["lstm"].obj(IN, 256, 1, 0.0, init="chrono", t_max=100)
    b = (cell.rnn.bias_ih_l0 + cell.rnn.bias_hh_l0).detach().view(4, 256)
    forget, inp = b[1], b[0]
    assert torch.equal(inp, -forget)
    assert forget.min() >= 0 and forget.max() <= math.log(99) + 1e-6 and forget.max() > math.log(60)
    with pytest.raises(ValueError, match="t_max"):
        reg.cells["lstm"].obj(IN, 8, 1, 0.0, init="chrono")


def test_irnn_and_orthogonal_recurrent_weights(reg):
    irnn = reg.cells["rnn"].obj(IN, HID, 1, 0.0, init="identity", nonlinearity="relu")
    assert torch.equal(irnn.rnn.weight_hh_l0, torch.eye(HID)) and irnn.rnn.bias_hh_l0.abs().max() == 0
    assert irnn.rnn.nonlinearity == "relu" and irnn.rnn.weight_ih_l0.abs().max() < 0.01
    w = reg.cells["rnn"].obj(IN, HID, 1, 0.0, init="orthogonal").rnn.weight_hh_l0.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(HID), atol=1e-5, rtol=0)


def test_chrono_gets_t_max_from_the_task(tmp_path):
    import seqbench

    frame = seqbench.run("lstm", "adding", [7], out=tmp_path, cell_params={"lstm": {"init": "chrono"}},
                         hidden=8, steps=2, eval_every=2, eval_examples=8, batch=4)
    assert frame["status"].iloc[0] == "ok"


@pytest.mark.parametrize("kind, options, message", [
    ("lstm", {"init": "orthogonal"}, "init must be one of"), ("rnn", {"nonlinearity": "sigmoid"}, "tanh or relu"),
    ("lstm", {"forget_bias": "one"}, "forget_bias must be a number"),
])
def test_bad_options_are_value_errors(reg, kind, options, message):
    with pytest.raises(ValueError, match=message):
        reg.cells[kind].obj(IN, HID, 1, 0.0, **options)


def test_relu_reference_refuses_compile_mode(reg):
    with pytest.raises(ValueError, match="tanh RNN only"):
        reg.cells["rnn-ref"].obj(IN, HID, 1, 0.0, mode="compile", nonlinearity="relu")
