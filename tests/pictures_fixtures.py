"""Session fixtures shared by the tests of tables, curves, plots, compare and the HTML report:
one small real run (2 cells × 2 lengths × 2 seeds, with curves.csv) and one tiny speed run."""
from __future__ import annotations

import pytest

import seqbench

SMALL = dict(cells=["rnn", "gru"], tasks=["adding"], lengths=[8, 16], steps=40, seeds=2, hidden=8, batch=16,
             eval_every=20, eval_examples=64)
SPEED = dict(cells=["rnn", "lstm"], lengths=[4, 8, 16], batch=2, hidden=4, repeats=2, warmup=1, min_time=0.0,
             gen_steps=2)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """The run directory of a small real ``seqbench.run``."""
    out = tmp_path_factory.mktemp("pictures-runs")
    return seqbench.run(**SMALL, out=out, run_id="small").attrs["run_dir"]


@pytest.fixture(scope="session")
def speed_run(tmp_path_factory):
    """The run directory of a tiny ``seqbench.speed``."""
    out = tmp_path_factory.mktemp("pictures-speed")
    return seqbench.speed(**SPEED, out=out, run_id="speed").attrs["run_dir"]
