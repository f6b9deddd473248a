"""--executor ray against a real Ray cluster of three nodes on this machine (no mocks): a sweep
through --ray-address gives the numbers of a serial run, a plugin missing on the workers gives
that trial an error row naming it, and a node removed mid-trial costs a retry, not a row.
A second cluster, started with ``ray start`` as the README says, has token authentication on:
trials run on its second node, and a driver without the token gets one line naming what to set.

Skipped without Ray (pip install -e '.[ray]'); CI installs the extra so these run there."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from conftest import HERE, TINY, TINY_ARGS, run_process, subprocess_env  # noqa: E402
from seqbench.execute import Execution  # noqa: E402
from seqbench.plugins.registry import Registry  # noqa: E402
from seqbench.runs.runner import run  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # Ray clusters: python -m pytest -m slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node with no CPUs (the driver's) and two 1-CPU worker nodes, all on 127.0.0.1."""
    marker_dir = tmp_path_factory.mktemp("markers")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "SEQBENCH_TEST_MARKER_DIR")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), saved["PYTHONPATH"] or ""])  # fixtures.* on workers
    os.environ["SEQBENCH_TEST_MARKER_DIR"] = str(marker_dir)
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                           "health_check_failure_threshold": 2}})
    workers = [c.add_node(num_cpus=1) for _ in range(2)]
    c.wait_for_nodes()
    c.workers, c.marker_dir = workers, marker_dir
    yield c
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _ray(cluster, **extra):
    return Execution(executor="ray", ray_address=cluster.address, **extra)


def test_a_sweep_through_ray_address_gives_the_numbers_of_a_serial_run(cluster, tmp_path):
    options = dict(TINY, steps=20, seeds=2)
    serial = run(["lstm", "gru"], "adding", [12], out=tmp_path / "serial", progress=False,
                 execution=Execution(threads=1), **options).set_index("trial")
    on_ray = run(["lstm", "gru"], "adding", [12], out=tmp_path / "ray", progress=False,
                 execution=_ray(cluster), **options).set_index("trial").loc[serial.index]
    for column in ("loss", "val_loss", "accuracy", "params", "steps"):
        assert serial[column].tolist() == on_ray[column].tolist(), column
    assert on_ray["worker"].str.startswith("ray node ").all() and (on_ray["attempts"] == 1).all()
    assert on_ray["worker"].str.split(" ").str[2].nunique() == 2  # both worker nodes took trials


def test_a_plugin_missing_on_the_workers_gives_its_trial_an_error_row(cluster, tmp_path, monkeypatch):
    folder = tmp_path / "driver-only"
    folder.mkdir()
    (folder / "driver_only_cell.py").write_text(
        "import seqbench\nfrom fixtures.good_plugin import TinyLinearCell\n\n"
        "@seqbench.hookimpl\ndef seqbench_register_cells(register):\n"
        "    register('driver-only', TinyLinearCell)\n")
    monkeypatch.syspath_prepend(str(folder))
    registry = Registry(["driver_only_cell"])  # the driver has it ...
    (folder / "driver_only_cell.py").unlink()  # ... the workers never will
    frame = run(["driver-only", "lstm"], "adding", [12], out=tmp_path / "runs", plugins=["driver_only_cell"],
                registry=registry, progress=False, execution=_ray(cluster), **TINY).set_index("trial")
    status = frame.loc["driver-only|adding|12|0", "status"]
    assert status.startswith("error: plugin not available on this worker") and "driver_only_cell" in status
    assert frame.loc["lstm|adding|12|0", "status"] == "ok"


def test_a_node_removed_mid_trial_costs_a_retry_not_a_row(cluster, tmp_path):
    """napper sleeps 20 ms a step and says which node it runs on; that node is removed while it
    trains. Ray reports the task's worker died; seqbench submits it again on the other node."""
    marker = Path(cluster.marker_dir) / "napper-node"
    marker.unlink(missing_ok=True)
    removed: list[str] = []

    def remove_napper_node() -> None:
        deadline = time.time() + 120
        node_id = ""
        while not node_id and time.time() < deadline:
            node_id = marker.read_text() if marker.exists() else ""
            time.sleep(0.05)
        for node in cluster.workers:
            if node.node_id == node_id:
                cluster.remove_node(node, allow_graceful=False)
                removed.append(node_id)

    remover = threading.Thread(target=remove_napper_node, daemon=True)
    remover.start()
    frame = run(["napper", "lstm", "gru"], "adding", [12], out=tmp_path, plugins=["fixtures.dying_cells"],
                progress=False, execution=_ray(cluster, retries=2), **dict(TINY, steps=150)).set_index("trial")
    remover.join(timeout=5)
    assert removed, (f"the napper's node was never removed: marker {marker.read_text() if marker.exists() else None!r}, "
                     f"workers {[node.node_id for node in cluster.workers]}")
    assert len(frame) == 3 and (frame["status"] == "ok").all(), frame["status"].tolist()
    assert frame.loc["napper|adding|12|0", "attempts"] == 2
    assert removed[0][:8] not in frame.loc["napper|adding|12|0", "worker"]  # finished on the other node
    lines = (Path(frame.attrs["run_dir"]) / "results.csv").read_text().splitlines()
    assert len(lines) == 4  # header + every trial exactly once


