"""Fast feedback: a bad name, a bad number, a broken suite, ``list`` and ``plugins`` are answered
without importing torch (names are registered with lazy factories). That is behaviour, checked
here in fresh processes; the latencies themselves are measured in benchmarks/cli_latency.py."""
from __future__ import annotations

import sys

import pytest

from conftest import run_process, subprocess_env

PROBE = ("import sys\n"
         "from seqbench.cli import main\n"
         "try:\n"
         "    code = main(sys.argv[1:])\n"
         "except SystemExit as exc:\n"
         "    code = exc.code\n"
         "sys.stderr.write(f'\\nPROBE torch={\"torch\" in sys.modules} code={code}\\n')\n")


def probe(args: list[str], cwd, plugins: str = "") -> tuple[bool, int, str]:
    """Run ``seqbench ARGS`` in a fresh interpreter: (torch imported?, exit code, stderr)."""
    env = subprocess_env()
    env["SEQBENCH_LOAD_PLUGINS"] = plugins
    result = run_process([sys.executable, "-c", PROBE, *args], timeout=120, env=env, cwd=cwd)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("PROBE "), result.stderr
    torch = last.split()[1] == "torch=True"
    return torch, int(last.split()[2].split("=")[1]), result.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "--cells", "lstmm"], "unknown cell 'lstmm' (did you mean 'lstm'?)"),
    (["run", "--tasks", "adding,cpy"], "unknown task 'cpy' (did you mean 'copy'?)"),
    (["run", "--steps", "abc"], "steps must be a positive integer, got 'abc'"),
    (["run", "--suite", "broken.toml"], "suite broken.toml part 1: unknown key 'stepz' (did you mean 'steps'?)"),
    (["run", "--cells", "lstm", "--cell-opt", "gru.x=1"], "options given for cell 'gru', which is not in this run"),
    (["check", "--cells", "gruu"], "unknown cell 'gruu' (did you mean 'gru'?)"),
])
def test_bad_input_is_reported_before_torch_is_imported(args, message, tmp_path):
    (tmp_path / "broken.toml").write_text('[[part]]\ncells = ["lstm"]\nstepz = 10\n', encoding="utf-8")
    torch, code, err = probe(args, tmp_path, plugins="mingru,jsonl")  # the plugins of this repository too
    assert code == 2 and message in err and "Traceback" not in err
    assert not torch, "torch was imported before the bad input was reported"


@pytest.mark.parametrize("args, shown", [(["list"], "transformer"), (["plugins"], "seqbench.cells.recurrent")])
def test_list_and_plugins_do_not_import_torch(args, shown, tmp_path):
    torch, code, err = probe(args, tmp_path, plugins="mingru,jsonl")
    assert code == 0 and not torch, err


def test_a_plugin_that_fails_to_import_is_one_line_without_torch(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("import no_such_module_anywhere\n", encoding="utf-8")
    torch, code, err = probe(["run", "-p", "broken_plugin", "--cells", "lstm"], tmp_path)
    lines = [line for line in err.splitlines()[:-1] if line.strip()]
    assert code == 2 and not torch
    assert lines == ["seqbench: error: plugin 'broken_plugin' (-p) failed to import: "
                     "ModuleNotFoundError: No module named 'no_such_module_anywhere'"]


def test_lazy_factories_resolve_to_the_real_cells(registry):
    """A lazy entry builds, reports its parameters and is pickled by its import path."""
    import inspect
    import pickle

    from seqbench.cells.recurrent import build_lstm
    from seqbench.plugins.registry import LazyFactory

    factory = registry.cells["lstm"].obj
    assert isinstance(factory, LazyFactory) and factory.resolve() is build_lstm
    assert list(inspect.signature(factory).parameters)[4:] == ["forget_bias", "init", "t_max"]
    assert type(factory(3, 8)).__name__ == "FusedRecurrent"
    assert pickle.loads(pickle.dumps(factory)).resolve() is build_lstm


def test_a_lazy_factory_with_a_wrong_path_is_a_plugin_error():
    from seqbench.errors import PluginError
    from seqbench.plugins.registry import LazyFactory

    with pytest.raises(PluginError, match="cannot import factory seqbench.cells.recurrent:build_lstmm"):
        LazyFactory("seqbench.cells.recurrent:build_lstmm")(3, 8)
