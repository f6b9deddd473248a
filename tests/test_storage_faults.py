"""Storage faults, for real where the machine allows it: a full disk (a small tmpfs, and a file
size limit), a read-only output folder (a read-only bind mount), results.csv cut mid-line by
hand, a damaged config.json and the run folder deleted while the run writes it. Each gives one
clear line (exit 2: the user must fix something), never a traceback, and keeps every row it
could keep; after the fix, --resume completes the run. (Two processes resuming one folder:
tests/test_store.py.) The tmpfs and bind-mount tests need root, as CI has; elsewhere they skip."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from seqbench.cli import main
from seqbench.store import RESULTS_CSV, read_frame

from conftest import group_alive, kill_group, run_process, subprocess_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file systems and signals")

# many small trials, one torch thread (the numbers do not depend on how the run was cut up)
SMALL = ["--cells", "rnn,gru", "--tasks", "adding", "--lengths", "6", "--hidden", "8", "--batch", "8",
         "--steps", "20", "--eval-every", "10", "--threads", "1"]


def seqbench(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return run_process([sys.executable, "-m", "seqbench", *args], timeout=timeout, env=subprocess_env(), **kwargs)


def one_error_line(stderr: str) -> str:
    """stderr holds no traceback, every line is seqbench's own, and exactly one is the error."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert all(line.startswith(("seqbench:", "seqbench run:")) for line in lines), stderr  # the plan, warnings
    errors = [line for line in lines if line.startswith("seqbench: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def whole_rows(run_dir: Path) -> list[dict]:
    data = (run_dir / RESULTS_CSV).read_bytes() if (run_dir / RESULTS_CSV).exists() else b""
    assert data == b"" or data.endswith(b"\n"), f"torn last line: {data[-60:]!r}"
    frame = read_frame(run_dir / RESULTS_CSV) if data else None
    return [] if frame is None or frame.empty else frame.to_dict("records")


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` at ``path``: a disk that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None or not _mount("-t", "tmpfs", "-o", f"size={size}",
                                                                         "tmpfs", str(path)):
        pytest.skip("a real full disk needs root to mount a small tmpfs (CI runs as root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def read_only(path: Path):
    """``path`` read-only for seqbench: a read-only bind mount as root (root ignores file modes),
    the write bits taken away otherwise."""
    if os.geteuid() == 0:
        if shutil.which("mount") is None or not _mount("--bind", str(path), str(path)):
            pytest.skip("a read-only folder for root needs a bind mount")
        try:
            if not _mount("-o", "remount,bind,ro", str(path), str(path)):
                pytest.skip("this machine refuses a read-only bind mount")
            yield path
        finally:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
    else:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p, mode in modes.items():
            p.chmod(mode & ~0o222)
        try:
            yield path
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_a_full_disk_keeps_every_row_that_fit_and_resume_completes_after_space_is_freed(tmp_path):
    disk = tmp_path / "disk"
    with tmpfs(disk, "20k"):  # five pages: the run's small files, then results.csv fills the last one
        first = seqbench("run", "-q", *SMALL, "--seeds", "12", "--out", str(disk))
        assert first.returncode == 2, first.stderr
        error = one_error_line(first.stderr)
        assert "No space left on device" in error and "seqbench run --resume" in error, error
        run_dir = next(disk.iterdir())
        kept = whole_rows(run_dir)
        assert 0 < len(kept) < 24 and f"{len(kept)} finished trial" in error, (len(kept), error)
        before = (run_dir / RESULTS_CSV).read_bytes()
        assert _mount("-o", "remount,size=4m", str(disk))  # the user frees space
        resumed = seqbench("run", "-q", "--resume", str(run_dir))
        assert resumed.returncode == 0, resumed.stderr
        rows = whole_rows(run_dir)
        assert (run_dir / RESULTS_CSV).read_bytes().startswith(before)  # what was kept stays as it was
        assert len(rows) == 24 and len({r["trial"] for r in rows}) == 24 and {r["status"] for r in rows} == {"ok"}


def test_a_file_size_limit_is_an_error_line_not_a_crash(tmp_path):
    """``ulimit -f``: past the limit a write fails (EFBIG) instead of the process being killed."""
    limit = 6_000  # results.csv reaches it after about 18 rows, curves.csv later

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    first = seqbench("run", "-q", *SMALL, "--seeds", "20", "--out", str(tmp_path), preexec_fn=limited)
    assert first.returncode == 2, first.stderr
    error = one_error_line(first.stderr)
    assert "File too large (the disk or a file size limit is full)" in error and "seqbench run --resume" in error, error
    run_dir = next(tmp_path.iterdir())
    kept = whole_rows(run_dir)
    assert 0 < len(kept) < 40 and (run_dir / RESULTS_CSV).stat().st_size <= limit
    resumed = seqbench("run", "-q", "--resume", str(run_dir))  # no limit now
    assert resumed.returncode == 0, resumed.stderr
    assert len({r["trial"] for r in whole_rows(run_dir)}) == 40


@pytest.fixture()
def interrupted_run(tmp_path) -> Path:
    """A run stopped (as by Ctrl-C) after its first trial of six."""
    first = seqbench("run", "-q", *SMALL, "--seeds", "3", "-p", "fixtures.interrupt_after_first",
                     "--out", str(tmp_path / "runs"))
    assert first.returncode == 130, first.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    assert len(whole_rows(run_dir)) == 1
    return run_dir


def test_a_read_only_output_folder(tmp_path, interrupted_run):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        fresh = seqbench("run", "-q", *SMALL, "--out", str(folder / "runs"))
    assert fresh.returncode == 2
    error = one_error_line(fresh.stderr)
    assert f"cannot create run directory {folder / 'runs'}" in error and ("Read-only" in error or "ermission" in error)
    assert not (folder / "runs").exists()

    before = {p.name: p.read_bytes() for p in interrupted_run.iterdir() if p.is_file()}
    with read_only(interrupted_run):
        resumed = seqbench("run", "-q", "--resume", str(interrupted_run), "-p", "no:fixtures.interrupt_after_first")
    assert resumed.returncode == 2
    error = one_error_line(resumed.stderr)
    assert f"cannot write in run directory {interrupted_run}" in error, error
    assert {p.name: p.read_bytes() for p in interrupted_run.iterdir() if p.is_file()} == before  # nothing lost
    again = seqbench("run", "-q", "--resume", str(interrupted_run), "-p", "no:fixtures.interrupt_after_first")
    assert again.returncode == 0, again.stderr  # writable again: the run completes
    assert len({r["trial"] for r in whole_rows(interrupted_run)}) == 6


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """Six finished trials, in this process (fast)."""
    out = tmp_path_factory.mktemp("finished")
    assert main(["run", "-q", *SMALL, "--seeds", "3", "--out", str(out)]) == 0
    return next(out.iterdir())


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


SAME = ["status", "params", "steps", "loss", "val_loss", "accuracy", "solved"]


@pytest.mark.parametrize("where", ["last line", "header"])
def test_results_csv_cut_mid_line_by_hand(finished_run, tmp_path, capsys, where):
    run_dir = _copy(finished_run, tmp_path)
    path = run_dir / RESULTS_CSV
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    cut = len(data) - len(lines[-1]) // 2 if where == "last line" else len(lines[0]) // 2
    path.write_bytes(data[:cut])
    kept = 5 if where == "last line" else 0

    assert main(["report", str(run_dir)]) == (0 if kept else 2)  # the whole lines; none: "no finished trials yet"
    capsys.readouterr()
    assert main(["run", "-q", "--resume", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "ends in a partial line" in err and "its trial runs again" in err and "Traceback" not in err
    after = path.read_bytes()
    assert after.startswith(b"".join(lines[:1 + kept]))  # whole lines before the cut are kept as they were
    original = {r["trial"]: r for r in read_frame(finished_run / RESULTS_CSV).to_dict("records")}
    rows = whole_rows(run_dir)
    assert sorted(r["trial"] for r in rows) == sorted(original)  # every trial once, the header whole
    for row in rows:  # the trials run again give the same numbers (NaN: a metric the task has not)
        before = original[row["trial"]]
        assert not [c for c in SAME if row[c] != before[c] and not (row[c] != row[c] and before[c] != before[c])], \
            (row["trial"], {c: (row[c], before[c]) for c in SAME})


DAMAGE = {
    "empty": b"",
    "cut in half": None,  # the real file, cut in the middle
    "not JSON": b"\x00\xffnot json",
    "a list": b"[1, 2]",
    "configs not a list": b'{"configs": 5}',
    "no configs": b'{"configs": []}',
    "a config not an object": b'{"configs": [1]}',
    "a bad value": b'{"configs": [{"cells": 7, "tasks": ["adding"]}]}',
    "an unknown key": b'{"configs": [{"cells": ["rnn"], "bogus": 1}]}',
    "tasks not an object": b'{"configs": [{"cells": ["rnn"]}], "tasks": "adding"}',
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_config_json_is_one_line(finished_run, tmp_path, capsys, damage):
    run_dir = _copy(finished_run, tmp_path)
    config = run_dir / "config.json"
    text = config.read_bytes()
    config.write_bytes(DAMAGE[damage] if DAMAGE[damage] is not None else text[: len(text) // 2])
    results = (run_dir / RESULTS_CSV).read_bytes()
    capsys.readouterr()
    assert main(["run", "-q", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqbench: error:") and "config.json" in err, err
    code = main(["report", str(run_dir)])  # the results can still be read where the damage allows
    err = capsys.readouterr().err
    assert code in (0, 2) and (code == 0 or (err.count("\n") == 1 and "config.json" in err)), err
    assert (run_dir / RESULTS_CSV).read_bytes() == results  # nothing was lost


def test_the_run_folder_deleted_while_the_run_writes_it(tmp_path):
    args = [sys.executable, "-m", "seqbench", "run", "-q", *SMALL, "--seeds", "6", "--steps", "300",
            "--out", str(tmp_path)]
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not [p for p in tmp_path.glob(f"*/{RESULTS_CSV}") if p.stat().st_size]:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        shutil.rmtree(next(tmp_path.iterdir()))
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None or group_alive(proc.pid):
            kill_group(proc)
    assert proc.returncode == 2, err
    error = one_error_line(err)
    assert "was deleted while the run was writing it" in error and "nothing could be kept" in error, error
    assert not list(tmp_path.iterdir())  # nothing was recreated behind the user's back
