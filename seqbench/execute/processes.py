"""``--jobs N``: trials in N worker processes on this machine.

Each worker is a Python process with ``WorkerSetup.threads`` torch threads that runs one trial
at a time through ``run_trial`` and sends back its lifecycle events and its row over a pipe;
the driver is the only writer of the run folder. Workers are forked from a fork server that
imported torch and the training code once (``worker_context``), started with the run
(``WorkerPool``) so that those imports overlap the driver's planning; each receives its
``WorkerSetup`` with its first trial. A free worker takes the queued trial expected to run
longest (``schedule.LongestFirst``); one with nothing left to take exits at once. A worker that dies
mid-trial (killed, out of memory, a crash in native code) is replaced and its trial run again
up to ``retries`` times, then given the row ``error: worker died …``. Workers ignore SIGINT:
on Ctrl-C the driver stops them and keeps every finished row.
"""
from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
from collections import Counter
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator, Optional

from seqbench.spec.config import TrialSpec
from seqbench.plugins.registry import Registry
from seqbench.execute.local import empty_row
from seqbench.execute.schedule import LongestFirst
from seqbench.execute.worker import WorkerSetup, work


# what every worker imports before its first trial: in the fork server once, else in each worker
PRELOAD = ("torch", "seqbench.train.loop", "seqbench.train.measure", "seqbench.models.model",
           "seqbench.plugins.registry")


def _worker_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
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

    def retire(self) -> None:
        """Ask an idle worker to exit, without waiting for it (``stop`` reaps it)."""
        try:
            self.conn.send(None)
        except OSError:
            pass

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
        import threading

        self.ctx = worker_context()
        self.workers: list[_Worker] = []
        self.closed = False
        self.lock = threading.Lock()
        # starting a worker waits for the fork server's imports: a thread waits, the driver plans
        self.starting = threading.Thread(target=self._start, args=(jobs,), daemon=True, name="seqbench-workers")
        self.starting.start()

    def _start(self, jobs: int) -> None:
        for _ in range(jobs):
            try:
                w = _Worker(self.ctx)
            except Exception:  # noqa: BLE001 - take() starts what is missing, and reports its error
                return
            with self.lock:
                if self.closed:
                    w.stop(kill=True)
                    return
                self.workers.append(w)

    def take(self, count: int) -> list[_Worker]:
        self.starting.join()
        with self.lock:
            taken, self.workers = self.workers[:count], self.workers[count:]
        while len(taken) < count:
            taken.append(_Worker(self.ctx))
        self.close()
        return taken

    def close(self) -> None:
        """Stop the workers not taken (and those still starting, as they come up)."""
        with self.lock:
            self.closed, idle, self.workers = True, self.workers, []
        for w in idle:
            w.stop(kill=True)  # idle: nothing to finish


def worker_context() -> Any:
    """How workers start: forked from a fork server that imported torch and the training code once
    (``PRELOAD``; nothing has run in it, so no torch threads or locks are copied), so each worker
    starts in milliseconds and the imports are paid once for all. On Linux only: elsewhere
    (macOS, where forking a process that loaded system frameworks is unsafe, and Windows)
    workers are spawned and each imports for itself. A forked worker takes the driver's
    environment, working folder and ``sys.path`` from its ``WorkerSetup``."""
    if not fork_server_here():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))  # read when the server starts, i.e. by the first worker
    return ctx


def fork_server_here() -> bool:
    return sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods()


def _stop_fork_server() -> None:
    """Kill the fork server when the driver exits. Left alone it exits once every worker has, and
    shuts its torch down for about a second while holding the driver's stdout and stderr open,
    so a caller reading them (a pipe, ``subprocess.run``) waited that second. It has no state."""
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            pass


atexit.register(_stop_fork_server)  # nothing to do where no fork server was started


class ProcessExecutor:
    """Runs trials in ``jobs`` worker processes (those of ``pool`` when given, else started by
    ``run``); yields ``(spec, row)`` as each finishes."""

    def __init__(self, jobs: int, setup: WorkerSetup, registry: Registry, retries: int = 1,
                 pool: Optional[WorkerPool] = None) -> None:
        self.jobs, self.setup, self.registry, self.retries = jobs, setup, registry, retries
        self.pool = pool or WorkerPool(0)
        self.ctx = self.pool.ctx

    def run(self, specs: list[TrialSpec], notify: Callable[..., None],
            expected: Optional[Callable[[TrialSpec], float]] = None) -> Iterator[tuple[TrialSpec, dict[str, Any]]]:
        """``expected(spec)``: the run's estimate of a trial's seconds, which orders the queue
        (``schedule.LongestFirst``)."""
        queue = LongestFirst(specs, expected)
        failures: Counter = Counter()
        workers = self.pool.take(min(self.jobs, len(queue)))
        retired: list[_Worker] = []
        try:
            for w in workers:
                if queue:
                    self._give(w, queue)
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
                        w.process.join(timeout=5)  # its exit status comes through the fork server
                        code = w.process.exitcode
                        w.stop(kill=True)
                        workers.remove(w)
                        failures[spec.key] += 1
                        if failures[spec.key] <= self.retries:
                            queue.give_back(spec)
                        else:
                            yield spec, self._died(spec, code, failures[spec.key])
                        if queue:
                            replacement = _Worker(self.ctx)
                            workers.append(replacement)
                            self._give(replacement, queue)
                        continue
                    kind, hook, payload = message
                    if kind == "event":
                        if hook is not None:
                            if hook == "seqbench_trial_log":
                                queue.progressed(spec, payload.get("step"))
                            notify(hook, trial=spec, **payload)
                        continue
                    row = payload
                    row["attempts"] = failures[spec.key] + 1
                    queue.finished(spec, row)
                    w.spec = None
                    if queue:
                        self._give(w, queue)
                    else:  # nothing left for it: it exits now, on its own core, not at the end
                        w.retire()
                        workers.remove(w)
                        retired.append(w)
                    yield spec, row
        finally:
            for w in workers:  # idle ones have nothing to finish; busy ones: Ctrl-C or an error in the driver
                w.stop(kill=True)
            for w in retired:
                w.stop(kill=True)

    def _give(self, w: _Worker, queue: LongestFirst) -> None:
        spec = queue.take()
        queue.started(spec)
        w.give(spec, self.setup)

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