# --------------------------------------------------------------------------- token authentication

TOKEN_AUTH = hasattr(ray.exceptions, "AuthenticationError")  # Ray >= 2.5x


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``: Ray's daemons stay in the session of the
    ``ray start`` that spawned them, whatever process group they move to."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, every process of ``proc``'s session; reap ``proc``."""
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):  # throwaway nodes: no long wind-down
        for pid in _session_pids(proc.pid):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + grace
        while _session_pids(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _ray_start(args: list, env: dict, log: Path, started: list) -> None:
    """``ray start --block ARGS`` in a session of its own; returns once it says the runtime started."""
    ray_cli = Path(sys.executable).with_name("ray")
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ray_cli), "start", "--block", "--node-ip-address", "127.0.0.1",
                                 "--disable-usage-stats", "--object-store-memory", str(100 * 1024 * 1024),
                                 "--dashboard-agent-listen-port", str(_free_port()), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    started.append(proc)
    deadline = time.time() + 180
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"ray start {' '.join(args[:2])} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def token_cluster():
    """A head node with no CPUs and a second node with one, on 127.0.0.1, both started with
    RAY_AUTH_MODE=token and the token in a file named by RAY_AUTH_TOKEN_PATH, under a HOME of
    their own (~/.ray/auth_token is neither read nor written); every process they start is killed
    at the end, whatever happened."""
    if not TOKEN_AUTH or not sys.platform.startswith("linux") or not Path(sys.executable).with_name("ray").exists():
        pytest.skip("needs Ray with token authentication, its ray command and Linux's /proc")
    root = Path(tempfile.mkdtemp(prefix="sbray-", dir="/tmp"))  # short: Ray's socket paths live under it
    token = secrets.token_hex(32)
    (root / "token").write_text(token)
    (root / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(root / "home"), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(root / "token"))
    port = _free_port()
    started: list[subprocess.Popen] = []
    try:
        _ray_start(["--head", "--port", str(port), "--num-cpus", "0", "--include-dashboard", "false",
                    "--temp-dir", str(root / "ray")], env, root / "head.log", started)
        _ray_start(["--address", f"127.0.0.1:{port}", "--num-cpus", "1"], env, root / "node.log", started)
        yield {"address": f"127.0.0.1:{port}", "token": token, "home": str(root / "home")}
    finally:
        for proc in reversed(started):
            _stop_session(proc)
        shutil.rmtree(root, ignore_errors=True)


def _driver(cluster: dict, out: Path, **auth: str) -> subprocess.CompletedProcess:
    """`seqbench run --executor ray --ray-address` in a fresh process with the environment ``auth``."""
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("RAY_")}
    env.update(HOME=cluster["home"], **auth)
    args = ["--executor", "ray", "--ray-address", cluster["address"], "-q", "--cells", "lstm,gru", "--seeds", "2",
            "--tasks", "adding", "--lengths", "10", *TINY_ARGS, "--out", str(out)]
    return run_process([sys.executable, "-m", "seqbench", "run", *args], env=env, timeout=300)


def test_trials_run_on_a_cluster_with_token_authentication(token_cluster, tmp_path):
    result = _driver(token_cluster, tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token_cluster["token"])
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next(tmp_path.iterdir())
    lines = (run_dir / "results.csv").read_text().splitlines()
    assert len(lines) == 5  # header + each of the 4 trials exactly once
    import pandas as pd

    frame = pd.read_csv(run_dir / "results.csv")
    assert sorted(frame["trial"]) == sorted(f"{c}|adding|10|{s}" for c in ("lstm", "gru") for s in (0, 1))
    assert (frame["status"] == "ok").all(), frame["status"].tolist()
    assert frame["worker"].str.startswith("ray node ").all()  # the second node: the head has no CPUs


@pytest.mark.parametrize("auth, says", [
    ({}, "the Ray cluster requires token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the token "
         "that `ray get-auth-token` prints on the head node (or RAY_AUTH_TOKEN_PATH to a file holding it)"),
    ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"}, "the Ray cluster refused this process's token"),
])
def test_a_driver_without_the_token_gets_one_line(token_cluster, tmp_path, auth, says):
    result = _driver(token_cluster, tmp_path, **auth)
    assert result.returncode == 2, result.stderr[-3000:]
    prefix = f"seqbench: error: --ray-address {token_cluster['address']}: {says}"
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower() or "auth" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(prefix), result.stderr[-3000:]
    assert "gcs_client" not in result.stderr and "Traceback" not in result.stderr  # no Ray retry log
