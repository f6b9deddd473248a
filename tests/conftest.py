"""Test set-up: no installed third-party plugins, small CPU-only configs, fixture plugins
importable by module name (``-p fixtures.bad_cells`` and friends)."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
os.environ["SEQBENCH_LOAD_PLUGINS"] = ""  # never auto-load installed plugins in tests
os.environ.pop("SEQBENCH_PLUGINS", None)
# the embedded corpus is built once per test session into a temporary cache, never ~/.cache
os.environ["SEQBENCH_CACHE"] = tempfile.mkdtemp(prefix="seqbench-test-cache-")
atexit.register(shutil.rmtree, os.environ["SEQBENCH_CACHE"], ignore_errors=True)
sys.path.insert(0, str(HERE))

from pictures_fixtures import small_run, speed_run  # noqa: E402,F401 - session runs for tables, plots, compare

# small, fast trials for the runner and CLI tests
TINY = dict(hidden=16, batch=16, steps=12, eval_every=6, eval_examples=32)
TINY_ARGS = ["--hidden", "16", "--batch", "16", "--steps", "12", "--eval-every", "6"]


@pytest.fixture()
def registry():
    from seqbench.registry import Registry

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
