"""What a worker (a ``--jobs`` process or a Ray worker) needs to run trials exactly as the
driver would: the same plugins, torch threads and subnormal mode, and the corpora the driver
already read. ``WorkerSetup`` is plain data, pickled once per worker (or put in Ray's object
store); ``prepare`` builds the worker's registry from it once per process."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from seqbench.spec.config import TrialSpec
from seqbench.errors import SeqbenchError
from seqbench.plugins.registry import Registry
from seqbench.execute.local import empty_row, run_trial


@dataclass
class WorkerSetup:
    plugins: list[str]  # the run's -p modules; SEQBENCH_PLUGINS travels in the environment
    plugin_env: str  # the driver's SEQBENCH_PLUGINS
    threads: int  # torch intra-op threads per trial
    flush_denormal: bool
    checkpoint_dir: Optional[str]  # None: send checkpoints back to the driver as bytes
    corpora: dict[str, Any] = field(default_factory=dict)  # corpus spec → Corpus, read on the driver
    cwd: str = field(default_factory=os.getcwd)  # -p MODULE may name a file in the driver's folder
    # a worker process on this machine takes the driver's environment, folder and sys.path (a
    # forked worker has its fork server's); None for Ray, whose nodes keep their own
    environ: Optional[dict[str, str]] = None
    sys_path: Optional[list[str]] = None
    token: str = field(default_factory=lambda: os.urandom(8).hex())  # one setup per run


_prepared: dict[str, tuple[Registry, Optional[str]]] = {}


def prepare(setup: WorkerSetup) -> tuple[Registry, Optional[str]]:
    """This process's registry and torch settings for ``setup`` (once per process). The second
    value is a one-line problem when a plugin of the run cannot be loaded here."""
    key = setup.token
    if key in _prepared:
        return _prepared[key]
    import torch

    if setup.environ is not None:
        os.environ.clear()
        os.environ.update(setup.environ)
        if os.path.isdir(setup.cwd):
            os.chdir(setup.cwd)
    if setup.sys_path is not None:
        sys.path[:] = setup.sys_path
    torch.set_num_threads(max(1, setup.threads))
    torch.set_flush_denormal(setup.flush_denormal)
    from seqbench.data import corpus

    corpus.provide(setup.corpora)
    if setup.plugin_env:
        os.environ["SEQBENCH_PLUGINS"] = setup.plugin_env
    if os.path.isdir(setup.cwd) and setup.cwd not in sys.path:
        sys.path.append(setup.cwd)
    problems: list[str] = []
    try:
        registry = Registry(setup.plugins, on_problem=problems.append)
    except SeqbenchError as exc:
        registry, problems = Registry(on_problem=lambda _: None), [str(exc)]
    problem = f"plugin not available on this worker ({_host()}): {problems[0]}" if problems else None
    _prepared.clear()
    _prepared[key] = (registry, problem)
    return registry, problem


def work(spec: TrialSpec, setup: WorkerSetup, notify: Callable[..., None],
         worker: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Run one trial in a worker; events go to ``notify(hook_name, **kwargs)`` (forwarded to the
    driver, without the ``trial`` argument the driver fills back in). Returns the row and, when
    the worker cannot write the driver's run folder (``checkpoint_dir`` None), the files the trial
    saved there (``{"checkpoints/NAME": bytes}``) for the driver to write."""
    registry, problem = prepare(setup)
    files: dict[str, bytes] = {}
    if problem is not None and not (spec.cell in registry.cells and spec.task in registry.tasks):
        row = empty_row(spec, registry)
        row["status"] = f"error: {problem}"[:500]
    else:
        forward = lambda hook, trial=None, **kwargs: notify(hook, **kwargs)  # noqa: E731
        if setup.checkpoint_dir is not None or not spec.save:
            row = run_trial(spec, registry, Path(setup.checkpoint_dir) if setup.checkpoint_dir else None, forward)
        else:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "checkpoints"
                folder.mkdir()
                row = run_trial(spec, registry, folder, forward)
                files = {f"checkpoints/{p.name}": p.read_bytes() for p in folder.iterdir()}
    row["worker"] = worker
    return row, files


def _host() -> str:
    import socket

    return f"{socket.gethostname()}, pid {os.getpid()}"
