"""`seqbench check` and `seqbench.studies.conformance`: built-ins pass, each broken cell fails the right check."""
from __future__ import annotations

import pytest

from seqbench.cli import main
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import CHECKS, assert_cell_conforms, check_cell, check_cells


@pytest.fixture(scope="module")
def reg():
    return Registry(["fixtures.nonconforming"], on_problem=lambda m: None)


def failed(reg, name):
    return {r.check for r in check_cell(name, reg) if not r.passed}


def test_builtin_cells_pass_every_check(reg):
    results = check_cells(["rnn", "lstm", "gru", "transformer"], reg)
    assert {(r.cell, r.check) for r in results} == {(c, k) for c in ("rnn", "lstm", "gru", "transformer")
                                                    for k in CHECKS}
    assert all(r.passed for r in results), [r for r in results if not r.passed]


@pytest.mark.parametrize("cell, expected", [
    ("peeks", {"causal", "step_by_step"}),  # looks at the future
    ("forgets", {"step_by_step"}),  # drops its state
    ("hidden-weights", {"param_count"}),  # a trainable tensor outside parameters()
    ("random", {"causal", "step_by_step", "deterministic"}),  # fresh noise at every call
    ("bad-twin", {"fused_twin"}),  # input and forget gates swapped against nn.LSTM
])
def test_each_violation_is_caught(reg, cell, expected):
    assert failed(reg, cell) == expected


def test_a_raising_cell_fails_checks_without_stopping_the_others(reg):
    reg2 = Registry(["fixtures.bad_cells"], on_problem=lambda m: None)
    results = check_cells(["raises-on-build", "lstm"], reg2)
    assert all(not r.passed and "RuntimeError: boom at build" in r.detail
               for r in results if r.cell == "raises-on-build")
    assert all(r.passed for r in results if r.cell == "lstm")


def test_assert_cell_conforms_for_plugin_authors(reg):
    assert_cell_conforms("gru", registry=reg)
    with pytest.raises(AssertionError, match="causal: output before step"):
        assert_cell_conforms("peeks", plugins=["fixtures.nonconforming"])


def test_cli_exit_codes(capsys):
    assert main(["check", "--cells", "lstm,gru"]) == 0
    out = capsys.readouterr()
    assert "step_by_step" in out.out and "FAIL" not in out.out and "2 cells, 10 passed, 0 failed" in out.err
    assert main(["check", "-p", "fixtures.nonconforming", "--cells", "lstm,peeks"]) == 1
    out = capsys.readouterr()
    assert "FAIL" in out.out and "output before step" in out.out
    assert main(["check", "--cells", "lstn"]) == 2
    assert "did you mean 'lstm'" in capsys.readouterr().err
