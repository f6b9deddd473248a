"""Interruptions for real: ``seqbench run`` in a process of its own, SIGINT (a terminal's Ctrl-C)
or SIGKILL sent to its process group at seeded random moments *while a trial trains*, resumed
again and again until done. After every cycle the rows on disk are whole, each finished trial is
there exactly once and equals the uninterrupted run's row; the finished run equals the
uninterrupted one number for number. No process of the group outlives its cycle."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from seqbench.store import RESULTS_CSV, read_frame

from conftest import group_alive, interruptible, kill_group, subprocess_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")

# 12 small trials of a few tenths of a second each, every model saved and evaluated at twice its
# length too (checkpoints/, generalization.csv); one torch thread: the numbers do not depend on
# how the run was cut up, only on the seeds
SWEEP = ["--cells", "rnn,lstm,gru", "--tasks", "adding", "--lengths", "8", "--seeds", "4", "--hidden", "16",
         "--batch", "16", "--steps", "120", "--eval-every", "40", "--eval-lengths", "2x"]
PLUGIN = ["-p", "fixtures.trial_marks"]  # marks each trial's start and end (tests/fixtures/trial_marks.py)
# what must come out the same however often the run was interrupted
SAME = ["status", "params", "steps", "loss", "val_loss", "accuracy", "val_accuracy", "solved", "steps_to_solve",
        "best_step", "baseline"]
INTERRUPTIONS = 20  # inside trials, SIGINT and SIGKILL together
# every run one torch thread per trial; SEQBENCH_TEST_INTERRUPT_JOBS=2: the interrupted runs use 2
# worker processes (slower: each start spawns workers), checked against the same serial run
EXECUTION = ["--threads", "1"] + (["--jobs", os.environ["SEQBENCH_TEST_INTERRUPT_JOBS"]]
                            if os.environ.get("SEQBENCH_TEST_INTERRUPT_JOBS") else [])


def seqbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "seqbench", "run", "-q", *args]


@contextmanager
def started(args: list[str], marks: Path, logs: Path, **env: str) -> Iterator[subprocess.Popen]:
    """``args`` in a new process group (as a shell runs a foreground job), output to files; on
    leaving, whatever happened, no process of the group is left."""
    environment = {**subprocess_env(), "SEQBENCH_TEST_MARKER_DIR": str(marks), **env}
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=environment, start_new_session=True,
                                preexec_fn=interruptible)
    try:
        yield proc
    finally:
        if proc.poll() is None or group_alive(proc.pid):
            kill_group(proc)


def marks_of(folder: Path) -> list[str]:
    path = folder / "marks"
    return path.read_text().splitlines() if path.exists() else []


def rows_on_disk(run_dir: Path, name: str = RESULTS_CSV) -> list[dict]:
    """Every row of results.csv (or generalization.csv), checking that the file holds whole lines only."""
    path = run_dir / name
    if not path.exists():
        return []
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"torn last line: {data[-80:]!r}"
    frame = read_frame(path)
    return [] if frame.empty else frame.to_dict("records")


def same_numbers(row: dict, reference: dict, columns: list[str] = SAME) -> dict:
    """The columns where ``row`` differs from ``reference`` (NaN equals NaN)."""
    def value(v):
        return None if v != v else v  # NaN → None

    return {c: (row.get(c), reference.get(c)) for c in columns
            if c in reference and value(row.get(c)) != value(reference[c])}


def by_length(rows: list[dict]) -> dict:
    """generalization.csv rows by (trial, evaluated length), checking each is there once."""
    keys = [(r["trial"], int(r["eval_length"])) for r in rows]
    assert len(keys) == len(set(keys)), f"a length was evaluated twice: {sorted(keys)}"
    return dict(zip(keys, rows))


EVALUATED = ["status", "loss", "accuracy", "solved", "baseline"]  # generalization.csv


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run: trial → row, and (trial, evaluated length) → generalization row."""
    out = tmp_path_factory.mktemp("uninterrupted")
    with started(seqbench(*SWEEP, *PLUGIN, "--threads", "1", "--out", str(out / "runs")), out, out) as proc:
        assert proc.wait(timeout=300) == 0, (out / "stderr").read_text()
    run_dir = next((out / "runs").iterdir())
    rows = rows_on_disk(run_dir)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"ok"}
    lengths = by_length(rows_on_disk(run_dir, "generalization.csv"))
    assert len(lengths) == 24 and {r["status"] for r in lengths.values()} == {"ok"}
    return {**{r["trial"]: r for r in rows}, "generalization": lengths}


