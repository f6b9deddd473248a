"""IndRNN, the example plugin package's cell: the recurrence as written, seqbench's conformance
checks, a training run, and registration through the installed entry point."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

import seqbench
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import assert_cell_conforms, check_cell
from seqbench_mingru.indrnn import indrnn

PLUGIN = "seqbench_mingru"
ROOT = Path(__file__).resolve().parent.parent


def test_two_layers_follow_the_recurrence_from_a_carried_state():
    torch.manual_seed(0)
    cell = indrnn(3, 4, 2).double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    state = torch.rand(2, 2, 4, dtype=torch.float64)
    y, last = cell(x, state)
    inputs = x
    for layer in range(2):
        w, b, u = cell.inputs[layer].weight, cell.inputs[layer].bias, cell.recurrent[layer]
        h, steps = state[layer], []
        for t in range(9):
            h = torch.relu(inputs[:, t] @ w.T + b + u * h)
            steps.append(h)
        inputs = torch.stack(steps, 1)
        torch.testing.assert_close(last[layer], h)
    torch.testing.assert_close(y, inputs)
    assert (cell.recurrent[0] >= 0).all() and (cell.recurrent[0] <= 1).all()


def test_conformance_checks_pass():
    registry = Registry([PLUGIN], on_problem=pytest.fail)
    failed = [r for r in check_cell("indrnn", registry, {"recurrent_max": 0.5}) if not r.passed]
    assert not failed, failed
    assert_cell_conforms("indrnn", registry=registry)


def test_bad_option_is_a_clear_error():
    with pytest.raises(ValueError, match="recurrent_max must be positive"):
        indrnn(2, 4, recurrent_max=0)


def test_trains_through_seqbench(tmp_path):
    frame = seqbench.run(cells=["indrnn"], tasks=["adding"], lengths=[20], steps=30, hidden=16, layers=2,
                         batch=16, eval_every=30, eval_examples=64, plugins=[PLUGIN], out=tmp_path)
    assert list(frame["status"]) == ["ok"]
    assert all(math.isfinite(v) and v < 1.0 for v in frame["loss"])


def test_pyproject_declares_the_entry_point():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "seqbench-mingru"
    assert project["entry-points"]["seqbench"] == {"mingru": "seqbench_mingru"}


def test_installed_entry_point_registers_indrnn_and_no_builtin_name(monkeypatch):
    from importlib import metadata

    if not any(ep.name == "mingru" for ep in metadata.entry_points(group="seqbench")):
        pytest.skip("seqbench-mingru is not installed (pip install -e plugins/seqbench-mingru)")
    monkeypatch.setenv("SEQBENCH_LOAD_PLUGINS", "mingru")
    problems = []
    registry = Registry([PLUGIN], on_problem=problems.append)  # -p as well: loaded once, no problem
    assert problems == []  # in particular, no name registered twice
    assert registry.cells["indrnn"].provider == "mingru"
    assert registry.cells["mingru"].provider == "seqbench.cells.mingru"  # the built-in minGRU
    assert registry.plugins["mingru"].source == "entry point"
