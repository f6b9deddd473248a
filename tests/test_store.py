"""The results store: results.csv is append-only (earlier bytes never rewritten), a torn last
line is dropped on read and cut before the next append, a killed writer loses at most the row
it was writing, and one run folder has one writer at a time."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seqbench.errors import UsageError
from seqbench.store import RESULTS_CSV, RunDir, RunLock, load_run, read_frame


def _row(i: int, **extra):
    return {"trial": f"t{i}", "loss": 1.0 / (i + 1), "status": "ok", "note": "a,b \"quoted\"", **extra}


def test_append_only_writes_the_new_line(tmp_path):
    run = RunDir(tmp_path)
    for i in range(3):
        run.append(_row(i))
    path = tmp_path / RESULTS_CSV
    before, inode = path.read_bytes(), path.stat().st_ino
    run.append(_row(3))
    after = path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert path.stat().st_ino == inode  # the same file, appended to, not replaced
    frame = load_run(tmp_path)
    assert frame["trial"].tolist() == ["t0", "t1", "t2", "t3"]
    assert frame["loss"].tolist() == [1.0, 0.5, 1 / 3, 0.25]  # floats round-trip exactly
    assert frame["note"].iloc[0] == 'a,b "quoted"'


def test_a_row_with_a_new_column_rewrites_the_file_once(tmp_path):
    run = RunDir(tmp_path)
    run.append(_row(0))
    run.append(_row(1, checkpoint="checkpoints/t1.pt"))
    run.append(_row(2))
    frame = load_run(tmp_path)
    assert list(frame.columns) == ["trial", "loss", "status", "note", "checkpoint"]
    assert frame["checkpoint"].fillna("").tolist() == ["", "checkpoints/t1.pt", ""]


def test_newlines_inside_values_stay_on_one_line(tmp_path):
    run = RunDir(tmp_path)
    run.append(_row(0, status="error: line one\nline two"))
    assert (tmp_path / RESULTS_CSV).read_text().count("\n") == 2
    assert load_run(tmp_path)["status"].tolist() == ["error: line one line two"]


def test_a_torn_last_line_is_dropped_on_read_and_cut_before_the_next_append(tmp_path):
    run = RunDir(tmp_path)
    for i in range(2):
        run.append(_row(i))
    run.close()
    path = tmp_path / RESULTS_CSV
    with open(path, "ab") as f:
        f.write(b"t2,0.33,o")  # a writer killed mid-line
    assert load_run(tmp_path)["trial"].tolist() == ["t0", "t1"]
    (tmp_path / "config.json").write_text("{}")
    reopened = RunDir.open(tmp_path)
    reopened.append(_row(2))
    assert load_run(tmp_path)["trial"].tolist() == ["t0", "t1", "t2"]
    assert b"0.33,o" not in path.read_bytes()


WRITER = textwrap.dedent("""
    import sys
    from seqbench.store import RunDir
    run = RunDir.open(sys.argv[1])
    start = len(run.rows)
    for i in range(start, start + 100000):
        run.append({"trial": f"t{i}", "loss": 1.0 / (i + 1), "status": "ok", "pad": "x" * 300})
""")


def test_kill_9_at_random_moments_loses_at_most_the_row_being_written(tmp_path):
    """A writer appends as fast as it can; SIGKILL at 12 seeded random moments, reopen, go on.
    After each kill the file holds t0, t1, … in order, complete, none twice."""
    (tmp_path / "config.json").write_text("{}")
    rng = random.Random(17)
    seen = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], start_new_session=True)
        try:
            time.sleep(0.6 + rng.random() * 0.4)  # import time plus a random moment of appending
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        frame = read_frame(tmp_path / RESULTS_CSV)
        trials = frame["trial"].tolist()
        assert trials == [f"t{i}" for i in range(len(trials))]
        assert frame["loss"].tolist() == [1.0 / (i + 1) for i in range(len(trials))]
        assert len(trials) >= seen
        seen = len(trials)
    assert seen > 0


HOLDER = textwrap.dedent("""
    import sys, time
    from seqbench.store import RunLock
    RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def test_one_writer_per_run_folder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=rf"in use by another seqbench process \(pid {proc.pid}\)"):
            RunLock(tmp_path).acquire()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    RunLock(tmp_path).acquire().release()  # a killed holder leaves no stale lock


def test_a_second_resume_of_a_folder_being_written_is_refused(tmp_path):
    """The first process has finished rnn and trains napper (20 ms a step, 20 s) when a second
    resumes the same folder: refused, and nothing is run or written twice."""
    from conftest import kill_group, run_process, subprocess_env

    first = subprocess.Popen([sys.executable, "-m", "seqbench", "run", "-p", "fixtures.dying_cells", "--cells",
                              "rnn,napper", "--lengths", "12", "--hidden", "16", "--batch", "16", "--steps", "1000",
                              "--out", str(tmp_path), "--quiet"], env=subprocess_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not [p for p in tmp_path.glob("*/results.csv")
                                              if len(p.read_text().splitlines()) >= 2]:
            assert first.poll() is None
            time.sleep(0.1)
        run_dir = next(tmp_path.glob("*/results.csv")).parent
        second = run_process([sys.executable, "-m", "seqbench", "run", "-p", "fixtures.dying_cells", "--resume",
                              str(run_dir)], env=subprocess_env(), timeout=60)
        assert first.poll() is None  # still training napper: the refusal was not a race
    finally:
        kill_group(first)
    assert second.returncode == 2, second.stderr
    assert f"run directory {run_dir} is in use by another seqbench process (pid {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    lines = (run_dir / RESULTS_CSV).read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("rnn|adding|12|0,")  # the finished trial once, nothing else


def test_the_writer_removes_temporary_files_a_killed_writer_left(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    left = [tmp_path / ".config.json.4242.tmp", tmp_path / "checkpoints" / ".rnn_adding_5_0.pt.4242.tmp"]
    for path in left:
        path.write_text("half")
    kept = tmp_path / "checkpoints" / "rnn_adding_5_0.pt"
    kept.write_text("whole")
    run = RunDir(tmp_path)
    run.acquire()
    try:
        assert not any(path.exists() for path in left) and kept.read_text() == "whole"
    finally:
        run.close()
