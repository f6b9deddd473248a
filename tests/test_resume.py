"""--resume semantics: ``ok`` and ``diverged`` are results and never run again, ``error`` trials
run again; the saved configuration is kept, and a differing option is refused in one line."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest

from seqbench.cli import main
from seqbench.store import RESULTS_CSV, read_frame

from conftest import TINY_ARGS

CELLS = "diverges,raises-in-forward,gru"
DIVERGED, ERROR, OK = "diverges|adding|5|0", "raises-in-forward|adding|5|0", "gru|adding|5|0"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """One run of three trials ending diverged, error and ok (fixtures.bad_cells)."""
    out = tmp_path_factory.mktemp("resume")
    assert main(["run", "-q", "-p", "fixtures.bad_cells", "--cells", CELLS, "--tasks", "adding", "--lengths", "5",
                 "--out", str(out), *TINY_ARGS]) == 1
    run_dir = next(out.iterdir())
    rows = read_frame(run_dir / RESULTS_CSV)
    statuses = dict(zip(rows["trial"], rows["status"]))
    assert statuses[DIVERGED] == "diverged" and statuses[OK] == "ok"
    assert statuses[ERROR] == "error: RuntimeError: boom in forward"
    return run_dir


def attempts(run_dir) -> Counter:
    """Rows per trial in the append-only results.csv: one per time the trial ran."""
    return Counter(read_frame(run_dir / RESULTS_CSV)["trial"])


def test_resume_reruns_error_trials_only(saved_run, tmp_path, capsys):
    run_dir = tmp_path / saved_run.name
    shutil.copytree(saved_run, run_dir)
    # trial options equal to the saved ones are accepted; the saved -p plugin is loaded again
    assert main(["run", "-q", "--resume", str(run_dir), "--steps", "12", "--hidden", "16", "--cells", CELLS]) == 1
    assert "boom in forward" in capsys.readouterr().err
    assert attempts(run_dir) == {DIVERGED: 1, OK: 1, ERROR: 2}
    assert main(["run", "-q", "--resume", str(run_dir)]) == 1
    assert attempts(run_dir) == {DIVERGED: 1, OK: 1, ERROR: 3}


def test_resume_after_every_trial_finished_runs_nothing(saved_run, tmp_path):
    """With the error row replaced by an ok one, nothing is left to run."""
    run_dir = tmp_path / saved_run.name
    shutil.copytree(saved_run, run_dir)
    text = (run_dir / RESULTS_CSV).read_text(encoding="utf-8")
    (run_dir / RESULTS_CSV).write_text(text.replace("error: RuntimeError: boom in forward", "ok"), encoding="utf-8")
    assert main(["run", "-q", "--resume", str(run_dir)]) == 0
    assert attempts(run_dir) == {DIVERGED: 1, OK: 1, ERROR: 1}


@pytest.mark.parametrize("args, message", [
    (["--steps", "200"], "--resume: steps differs from the saved run (12 → 200); drop --steps to continue the "
                         "run as saved, or start a new run"),
    (["--budget", "1m"], "--resume: budget differs from the saved run (none → 60); drop --budget"),
    (["--lr", "1e-2"], "--resume: lr differs from the saved run (0.003 → 0.01); drop --lr"),
    (["--cells", "gru"], "--resume: cells differs from the saved run (diverges,raises-in-forward,gru → gru)"),
    (["--lengths", "5,10"], "--resume: lengths differs from the saved run (5 → 5,10)"),
    (["--hidden", "32"], "--resume: hidden differs from the saved run (16 → 32)"),
    (["--params", "20k"], "--resume: params differs from the saved run (none → 20000)"),
    (["--cell-opt", "gru.x=1"], '--resume: --cell-opt differs from the saved run ({} → {"gru": {"x": 1}})'),
    (["--keep-denormals"], "--resume: --keep-denormals differs from the saved run (True → False)"),
    (["--suite", "quick"], "--resume: --suite quick"),
    (["--out", "elsewhere"], "--resume writes into"),
    (["--steps", "abc"], "steps must be a positive integer, got 'abc'"),
])
def test_resume_with_a_different_configuration_is_refused(saved_run, args, message, capsys):
    before = (saved_run / RESULTS_CSV).read_bytes()
    assert main(["run", "-q", "--resume", str(saved_run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert (saved_run / RESULTS_CSV).read_bytes() == before  # nothing ran


def test_resume_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path), "--steps", "3"]) == 2
    assert f"{tmp_path} is not a seqbench run directory (no config.json)" in capsys.readouterr().err


def test_resume_from_python_refuses_a_different_option(saved_run):
    import seqbench
    from seqbench.errors import UsageError

    with pytest.raises(UsageError, match=r"--resume: steps differs from the saved run \(12 → 5\)"):
        seqbench.run(resume=saved_run, steps=5, plugins=["fixtures.bad_cells"])
