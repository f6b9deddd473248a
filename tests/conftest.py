"""Test set-up: no installed third-party plugins, small CPU-only configs, fixture plugins
importable by module name (``-p fixtures.bad_cells`` and friends)."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

HERE = Path(__file__).resolve().parent
os.environ["SEQBENCH_LOAD_PLUGINS"] = ""  # never auto-load installed plugins in tests
os.environ.pop("SEQBENCH_PLUGINS", None)
# the embedded corpus is built once per test session into a temporary cache, never ~/.cache
os.environ["SEQBENCH_CACHE"] = tempfile.mkdtemp(prefix="seqbench-test-cache-")
atexit.register(shutil.rmtree, os.environ["SEQBENCH_CACHE"], ignore_errors=True)
sys.path.insert(0, str(HERE))

from pictures_fixtures import small_run, speed_run  # noqa: E402,F401 - session runs for tables, plots, compare

# property tests: a few hundred examples in all by default; HYPOTHESIS_PROFILE=thorough for many more
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# small, fast trials for the runner and CLI tests
TINY = dict(hidden=16, batch=16, steps=12, eval_every=6, eval_examples=32)
TINY_ARGS = ["--hidden", "16", "--batch", "16", "--steps", "12", "--eval-every", "6"]


@pytest.fixture()
def registry():
    from seqbench.plugins.registry import Registry

    problems: list[str] = []
    reg = Registry(on_problem=problems.append)
    reg.problems_seen = problems
    return reg


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["SEQBENCH_LOAD_PLUGINS"] = ""
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def interruptible() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: the default disposition, so
    Python installs its KeyboardInterrupt handler even when the test run itself was started with
    SIGINT ignored (``cmd &`` in a non-interactive shell, ``nohup``), which children inherit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_process(args: list, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a process group of its own, which is killed whole (children too) on
    timeout or any failure, so no test leaves a process behind."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None or group_alive(proc.pid):
            kill_group(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` is still alive."""
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``'s whole process group (it was started with start_new_session) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
