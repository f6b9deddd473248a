"""--executor ray against a real Ray cluster of three nodes on this machine (no mocks): a sweep
through --ray-address gives the numbers of a serial run, a plugin missing on the workers gives
that trial an error row naming it, and a node removed mid-trial costs a retry, not a row.

Skipped without Ray (pip install -e '.[ray]'); CI installs the extra so these run there."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from conftest import HERE, TINY  # noqa: E402
from seqbench.execute import Execution  # noqa: E402
from seqbench.plugins.registry import Registry  # noqa: E402
from seqbench.runs.runner import run  # noqa: E402

pytestmark = pytest.mark.ray


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
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        node_id = marker.read_text() if marker.exists() else ""
        for node in cluster.workers:
            if node.node_id == node_id:
                cluster.remove_node(node, allow_graceful=False)
                removed.append(node_id)

    remover = threading.Thread(target=remove_napper_node, daemon=True)
    remover.start()
    frame = run(["napper", "lstm", "gru"], "adding", [12], out=tmp_path, plugins=["fixtures.dying_cells"],
                progress=False, execution=_ray(cluster, retries=2), **dict(TINY, steps=150)).set_index("trial")
    remover.join(timeout=5)
    assert removed, "the napper's node was never removed"
    assert len(frame) == 3 and (frame["status"] == "ok").all(), frame["status"].tolist()
    assert frame.loc["napper|adding|12|0", "attempts"] == 2
    assert removed[0][:8] not in frame.loc["napper|adding|12|0", "worker"]  # finished on the other node
    lines = (Path(frame.attrs["run_dir"]) / "results.csv").read_text().splitlines()
    assert len(lines) == 4  # header + every trial exactly once
