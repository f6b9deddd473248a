"""``--executor ray``: every trial is a Ray task, on this machine or across a Ray cluster.

Without an address Ray is started on this machine (``ray.init()``); with ``auto`` or
``HOST:PORT`` the driver joins a running cluster. Each task asks for ``cpus_per_trial`` CPUs
and ``gpus_per_trial`` GPUs (fractional values pack several small trials on one GPU) and runs
the trial through ``run_trial`` with the run's plugins, read from ``WorkerSetup``, which is put
once in Ray's object store with the corpora the driver read (workers download nothing).
Results, curves and checkpoints come back to the driver, which alone writes the run folder.

A task whose worker or node dies is submitted again by the driver, up to ``retries`` times,
so the row can say how many attempts it took (``attempts``); after that its row reads
``error: worker died …``. Ray's own ``max_retries`` would retry just as well but hides that
count. Ctrl-C cancels what is queued and running.

Joining a cluster (``connect``) keeps Ray's connection log off the terminal. A cluster with
token authentication on (what ``ray start --head`` does where a token exists, Ray ≥ 2.5x)
needs ``RAY_AUTH_MODE=token`` and the cluster's token (``RAY_AUTH_TOKEN`` or a file named by
``RAY_AUTH_TOKEN_PATH``) in the driver's environment; one that refuses this process is
reported in one line at once, before ``ray.init``'s retries.
"""
from __future__ import annotations

import os
import socket
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from seqbench.spec.config import TrialSpec
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.execute.local import empty_row
from seqbench.execute.worker import WorkerSetup, work

INSTALL_HINT = "Ray is not installed; install it with: pip install 'seqbench[ray]'"
TOKEN_HINT = ("RAY_AUTH_TOKEN to the token that `ray get-auth-token` prints on the head node "
              "(or RAY_AUTH_TOKEN_PATH to a file holding it)")
PROBE_TIMEOUT_S = 5.0


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray: {INSTALL_HINT}") from None
    return ray


def _ray_trial(spec: TrialSpec, setup: WorkerSetup) -> tuple[dict[str, Any], dict[str, bytes], list]:
    import os

    import ray

    events: list = []
    node = ray.get_runtime_context().get_node_id()[:8]
    where = f"ray node {node} pid {os.getpid()}"
    row, files = work(spec, setup, lambda hook, **kwargs: events.append((hook, kwargs)), where)
    return row, files, events


class RayExecutor:
    """Runs trials as Ray tasks; yields ``(spec, row)`` as each finishes."""

    def __init__(self, setup: WorkerSetup, registry: Registry, run_dir: Path, address: Optional[str] = None,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, retries: int = 1) -> None:
        self.ray = import_ray()
        self.setup, self.registry, self.run_dir = setup, registry, run_dir
        self.cpus, self.gpus, self.retries = cpus_per_trial, gpus_per_trial, retries
        self.started_here = not self.ray.is_initialized()
        if self.started_here:
            connect(self.ray, address)
        resources = self.ray.cluster_resources()
        if resources.get("CPU", 0) < self.cpus or resources.get("GPU", 0) < self.gpus:
            raise UsageError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} "
                             f"GPUs; a trial asks for {self.cpus:g} and {self.gpus:g} (--cpus-per-trial, "
                             "--gpus-per-trial)")
        self.remote = self.ray.remote(_ray_trial).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)

    def run(self, specs: list[TrialSpec], notify: Callable[..., None],
            expected: Optional[Callable[[TrialSpec], float]] = None) -> Iterator[tuple[TrialSpec, dict[str, Any]]]:
        """Every trial is submitted at once, those ``expected`` (seconds) to run longest first."""
        from seqbench.execute.schedule import LongestFirst

        ray = self.ray
        specs = LongestFirst(specs, expected).ordered()
        from ray import exceptions as rex

        died = (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError, rex.OwnerDiedError,
                rex.LocalRayletDiedError, rex.RaySystemError)
        setup_ref = ray.put(self.setup)
        pending: dict[Any, TrialSpec] = {self.remote.remote(spec, setup_ref): spec for spec in specs}
        failures: Counter = Counter()
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    row, files, events = ray.get(done[0])
                except died as exc:
                    failures[spec.key] += 1
                    if failures[spec.key] <= self.retries:
                        pending[self.remote.remote(spec, setup_ref)] = spec
                        continue
                    row, files, events = self._error(spec, f"worker died ({type(exc).__name__})", failures[spec.key]), {}, []
                except rex.RayTaskError as exc:  # the worker could not even start the trial
                    message = " ".join(str(exc.cause if hasattr(exc, "cause") else exc).split())
                    row, files, events = self._error(spec, message, failures[spec.key] + 1), {}, []
                else:
                    row["attempts"] = failures[spec.key] + 1
                for name, data in files.items():
                    path = self.run_dir / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                for hook, kwargs in events:
                    notify(hook, trial=spec, **kwargs)
                yield spec, row
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _error(self, spec: TrialSpec, message: str, attempts: int) -> dict[str, Any]:
        row = empty_row(spec, self.registry)
        row["status"] = f"error: {message}; {attempts} attempt{'s' if attempts != 1 else ''}"[:500]
        row["attempts"], row["worker"] = attempts, "ray"
        return row

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def connect(ray: Any, address: Optional[str]) -> None:
    """``ray.init``: join the cluster at ``address`` (``auto``, ``HOST:PORT``) or, without one, start
    Ray on this machine. Ray's own log (a warning a second while it retries) is kept off the
    terminal; a refused token or an address where nothing answers is one UsageError, at once."""
    with _quiet_stderr():
        if address and address != "auto":
            _probe(ray, address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError or its own errors
            if _refused_token(ray, exc):
                raise UsageError(_token_message(address)) from None
            if isinstance(exc, (ConnectionError, RuntimeError)):
                raise UsageError(f"--ray-address {address}: cannot connect to a Ray cluster: "
                                 f"{' '.join(str(exc).split())}") from None
            raise


def _probe(ray: Any, address: str) -> None:
    """Fail fast where ``ray.init`` would retry for many seconds: nothing listening at ``address``,
    or a cluster that refuses this process's token (one request to its GCS)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return  # Ray says what is wrong with it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); "
                         "start the head node with: ray start --head --port PORT") from None
    try:
        from ray._raylet import GcsClient  # Ray's own client of the cluster's GCS (not a public API)

        GcsClient(address=address, cluster_id=None)
    except Exception as exc:  # noqa: BLE001 - anything but a refused token is left to ray.init
        if _refused_token(ray, exc):
            raise UsageError(_token_message(address)) from None


def _refused_token(ray: Any, exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is Ray refusing the connection for its token."""
    auth_error = getattr(ray.exceptions, "AuthenticationError", ())  # Ray < 2.5x has no token authentication
    seen: set = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        if isinstance(exc, auth_error) or "InvalidAuthToken" in text or "no authentication token was found" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _token_message(address: Optional[str]) -> str:
    where = f"--ray-address {address}" if address else "--executor ray"
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return (f"{where}: the Ray cluster requires token authentication: set RAY_AUTH_MODE=token and {TOKEN_HINT}")
    return (f"{where}: the Ray cluster refused this process's token (RAY_AUTH_MODE=token; RAY_AUTH_TOKEN, "
            f"RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token missing or not the cluster's): set {TOKEN_HINT}")


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 points to /dev/null inside: Ray's C++ core writes its log lines there
    directly, past ``sys.stderr``."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
