"""``--jobs N``: trials in N worker processes on this machine.

Each worker is a fresh (spawned) Python process with ``WorkerSetup.threads`` torch threads
that runs one trial at a time through ``run_trial`` and sends back its lifecycle events and
its row over a pipe; the driver is the only writer of the run folder. Workers can be started
before the run is planned (``WorkerPool``): they import torch and the training code while the
driver validates and prepares, and receive their ``WorkerSetup`` with their first trial. A worker that dies
mid-trial (killed, out of memory, a crash in native code) is replaced and its trial run again
up to ``retries`` times, then given the row ``error: worker died …``. Workers ignore SIGINT:
on Ctrl-C the driver stops them and keeps every finished row.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import Counter, deque
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator, Optional

from seqbench.spec.config import TrialSpec
from seqbench.plugins.registry import Registry
from seqbench.execute.local import empty_row
from seqbench.execute.worker import WorkerSetup, work


def _worker_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    from seqbench.train import measure, loop as train
    from seqbench.models import model  # noqa: F401 - torch and the training code, before the first trial

    worker = f"process {os.getpid()}"
    setup: Optional[WorkerSetup] = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if isinstance(message, WorkerSetup):
            setup = message
            continue
        assert setup is not None, "a trial before the worker's setup"
        row, _ = work(message, setup, lambda hook, **kwargs: conn.send(("event", hook, kwargs)), worker)
        conn.send(("row", None, row))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="seqbench-worker")
        self.process.start()
        child.close()
        self.spec: Optional[TrialSpec] = None
        self.setup: Optional[WorkerSetup] = None

    def give(self, spec: TrialSpec, setup: WorkerSetup) -> None:
        if self.setup is not setup:
            self.setup = setup
            self.conn.send(setup)
        self.spec = spec
        self.conn.send(spec)

    def stop(self, kill: bool = False) -> None:
        if self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool:
    """``jobs`` worker processes started now, before they have anything to run (so their start-up
    overlaps the driver's planning); ``take`` hands them to one ``ProcessExecutor.run``, ``close``
    stops whatever was not taken."""

    def __init__(self, jobs: int) -> None:
        self.ctx = mp.get_context("spawn")  # fork would copy the driver's torch threads and locks
        self.workers = [_Worker(self.ctx) for _ in range(jobs)]

    def take(self, count: int) -> list[_Worker]:
        taken, self.workers = self.workers[:count], self.workers[count:]
        while len(taken) < count:
            taken.append(_Worker(self.ctx))
        self.close()
        return taken

    def close(self) -> None:
        for w in self.workers:
            w.stop(kill=True)  # idle: nothing to finish
        self.workers = []


class ProcessExecutor:
    """Runs trials in ``jobs`` worker processes (those of ``pool`` when given, else started by
    ``run``); yields ``(spec, row)`` as each finishes."""

    def __init__(self, jobs: int, setup: WorkerSetup, registry: Registry, retries: int = 1,
                 pool: Optional[WorkerPool] = None) -> None:
        self.jobs, self.setup, self.registry, self.retries = jobs, setup, registry, retries
        self.pool = pool or WorkerPool(0)
        self.ctx = self.pool.ctx

    def run(self, specs: list[TrialSpec], notify: Callable[..., None]) -> Iterator[tuple[TrialSpec, dict[str, Any]]]:
        queue = deque(specs)
        failures: Counter = Counter()
        workers = self.pool.take(min(self.jobs, len(queue)))
        try:
            for w in workers:
                if queue:
                    w.give(queue.popleft(), self.setup)
            while any(w.spec is not None for w in workers):
                busy = [w for w in workers if w.spec is not None]
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for w in busy:
                    if w.conn not in ready and w.process.sentinel not in ready:
                        continue
                    message = self._receive(w)
                    spec = w.spec
                    assert spec is not None
                    if message is None:  # the worker died mid-trial
                        code = w.process.exitcode
                        w.stop(kill=True)
                        workers.remove(w)
                        failures[spec.key] += 1
                        if failures[spec.key] <= self.retries:
                            queue.appendleft(spec)
                        else:
                            yield spec, self._died(spec, code, failures[spec.key])
                        if queue:
                            replacement = _Worker(self.ctx)
                            workers.append(replacement)
                            replacement.give(queue.popleft(), self.setup)
                        continue
                    kind, hook, payload = message
                    if kind == "event":
                        if hook is not None:
                            notify(hook, trial=spec, **payload)
                        continue
                    row = payload
                    row["attempts"] = failures[spec.key] + 1
                    w.spec = None
                    if queue:
                        w.give(queue.popleft(), self.setup)
                    yield spec, row
        finally:
            stopping = any(w.spec is not None for w in workers)  # Ctrl-C or an error in the driver
            for w in workers:
                w.stop(kill=stopping)

    def close(self) -> None:
        self.pool.close()  # workers that run() took stop with its generator

    @staticmethod
    def _receive(w: _Worker) -> Optional[tuple]:
        try:
            if w.conn.poll():
                return w.conn.recv()
        except (EOFError, OSError):
            return None
        return None if not w.process.is_alive() else ("event", None, None)

    def _died(self, spec: TrialSpec, code: Optional[int], attempts: int) -> dict[str, Any]:
        row = empty_row(spec, self.registry)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        row["status"] = f"error: worker died ({how}); {attempts} attempt{'s' if attempts != 1 else ''}"
        row["attempts"], row["worker"] = attempts, "process"
        return row
