"""Executors: --jobs worker processes give the same numbers as a serial run, a worker that dies
is retried then reported, Ctrl-C stops the workers and keeps finished rows."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, group_alive, interruptible, run_process, subprocess_env
from seqbench.errors import UsageError
from seqbench.execute import Execution
from seqbench.runs.runner import run

METRICS = ["loss", "val_loss", "accuracy", "params", "steps", "solved"]


def _sweep(tmp_path, name, execution, **extra):
    options = {**TINY, "steps": 20, **extra}
    return run(["lstm", "gru", "transformer"], "adding", [12], seeds=2, out=tmp_path / name, progress=False,
               execution=execution, **options)


def test_jobs_give_the_numbers_of_a_serial_run(tmp_path):
    serial = _sweep(tmp_path, "serial", Execution(threads=1)).set_index("trial")
    jobs = _sweep(tmp_path, "jobs", Execution(jobs=2)).set_index("trial")
    assert sorted(serial.index) == sorted(jobs.index) and len(jobs) == 6
    jobs = jobs.loc[serial.index]
    for column in METRICS:
        assert serial[column].tolist() == jobs[column].tolist(), column  # exact, not approximate
    assert set(jobs["threads"]) == {1} and set(serial["threads"]) == {1}
    assert jobs["worker"].str.startswith("process ").all() and (serial["worker"] == "main").all()
    assert len(set(jobs["worker"])) == 2  # two worker processes shared the trials


def test_a_worker_that_dies_is_retried_and_marked(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_TEST_MARKER_DIR", str(tmp_path))
    frame = run(["dies-once", "lstm"], "adding", [12], seeds=2, out=tmp_path / "runs", plugins=["fixtures.dying_cells"],
                progress=False, execution=Execution(jobs=2), **TINY).set_index("trial")
    assert (frame["status"] == "ok").all(), frame["status"].tolist()
    assert frame.loc["dies-once|adding|12|0", "attempts"] == 2 and frame.loc["dies-once|adding|12|1", "attempts"] == 2
    assert (frame.loc[["lstm|adding|12|0", "lstm|adding|12|1"], "attempts"] == 1).all()
    assert sorted(p.name for p in tmp_path.glob("*.died")) == ["0.died", "1.died"]  # each died exactly once


def test_a_worker_that_always_dies_gets_an_error_row_and_the_run_goes_on(tmp_path):
    frame = run(["dies-always", "lstm"], "adding", [12], out=tmp_path, plugins=["fixtures.dying_cells"],
                progress=False, execution=Execution(jobs=2, retries=1), **TINY).set_index("trial")
    assert frame.loc["dies-always|adding|12|0", "status"] == "error: worker died (signal 9); 2 attempts"
    assert frame.loc["dies-always|adding|12|0", "attempts"] == 2
    assert frame.loc["lstm|adding|12|0", "status"] == "ok"
    on_disk = (Path(frame.attrs["run_dir"]) / "results.csv").read_text().splitlines()
    assert len(on_disk) == 3  # header + both rows, each once


@pytest.mark.parametrize("bad, message", [
    (dict(jobs="0"), "--jobs must be a positive integer or 'auto'"),
    (dict(jobs="many"), "--jobs must be a positive integer or 'auto'"),
    (dict(executor="dask"), "unknown executor 'dask'"),
    (dict(retries="-1"), "--retries must be an integer >= 0"),
    (dict(executor="ray", gpus_per_trial="half"), "--gpus-per-trial must be a number"),
])
def test_bad_execution_options_are_usage_errors(bad, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Execution(**bad).check()


def test_jobs_auto_shares_the_cores_one_thread_each():
    from seqbench.execute.cores import available_cores

    execution = Execution(jobs="auto").check()
    assert execution.jobs == available_cores() and execution.threads == 1
    assert Execution(jobs=1).check().threads == available_cores()


def test_ctrl_c_stops_the_workers_and_keeps_finished_rows(tmp_path):
    """A real SIGINT to the whole process group (what a terminal's Ctrl-C does) while one trial
    trains in a worker: exit 130, the finished row kept once, no process of the group left."""
    # rnn: 150 quick steps; napper sleeps 20 ms a step (at least 3 s), still training at the SIGINT
    args = [sys.executable, "-m", "seqbench", "run", "-p", "fixtures.dying_cells", "--cells", "rnn,napper",
            "--lengths", "12", "--hidden", "16", "--batch", "16", "--steps", "150", "--eval-every", "50",
            "--jobs", "2", "--out", str(tmp_path), "--quiet"]
    env = subprocess_env()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        results = None
        while time.time() < deadline:
            found = list(tmp_path.glob("*/results.csv"))
            if found and len(found[0].read_text().splitlines()) >= 2:
                results = found[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert results is not None, "no trial finished in time"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "seqbench run --resume" in err
    lines = results.read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("rnn|adding|12|0,")
    deadline = time.time() + 10
    while group_alive(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not group_alive(proc.pid), subprocess.run(["ps", "-o", "pid,pgid,args", "-g", str(proc.pid)],
                                                      capture_output=True, text=True).stdout
    resumed = run_process([sys.executable, "-m", "seqbench", "run", "-p", "fixtures.dying_cells", "--resume",
                           str(results.parent), "--jobs", "2", "--quiet"], env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = results.read_text().splitlines()
    assert after[:2] == lines and len(after) == 3 and after[2].startswith("napper|adding|12|0,")


def test_workers_started_before_planning_stop_when_the_plan_is_refused(tmp_path):
    import multiprocessing

    with pytest.raises(UsageError, match="lstm"):
        run("lstm", "adding", [12], out=tmp_path, progress=False, execution=Execution(jobs=2),
            cell_params={"lstm": {"no_such_option": 1}}, **TINY)
    assert not multiprocessing.active_children()  # the pool started for the run is gone
    assert not list(tmp_path.iterdir())  # and no run directory was made


def test_a_pool_with_more_workers_than_trials_runs_them_and_stops_the_rest(tmp_path):
    import multiprocessing

    frame = run("lstm", "adding", [12], out=tmp_path, progress=False, execution=Execution(jobs=3), **TINY)
    assert list(frame["status"]) == ["ok"] and frame["worker"].iloc[0].startswith("process ")
    assert not multiprocessing.active_children()


def test_workers_run_with_the_environment_and_folder_of_the_run_that_uses_them(tmp_path, monkeypatch):
    """Workers fork from a server started by the first parallel run of the process: what the
    driver's environment and working folder are when a later run starts is what they see."""
    _sweep(tmp_path, "first", Execution(jobs=2), steps=2)  # the fork server is up by now
    (tmp_path / "markers").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("SEQBENCH_TEST_MARKER_DIR", str(tmp_path / "markers"))
    monkeypatch.setenv("SEQBENCH_TEST_PROBE", "set after the first run")
    monkeypatch.chdir(tmp_path / "elsewhere")
    frame = run(["env-probe"], "adding", [12], seeds=2, out="runs", plugins=["fixtures.env_probe"],
                progress=False, execution=Execution(jobs=2), **TINY)
    assert (frame["status"] == "ok").all(), frame["status"].tolist()
    probes = [p.read_text().splitlines() for p in (tmp_path / "markers").glob("probe-*")]
    assert len(probes) == 2  # one per worker process
    assert all(p == ["set after the first run", str(tmp_path / "elsewhere")] for p in probes)
    assert (tmp_path / "elsewhere" / "runs").is_dir()  # the relative --out, in the driver's folder


def test_fewer_trials_than_jobs_give_the_idle_cores_to_the_trials_that_run(tmp_path):
    from seqbench.execute.cores import available_cores

    cores = available_cores()
    one = run(["lstm"], "adding", [12], out=tmp_path / "one", progress=False, execution=Execution(jobs=2), **TINY)
    assert one["threads"].tolist() == [cores] and one["worker"].str.startswith("process ").all()
    given = run(["lstm"], "adding", [12], out=tmp_path / "given", progress=False,
                execution=Execution(jobs=2, threads=1), **TINY)
    assert given["threads"].tolist() == [1]  # --threads is the caller's to set
    execution = Execution(jobs=4).check()
    assert execution.for_trials(8).threads == execution.threads
    assert execution.for_trials(2).threads == max(1, cores // 2) and execution.for_trials(2).jobs == 4


def test_where_there_is_no_fork_server_workers_are_spawned(tmp_path, monkeypatch):
    from seqbench.execute import processes

    monkeypatch.setattr(processes, "fork_server_here", lambda: False)  # macOS, Windows
    assert processes.worker_context().get_start_method() == "spawn"
    jobs = _sweep(tmp_path, "spawned", Execution(jobs=2), steps=4).set_index("trial")
    serial = _sweep(tmp_path, "serial", Execution(threads=1), steps=4).set_index("trial").loc[jobs.index]
    assert (jobs["status"] == "ok").all() and jobs["loss"].tolist() == serial["loss"].tolist()
    assert len(set(jobs["worker"])) == 2
