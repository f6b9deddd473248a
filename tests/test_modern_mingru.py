"""minGRU and minLSTM (seqbench/cells/mingru.py): both parallel scans (the paper's log-space one
and the linear-space Blelloch one) equal the recurrence, the layers equal lucidrains'
minGRU-pytorch with the same weights, and the cells conform."""
from __future__ import annotations

import math

import pytest
import torch

import seqbench
from fixtures.modern_equivalence import assert_parallel_equals_steps, relative_error
from seqbench.cells.mingru import MinRNN, build_minlstm, build_mingru, g, log_g
from seqbench.cells.scan import log_scan
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import check_cell

KINDS = ("mingru", "minlstm")
BUILDERS = {"mingru": build_mingru, "minlstm": build_minlstm}


SCANS = ("linear", "log")


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("expand", [1.0, 1.5])
def test_mixer_parallel_form_equals_its_recurrence(kind, expand, scan):
    assert_parallel_equals_steps(lambda mode: MinRNN(kind, 6, expand, mode, scan), 6, length=41)


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("kind", KINDS)
def test_cell_parallel_form_equals_its_recurrence(kind, scan):
    # two blocks (mixer + gated MLP each), input 3 channels: the whole stack, its states fed back
    assert_parallel_equals_steps(lambda mode: BUILDERS[kind](3, 8, 2, mode=mode, scan=scan), 3, length=20)


def test_log_scan_matches_the_recurrence_across_chunks():
    generator = torch.Generator().manual_seed(2)
    a, b = (torch.rand(3, 300, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    h0 = torch.rand(3, 4, generator=generator, dtype=torch.float64)
    h, expected = h0, []
    for t in range(300):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    got = log_scan(a.log(), b.log(), h0.log(), chunk=64).exp()  # five chunks, the last one short
    assert relative_error(got, torch.stack(expected, 1)) < 1e-12


def test_g_is_positive_continuous_and_log_g_is_its_log():
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), g(x).log())
    assert g(torch.tensor([0.0])).item() == 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_conformance(kind):
    # mode auto: the checks' whole sequences take the parallel form, their single steps the step form
    registry = Registry(entry_points=False)
    failed = [r for r in check_cell(kind, registry, {"expand": 1.5}) if not r.passed]
    assert not failed, failed


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of auto, parallel, sequential"):
        build_mingru(4, 8, mode="fast")
    with pytest.raises(ValueError, match="expand must be positive"):
        build_minlstm(4, 8, expand=0)
    with pytest.raises(ValueError, match="scan must be one of linear, log"):
        build_mingru(4, 8, scan="fft")


# --------------------------------------------------------------------------- outside reference


def reference_layer(kind: str, d: int, expand: float):
    module = pytest.importorskip(f"minGRU_pytorch.{'minGRU' if kind == 'mingru' else 'minLSTM'}")
    return getattr(module, "minGRU" if kind == "mingru" else "minLSTM")(d, expansion_factor=expand).double()


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("expand", [1.0, 2.0])
def test_equals_lucidrains_mingru_pytorch_with_the_same_weights(kind, expand, scan):
    """minGRU-pytorch's minGRU / minLSTM (pip install --no-deps minGRU-pytorch einops) load our
    weights as they are; parallel from a zero state, then one step from the carried state.
    (Its minLSTM takes log_g of a carried state where the log belongs, so the carried-state
    scan is compared for minGRU only.)"""
    torch.manual_seed(0)
    ref = reference_layer(kind, 6, expand)
    mine = MinRNN(kind, 6, expand, scan=scan).double()
    mine.load_state_dict({k.replace("to_hidden_and_f_i_gate", "to_hidden_and_gate"): v
                          for k, v in ref.state_dict().items()})
    x = torch.randn(2, 30, 6, dtype=torch.float64)
    with torch.no_grad():
        expected, expected_h = ref(x[:, :29], return_next_prev_hidden=True)
        got, h = mine(x[:, :29])
        assert relative_error(got, expected) < 1e-10 and relative_error(h, expected_h[:, 0]) < 1e-10
        step, _ = ref(x[:, 29:], expected_h, return_next_prev_hidden=True)
        assert relative_error(mine(x[:, 29:], h)[0], step) < 1e-10
        if kind == "mingru":
            assert relative_error(mine(x[:, 10:], mine(x[:, :10])[1])[0],
                                  ref(x[:, 10:], ref(x[:, :10], return_next_prev_hidden=True)[1])) < 1e-10


def test_trains_through_seqbench(tmp_path):
    frame = seqbench.run(cells=["mingru", "minlstm"], tasks=["adding"], lengths=[20], steps=30, hidden=16,
                         batch=16, eval_every=30, eval_examples=64, out=tmp_path)
    assert list(frame["status"]) == ["ok", "ok"]
    assert all(math.isfinite(v) and v < 1.0 for v in frame["loss"])
