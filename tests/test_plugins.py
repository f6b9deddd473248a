"""The plugin ecosystem end to end: a scaffolded plugin runs and checks without editing a line;
report formats come from plugins; every isolation case is one clear line naming the plugin."""
from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.spec.config import parse_names
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.plugins.scaffold import scaffold

from conftest import TINY_ARGS, run_process, subprocess_env

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

RUN_ARGS = ["-q", "--tasks", "adding", "--lengths", "5", *TINY_ARGS]


def lines_naming(text: str, plugin: str) -> list[str]:
    return [line for line in text.splitlines() if f"'{plugin}'" in line]


# --------------------------------------------------------------------------- scaffolding


@pytest.fixture()
def scaffolded(tmp_path, monkeypatch):
    """A freshly scaffolded plugin 'tidy-cell' on sys.path (as `-p` with PYTHONPATH would see it)."""
    root = scaffold("tidy-cell", tmp_path)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("seqbench_tidy_cell")]:
        del sys.modules[name]


def test_scaffold_writes_a_complete_package(scaffolded):
    files = sorted(str(p.relative_to(scaffolded)) for p in scaffolded.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "seqbench_tidy_cell/__init__.py", "tests/test_tidy_cell.py"]
    project = tomllib.loads((scaffolded / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "seqbench-tidy-cell"
    assert project["entry-points"]["seqbench"] == {"tidy-cell": "seqbench_tidy_cell"}
    readme = (scaffolded / "README.md").read_text(encoding="utf-8")
    assert "pip install -e tidy-cell" in readme and "seqbench check --cells tidy-cell" in readme


def test_scaffolded_plugin_runs_and_checks_with_dash_p(scaffolded, tmp_path, capsys):
    assert main(["run", "-p", "seqbench_tidy_cell", "--cells", "tidy-cell,gru", "--out", str(tmp_path / "runs"),
                 *RUN_ARGS]) == 0
    rows = pd.read_csv(next((tmp_path / "runs").iterdir()) / "results.csv")
    assert list(rows["cell"]) == ["tidy-cell", "gru"] and list(rows["status"]) == ["ok", "ok"]
    capsys.readouterr()
    assert main(["check", "-p", "seqbench_tidy_cell", "--cells", "tidy-cell"]) == 0
    out = capsys.readouterr()
    assert "FAIL" not in out.out and "1 cell, 5 passed, 0 failed" in out.err


def test_entry_point_discovery_finds_the_scaffolded_plugin(scaffolded, tmp_path, monkeypatch):
    """What `pip install` leaves behind — a dist-info folder with the pyproject's entry point on
    sys.path — is enough for every command to load the plugin without -p."""
    project = tomllib.loads((scaffolded / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist_info = tmp_path / "site" / "seqbench_tidy_cell-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist_info / "entry_points.txt").write_text(
        "[seqbench]\n" + "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["seqbench"].items()))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert [ep.value for ep in metadata.entry_points(group="seqbench") if ep.name == "tidy-cell"] == ["seqbench_tidy_cell"]
    monkeypatch.setenv("SEQBENCH_LOAD_PLUGINS", "tidy-cell")
    registry = Registry(on_problem=pytest.fail)
    assert registry.cells["tidy-cell"].provider == "tidy-cell"
    info = registry.plugins["tidy-cell"]
    assert (info.source, info.version) == ("entry point", "0.1.0")
    assert registry.contributions("tidy-cell") == {"cell": ["tidy-cell"]}


def test_scaffolded_package_passes_its_own_tests(scaffolded):
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(scaffolded), env["PYTHONPATH"]])
    env["OMP_NUM_THREADS"] = "1"
    result = run_process([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                         cwd=scaffolded, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.parametrize("name, message", [
    ("My.Cell", "invalid plugin name 'My.Cell'"),
    ("1cell", "invalid plugin name"),
    ("cell-", "invalid plugin name"),
    ("class", "invalid plugin name 'class'"),
    ("lstm", "a cell named 'lstm' is already registered"),
])
def test_scaffold_rejects_bad_names(tmp_path, capsys, name, message):
    assert main(["plugins", "new", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_scaffold_never_overwrites(tmp_path, capsys):
    assert main(["plugins", "new", "mine", "--dir", str(tmp_path)]) == 0
    before = (tmp_path / "mine" / "seqbench_mine" / "__init__.py").read_text()
    assert main(["plugins", "new", "mine", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "mine" / "seqbench_mine" / "__init__.py").read_text() == before
    with pytest.raises(UsageError, match="no such folder"):
        scaffold("other", tmp_path / "missing")


# --------------------------------------------------------------------------- listing


def test_plugins_lists_what_each_plugin_contributes(capsys):
    assert main(["plugins", "-p", "fixtures.good_plugin", "-p", "fixtures.report_formats"]) == 0
    out = capsys.readouterr().out
    good = next(line for line in out.splitlines() if "fixtures.good_plugin" in line)
    assert "cells: tiny-linear; metrics: loss_x2; hooks: trial_end" in good and " -p " in good
    assert "report formats: upper, explodes" in out  # its 'csv' duplicate is not counted
    assert "report formats: table, markdown, csv, json" in out and "cells: rnn, lstm, gru" in out


# --------------------------------------------------------------------------- report formats


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    frame = seqbench.run(cells=["gru"], tasks=["adding"], lengths=[5], hidden=16, batch=16, steps=6,
                         eval_every=6, eval_examples=32, out=tmp_path_factory.mktemp("runs"))
    return frame.attrs["run_dir"]


def test_report_format_from_a_plugin(run_dir, tmp_path, capsys):
    assert main(["report", run_dir, "-p", "fixtures.report_formats", "--format", "upper"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("GRU ")
    assert lines_naming(captured.err, "fixtures.report_formats") == [
        "seqbench: warning: report_format 'csv' is registered by both 'seqbench.reporting.exports' and "
        "'fixtures.report_formats' (-p); keeping 'seqbench.reporting.exports'"]
    target = tmp_path / "r.up"  # -o FILE picks the format by its suffix
    assert main(["report", run_dir, "-p", "fixtures.report_formats", "-o", str(target)]) == 0
    assert target.read_text().splitlines()[1].startswith("GRU ")
    assert main(["report", run_dir, "-o", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.md").read_text().startswith("# seqbench report: ")


def test_report_format_errors_are_one_line(run_dir, capsys):
    assert main(["report", run_dir, "-p", "fixtures.report_formats", "--format", "explodes"]) == 2
    err = capsys.readouterr().err
    assert "seqbench: error: report format 'explodes' (plugin 'fixtures.report_formats') failed: " \
           "RuntimeError: renderer exploded" in err and "Traceback" not in err
    assert main(["report", run_dir, "--format", "markdwon"]) == 2
    assert "unknown report format 'markdwon' (did you mean 'markdown'?)" in capsys.readouterr().err


# --------------------------------------------------------------------------- isolation


def test_plugin_that_fails_to_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQBENCH_PLUGINS", "fixtures.import_error")
    assert main(["run", "--cells", "gru", "--out", str(tmp_path), *RUN_ARGS]) == 0
    err = capsys.readouterr().err
    assert len(lines_naming(err, "fixtures.import_error")) == 1 and "failed to import" in err
    assert main(["check", "--cells", "gru"]) == 0
    assert len(lines_naming(capsys.readouterr().err, "fixtures.import_error")) == 1
    monkeypatch.delenv("SEQBENCH_PLUGINS")
    assert main(["check", "-p", "fixtures.import_error", "--cells", "gru"]) == 2  # asked for by name
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plugin 'fixtures.import_error' (-p) failed to import: ModuleNotFoundError" in err


def test_hook_that_raises(tmp_path, capsys):
    assert main(["run", "-p", "fixtures.broken_hooks", "--cells", "gru,rnn", "--out", str(tmp_path), *RUN_ARGS]) == 0
    err = capsys.readouterr().err
    named = lines_naming(err, "fixtures.broken_hooks")
    assert len(named) == 2  # one for the registration hook, one (not one per trial) for trial_end
    assert "raised in seqbench_register_tasks" in named[0] and "raised in seqbench_trial_end" in named[1]
    rows = pd.read_csv(next(tmp_path.iterdir()) / "results.csv")
    assert list(rows["status"]) == ["ok", "ok"]  # both trials finished and were saved
    assert main(["check", "-p", "fixtures.broken_hooks", "--cells", "gru"]) == 0
    assert len(lines_naming(capsys.readouterr().err, "fixtures.broken_hooks")) == 1


def test_two_plugins_registering_the_same_cell(tmp_path, capsys):
    assert main(["run", "-p", "fixtures.duplicate_lstm", "--cells", "lstm", "--out", str(tmp_path), *RUN_ARGS]) == 0
    err = capsys.readouterr().err
    assert lines_naming(err, "fixtures.duplicate_lstm") == [
        "seqbench: warning: cell 'lstm' is registered by both 'seqbench.cells.recurrent' and "
        "'fixtures.duplicate_lstm' (-p); keeping 'seqbench.cells.recurrent'"]
    assert pd.read_csv(next(tmp_path.iterdir()) / "results.csv")["status"].tolist() == ["ok"]
    assert main(["check", "-p", "fixtures.duplicate_lstm", "--cells", "lstm"]) == 0  # the built-in one
    assert len(lines_naming(capsys.readouterr().err, "fixtures.duplicate_lstm")) == 1


def test_cell_with_the_wrong_output_shape(tmp_path, capsys):
    assert main(["run", "-p", "fixtures.bad_cells", "--cells", "wrong-shape,gru", "--out", str(tmp_path),
                 *RUN_ARGS]) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "wrong-shape" in line]
    assert "returned output of shape (16, 5, 17), expected (batch, time, hidden) = (16, 5, 16) " \
           "(plugin 'fixtures.bad_cells')" in line
    assert pd.read_csv(next(tmp_path.iterdir()) / "results.csv")["status"].tolist()[1] == "ok"
    assert main(["check", "-p", "fixtures.bad_cells", "--cells", "wrong-shape,gru"]) == 1
    err = capsys.readouterr().err
    assert "seqbench: cell 'wrong-shape' (plugin 'fixtures.bad_cells') failed: shapes" in err
    assert "'gru'" not in err


def test_installed_and_dash_p_is_loaded_once(monkeypatch):
    """-p for a module an entry point already loaded is not a duplicate."""
    class EntryPoint:
        name, value, dist = "good", "fixtures.good_plugin", None

        def load(self):
            import fixtures.good_plugin

            return fixtures.good_plugin

    from seqbench.plugins import registry as registry_module

    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: [EntryPoint()])
    monkeypatch.delenv("SEQBENCH_LOAD_PLUGINS")
    monkeypatch.setenv("SEQBENCH_PLUGINS", "fixtures.good_plugin")
    registry = Registry(["fixtures.good_plugin"], on_problem=pytest.fail)
    assert registry.cells["tiny-linear"].provider == "good"
    assert [n for n in registry.plugins if "good" in n] == ["good"]


def test_hook_reference_matches_the_hookspec_signatures():
    """docs/plugins.md's headings name every hook with exactly its spec's arguments."""
    import inspect
    import re

    from seqbench import hookspecs

    docs = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^### `(seqbench_\w+)\(([^)]*)\)`", docs, flags=re.M))
    specs = {n: f for n, f in vars(hookspecs).items() if n.startswith("seqbench_")}
    assert set(documented) == set(specs)
    for name, fn in specs.items():
        assert documented[name] == ", ".join(inspect.signature(fn).parameters), name


# --------------------------------------------------------------------------- the default cell set


def installed_plugins_env() -> dict:
    """A subprocess environment that loads the installed plugin packages through their real entry
    points (the test suite otherwise loads none); skips where the repository's plugins are not installed."""
    installed = {ep.name for ep in metadata.entry_points(group="seqbench")}
    if not {"mingru", "jsonl"} <= installed:
        pytest.skip("plugins/seqbench-mingru and plugins/seqbench-jsonl are not installed")
    env = subprocess_env()
    del env["SEQBENCH_LOAD_PLUGINS"]
    return env


def planned_cells(args: list[str], tmp_path) -> list[str]:
    """The cells `seqbench run --dry-run ARGS` plans, with both plugin packages installed."""
    cheap = ["--tasks", "adding", "--lengths", "20", "--steps", "20", "--hidden", "8", "--out", str(tmp_path)]
    result = run_process([sys.executable, "-m", "seqbench", "run", "--dry-run", *cheap, *args],
                         env=installed_plugins_env(), cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│ adding")]
    return [row[3].strip() for row in rows]


def test_default_run_plans_the_classic_cells_with_plugins_installed(tmp_path):
    # installing the plugin packages (what the README's test command does) does not change a plain run
    assert planned_cells([], tmp_path) == ["rnn", "lstm", "gru", "transformer"]


def test_installed_plugin_cells_are_in_group_all_and_listed_as_not_default(monkeypatch):
    monkeypatch.delenv("SEQBENCH_LOAD_PLUGINS")
    installed_plugins_env()  # skips without the plugin packages
    registry = Registry(on_problem=pytest.fail)  # real entry points, as an installed seqbench sees them
    modern = registry.select_cells(["modern"])  # built in, not default
    assert modern == ["rglru", "lru", "deltanet", "linattn", "mingru", "minlstm", "s6", "s4d", "mlstm", "slstm"]
    assert registry.select_cells(["all"]) == ["rnn", "lstm", "gru", "transformer", *modern, "indrnn"]
    assert registry.select_cells(parse_names("classic,mingru")) == ["rnn", "lstm", "gru", "transformer", "mingru"]
    assert registry.select_cells(None) == ["rnn", "lstm", "gru", "transformer"]
    result = run_process([sys.executable, "-m", "seqbench", "list"], env=installed_plugins_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    cells = {cols[2].strip(): (cols[3].strip(), cols[4].strip()) for cols in
             (line.split("│") for line in result.stdout.splitlines()) if len(cols) > 4 and cols[1].strip() == "cell"}
    assert cells["lstm"] == ("yes", "classic") and cells["transformer"] == ("yes", "classic")
    assert cells["indrnn"] == ("no", "") and cells["lstm-ref"] == ("no", "") and cells["s6"] == ("no", "modern")
    assert "--cells also takes a group: classic, modern, all, default" in result.stdout


def test_a_plugin_cell_registered_default_joins_a_plain_run(tmp_path, capsys):
    (tmp_path / "eager_plugin.py").write_text(
        "import seqbench\n\n@seqbench.hookimpl\ndef seqbench_register_cells(register):\n"
        "    register('eager', 'fixtures.good_plugin:TinyLinearCell', default=True)\n", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["run", "-p", "eager_plugin", "--dry-run", "--out", str(tmp_path), *RUN_ARGS]) == 0
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("eager_plugin", None)
    rows = [line.split("│") for line in capsys.readouterr().out.splitlines() if line.startswith("│ adding")]
    assert [row[3].strip() for row in rows] == ["rnn", "lstm", "gru", "transformer", "eager"]


@pytest.mark.parametrize("command", [["run", "--dry-run"], ["speed"], ["horizon"], ["check"], ["inspect", "gradients"]])
def test_every_command_taking_cells_expands_groups(command, capsys):
    """A group name passes where a cell name would (the unknown name after it is what fails)."""
    assert main([*command, "--cells", "classic,all,default,nonesuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown cell 'nonesuch'" in err and "'classic'" not in err, err
