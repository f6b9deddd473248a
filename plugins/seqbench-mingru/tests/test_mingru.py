"""minGRU and minLSTM: the parallel log-space scan equals the sequential recurrence (forward and
gradients), both modes pass seqbench's conformance checks, generation carries the state."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

import seqbench
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import assert_cell_conforms, check_cell
from seqbench_mingru import g, log_g, log_scan, minlstm, mingru

PLUGIN = "seqbench_mingru"
ROOT = Path(__file__).resolve().parent.parent
FACTORIES = {"mingru": mingru, "minlstm": minlstm}


def pair(name, dtype, layers=2, **options):
    torch.manual_seed(0)
    seq = FACTORIES[name](5, 8, layers, mode="sequential", **options).to(dtype)
    par = FACTORIES[name](5, 8, layers, mode="parallel", **options).to(dtype)
    par.load_state_dict(seq.state_dict())
    return seq, par


def run_with_grads(cell, x, state):
    cell.zero_grad()
    x = x.clone().requires_grad_(True)
    y, h = cell(x, state)
    (y.pow(2).mean() + h.sum()).backward()
    return [y, h, x.grad] + [p.grad for p in cell.parameters()]


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("with_state", [False, True])
def test_parallel_scan_equals_sequential_at_T1024(name, with_state):
    """T=1024, two layers, with and without a carried initial state. In float64 outputs, final
    states and every gradient agree to 1e-4 (in fact to ~1e-12). In float32 — what training
    uses — outputs, final states and input gradients agree to 1e-4; the parameter gradients,
    sums over all 2048 positions, differ by float32 summation order alone (~2e-4 relative)."""
    for dtype in (torch.float64, torch.float32):
        seq, par = pair(name, dtype)
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(2, 1024, 5, generator=generator).to(dtype)
        state = (torch.rand(2, 2, 8, generator=generator) + 0.1).to(dtype) if with_state else None
        got, expected = run_with_grads(par, x, state), run_with_grads(seq, x, state)
        for i, (a, b) in enumerate(zip(got, expected)):
            err = (a - b).abs().max().item() / max(1.0, b.abs().max().item())
            tol = 1e-3 if dtype == torch.float32 and i >= 3 else 1e-4
            assert err < tol, (dtype, i, err)
    assert par.layers[0].proj.weight.grad.abs().sum() > 0  # the gradients are not all zero


def test_log_scan_matches_the_recurrence_across_chunks():
    generator = torch.Generator().manual_seed(2)
    a = torch.rand(3, 300, 4, generator=generator, dtype=torch.float64)
    b = torch.rand(3, 300, 4, generator=generator, dtype=torch.float64)
    h0 = torch.rand(3, 4, generator=generator, dtype=torch.float64)
    h, expected = h0, []
    for t in range(300):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    got = log_scan(a.log(), b.log(), h0.log(), chunk=64).exp()  # 300 steps: five chunks
    torch.testing.assert_close(got, torch.stack(expected, 1))


def test_g_is_positive_continuous_and_log_g_is_its_log():
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), g(x).log())
    assert g(torch.tensor([0.0])).item() == 0.5 and abs(torch.sigmoid(torch.tensor(-1e-9)).item() - 0.5) < 1e-8


@pytest.mark.parametrize("name", FACTORIES)
def test_generation_continues_a_parallel_pass_step_by_step(name):
    cell = FACTORIES[name](5, 8, 2).double().eval()  # mode auto: a scan for T > 1, a step for T = 1
    x = torch.randn(2, 40, 5, dtype=torch.float64)
    with torch.no_grad():
        full, _ = cell(x)
        y, state = cell(x[:, :30])
        steps = [y]
        for t in range(30, 40):
            y, state = cell(x[:, t:t + 1], state)
            steps.append(y)
    torch.testing.assert_close(torch.cat(steps, 1), full)


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_conformance_checks_pass_in_both_modes(name, mode):
    registry = Registry([PLUGIN], on_problem=pytest.fail)
    failed = [r for r in check_cell(name, registry, {"mode": mode, "expand": 1.5}) if not r.passed]
    assert not failed, failed
    assert_cell_conforms(name, registry=registry)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of auto, sequential, parallel"):
        mingru(4, 8, mode="fast")
    with pytest.raises(ValueError, match="expand must be positive"):
        minlstm(4, 8, expand=0)


def test_trains_through_seqbench(tmp_path):
    frame = seqbench.run(cells=["mingru", "minlstm"], tasks=["adding"], lengths=[20], steps=30, hidden=16,
                         layers=2, batch=16, eval_every=30, eval_examples=64, plugins=[PLUGIN], out=tmp_path)
    assert list(frame["status"]) == ["ok", "ok"]
    assert all(math.isfinite(v) and v < 1.0 for v in frame["loss"])


def test_pyproject_declares_the_entry_point():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "seqbench-mingru"
    assert project["entry-points"]["seqbench"] == {"mingru": "seqbench_mingru"}


def test_installed_entry_point_registers_both_cells(monkeypatch):
    from importlib import metadata

    if not any(ep.name == "mingru" for ep in metadata.entry_points(group="seqbench")):
        pytest.skip("seqbench-mingru is not installed (pip install -e plugins/seqbench-mingru)")
    monkeypatch.setenv("SEQBENCH_LOAD_PLUGINS", "mingru")
    problems = []
    registry = Registry([PLUGIN], on_problem=problems.append)  # -p as well: loaded once, no problem
    assert problems == []
    assert registry.cells["mingru"].provider == "mingru" and registry.cells["minlstm"].provider == "mingru"
    assert registry.plugins["mingru"].source == "entry point" and registry.plugins["mingru"].version == "0.1.0"


def test_flops_per_token_counts_every_linear_map_and_reaches_seqbench_speed(tmp_path):
    # mingru: one Linear(d, 2·inner) per layer (gate and candidate), plus Linear(inner, hidden) when expanded
    assert mingru(8, 16, 2).flops_per_token(16, 2, 100, 8) == 2 * 8 * 32 + 2 * 16 * 32
    assert mingru(8, 16, 2, expand=2).flops_per_token(16, 2, 100, 8) == (2 * 8 * 64 + 2 * 32 * 16) + (2 * 16 * 64 + 2 * 32 * 16)
    assert minlstm(8, 16, 1).flops_per_token(16, 1, 100, 8) == 2 * 8 * 48  # forget, input and candidate
    frame = seqbench.speed(["minlstm"], [8], batch=2, hidden=8, repeats=1, warmup=0, min_time=0.0, gen_steps=2,
                           plugins=["seqbench_mingru"], out=tmp_path)
    assert frame["flops_per_tok"].iloc[0] == 2 * 8 * 24 and frame["infer_gflops"].iloc[0] > 0
