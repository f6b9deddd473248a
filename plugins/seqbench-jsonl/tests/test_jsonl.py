"""seqbench-jsonl: a tiny run writes one well-formed JSON-lines stream per trial."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import seqbench
import seqbench_jsonl
from seqbench.plugins.registry import Registry

PLUGIN = "seqbench_jsonl"
ROOT = Path(__file__).resolve().parent.parent
TINY = dict(tasks=["adding"], lengths=[8], steps=30, hidden=8, batch=8, eval_every=15, eval_examples=16)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class FakeWriter:
    """Stands in for torch.utils.tensorboard.SummaryWriter."""

    made: list = []

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        FakeWriter.made.append(self)

    def add_scalar(self, name, value, step):
        self.scalars.append((name, value, step))

    def close(self):
        self.closed = True


def test_a_run_writes_start_logs_and_end_per_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_TENSORBOARD", "0")
    monkeypatch.setattr(seqbench_jsonl.logger, "writer_factory", None)
    frame = seqbench.run(cells=["gru", "rnn"], plugins=[PLUGIN], out=tmp_path, **TINY)
    run_dir = Path(frame.attrs["run_dir"])
    files = sorted(p.name for p in (run_dir / "trials").iterdir())
    assert files == ["gru_adding_8_0.jsonl", "rnn_adding_8_0.jsonl"]
    for (_, row), name in zip(frame.iterrows(), ("gru", "rnn")):
        events = read(run_dir / "trials" / f"{name}_adding_8_0.jsonl")
        assert events[0]["event"] == "start" and events[-1]["event"] == "end"
        assert {e["trial"] for e in events} == {row["trial"]}
        assert events[0]["params"] == row["params"] and events[0]["spec"]["cell"] == name
        logs = events[1:-1]
        assert logs and all(e["event"] == "log" for e in logs)
        assert [e["step"] for e in logs] == sorted(e["step"] for e in logs)
        assert any("loss" in e for e in logs) and any("eval_loss" in e for e in logs)
        assert events[-1]["status"] == "ok" and events[-1]["row"]["loss"] == pytest.approx(row["loss"])
    assert not (run_dir / "tensorboard").exists()


def test_a_trial_that_never_started_still_gets_its_end_event(tmp_path):
    # a cell that cannot even be built: no start event, but an end event with its error
    logger = seqbench_jsonl.JsonlLogger()
    logger.seqbench_run_start(str(tmp_path / "run"))
    trial = type("Spec", (), {"key": "broken|adding|8|0"})()
    logger.seqbench_trial_end(trial, {"status": "error: RuntimeError: boom", "loss": float("nan")})
    events = read(tmp_path / "run" / "trials" / "broken_adding_8_0.jsonl")
    assert [e["event"] for e in events] == ["end"]
    assert events[0]["status"].startswith("error") and events[0]["row"]["loss"] is None


def test_tensorboard_scalars_when_a_writer_is_available(tmp_path, monkeypatch):
    FakeWriter.made = []
    monkeypatch.setattr(seqbench_jsonl.logger, "writer_factory", FakeWriter)
    frame = seqbench.run(cells=["gru"], plugins=[PLUGIN], out=tmp_path, **TINY)
    (writer,) = FakeWriter.made
    assert writer.log_dir == str(Path(frame.attrs["run_dir"]) / "tensorboard" / "gru_adding_8_0")
    assert {name for name, _, _ in writer.scalars} >= {"loss", "eval_loss"} and writer.closed


def test_tensorboard_is_skipped_when_missing_or_turned_off(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    assert seqbench_jsonl.tensorboard_writer() is None
    monkeypatch.setenv("SEQBENCH_TENSORBOARD", "0")
    assert seqbench_jsonl.tensorboard_writer() is None


def test_registered_as_a_logger_only():
    registry = Registry([PLUGIN], on_problem=pytest.fail)
    name = next(n for n in registry.plugins if registry.pm.get_plugin(n) is seqbench_jsonl)
    assert registry.contributions(name) == {"hook": ["run_end", "run_start", "trial_end", "trial_log", "trial_start"]}


def test_pyproject_declares_the_entry_point():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "seqbench-jsonl"
    assert project["entry-points"]["seqbench"] == {"jsonl": "seqbench_jsonl"}