@pytest.mark.slow  # the interruption harness: 20 SIGINT/SIGKILL and resumes (python -m pytest -m slow)
def test_sigint_and_sigkill_inside_trials_then_resume_gives_the_uninterrupted_results(tmp_path, reference):
    evaluated = reference.pop("generalization")
    rng = random.Random(20261202)
    out, marks = tmp_path / "runs", tmp_path / "marks"
    marks.mkdir()
    run_dir = None
    inside = {signal.SIGINT: 0, signal.SIGKILL: 0}
    cycles = 0
    while sum(inside.values()) < INTERRUPTIONS:
        cycles += 1
        assert cycles <= 3 * INTERRUPTIONS, f"only {inside} interruptions landed inside a trial"
        done = {r["trial"] for r in (rows_on_disk(run_dir) if run_dir else [])}
        assert len(done) < len(reference), "every trial finished before enough interruptions landed"
        args = (seqbench(*SWEEP, *PLUGIN, *EXECUTION, "--out", str(out)) if run_dir is None
                else seqbench("--resume", str(run_dir), *EXECUTION))
        before = len(marks_of(marks))
        # the n-th trial this process starts is interrupted, a random moment after it started: mostly
        # the first (no progress), now and then the second (the first finishes); with few trials
        # left, early in the first
        few = len(reference) - len(done) <= 2
        nth = 1 if few else rng.choice([1, 1, 1, 2])
        delay = rng.uniform(0.0, 0.05 if few else 0.25)
        sig = rng.choice([signal.SIGINT, signal.SIGKILL])
        with started(args, marks, tmp_path) as proc:
            deadline = time.time() + 120
            while proc.poll() is None and time.time() < deadline:
                if sum(m.startswith("start ") for m in marks_of(marks)[before:]) >= nth:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, f"the run ended before its trial {nth} started: {(tmp_path / 'stderr').read_text()}"
            time.sleep(delay)
            os.killpg(proc.pid, sig)  # the whole group, as a terminal's Ctrl-C does
            code = proc.wait(timeout=60)
            deadline = time.time() + 10
            while group_alive(proc.pid) and time.time() < deadline:
                time.sleep(0.05)
            assert not group_alive(proc.pid), "a process of the interrupted run survived it"
        err = (tmp_path / "stderr").read_text()
        assert "Traceback" not in err, err
        if sig == signal.SIGINT:
            assert code == 130, err
            run_dir = run_dir or next(out.iterdir())
            assert f"continue with: seqbench run --resume {run_dir}" in err, err
        else:
            assert code == -signal.SIGKILL
            run_dir = run_dir or next(out.iterdir())

        rows = rows_on_disk(run_dir)
        trials = [r["trial"] for r in rows]
        assert len(trials) == len(set(trials)), f"a finished trial was written twice: {trials}"
        for row in rows:
            assert row["trial"] in reference and not same_numbers(row, reference[row["trial"]]), row["trial"]
        for key, row in by_length(rows_on_disk(run_dir, "generalization.csv")).items():
            assert key[0] in trials and not same_numbers(row, evaluated[key], EVALUATED), key
        begun = [m.split(" ", 1)[1] for m in marks_of(marks)[before:] if m.startswith("start ")]
        if begun and begun[-1] not in trials:  # the signal landed while that trial trained
            inside[sig] += 1
        assert not list(run_dir.glob(".*.tmp")), "a temporary file was left behind"

    assert inside[signal.SIGINT] and inside[signal.SIGKILL], inside
    print(f"{cycles} cycles, inside a trial: {inside[signal.SIGINT]} SIGINT, {inside[signal.SIGKILL]} SIGKILL")
    with started(seqbench("--resume", str(run_dir), *EXECUTION), marks, tmp_path) as proc:
        assert proc.wait(timeout=300) == 0, (tmp_path / "stderr").read_text()
    rows = rows_on_disk(run_dir)
    assert sorted(r["trial"] for r in rows) == sorted(reference), "every trial exactly once"
    for row in rows:
        assert not same_numbers(row, reference[row["trial"]]), (row["trial"], same_numbers(row, reference[row["trial"]]))
    lengths = by_length(rows_on_disk(run_dir, "generalization.csv"))
    assert sorted(lengths) == sorted(evaluated), "every trial evaluated at every length, once"
    for key, row in lengths.items():
        assert not same_numbers(row, evaluated[key], EVALUATED), (key, same_numbers(row, evaluated[key], EVALUATED))
    assert not list(run_dir.rglob(".*.tmp")), "a killed writer's temporary file was left behind"


def test_a_second_ctrl_c_exits_at_once(tmp_path):
    """The first Ctrl-C winds the run down (here: a plugin that takes 30 s to do it); a second one
    exits at once with the same code."""
    marks = tmp_path / "marks"
    marks.mkdir()
    args = seqbench("--cells", "rnn", "--tasks", "adding", "--lengths", "8", "--seeds", "2", "--hidden", "16",
                    "--batch", "16", "--steps", "100000", "--eval-every", "50", "--out", str(tmp_path / "runs"),
                    *PLUGIN)
    with started(args, marks, tmp_path, SEQBENCH_TEST_SLOW_WIND_DOWN="1") as proc:
        deadline = time.time() + 120
        while "start rnn|adding|8|0" not in marks_of(marks) and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        while "winding-down" not in marks_of(marks) and time.time() < deadline:
            time.sleep(0.05)
        assert "winding-down" in marks_of(marks)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=20)  # TimeoutExpired if it waited for the plugin's 30 s
    assert code == 130
    assert "Traceback" not in (tmp_path / "stderr").read_text()
