"""The plugin registry: built-ins through the same hooks, discovery, isolation of bad plugins."""
from __future__ import annotations

import pytest

from seqbench.errors import UsageError
from seqbench.plugins.registry import BUILTIN_PLUGINS, Registry


def make(*plugins, **kwargs):
    problems: list[str] = []
    reg = Registry(plugins, on_problem=problems.append, **kwargs)
    return reg, problems


def test_builtins_register_through_the_hooks():
    reg, problems = make()
    assert problems == []
    assert list(reg.cells) == ["rnn", "lstm", "gru", "transformer", "rnn-ref", "lstm-ref", "gru-ref",
                               "rglru", "lru", "deltanet", "linattn", "mingru", "minlstm", "s6", "s4d", "mlstm", "slstm"]
    assert reg.default_cells() == ["rnn", "lstm", "gru", "transformer"]  # references and modern cells only when named
    assert reg.cells["deltanet"].extra["mixer"].path == "seqbench.cells.deltanet:mixer"
    assert set(reg.tasks) == {"adding", "copy", "selective-copy", "associative-recall", "markov", "charlm",
                              "in-context-recall", "fuzzy-recall", "noisy-recall", "compression", "memorization", "mnist1d"}
    assert {"loss", "accuracy", "perplexity", "bits_per_token"} <= set(reg.metrics)
    assert reg.cells["lstm"].provider == "seqbench.cells.recurrent"
    assert reg.tasks["copy"].provider == "seqbench.tasks.copy_memory"
    assert set(BUILTIN_PLUGINS) <= set(reg.plugins)
    assert reg.plugins["seqbench.tasks.metrics"].source == "builtin"
    assert "seqbench_register_cells" in reg.hooks_of("seqbench.cells.recurrent")


def test_dash_p_adds_a_third_party_plugin():
    reg, problems = make("fixtures.good_plugin")
    assert problems == []
    assert reg.cells["tiny-linear"].provider == "fixtures.good_plugin"
    assert reg.metrics["loss_x2"].extra["higher_is_better"] is False
    assert reg.plugins["fixtures.good_plugin"].source == "-p"


def test_env_variable_adds_plugins(monkeypatch):
    monkeypatch.setenv("SEQBENCH_PLUGINS", "fixtures.good_plugin")
    reg, _ = make()
    assert "tiny-linear" in reg.cells
    assert reg.plugins["fixtures.good_plugin"].source == "SEQBENCH_PLUGINS"


def test_block_a_plugin_by_name():
    reg, _ = make("no:seqbench.cells.transformer")
    assert "transformer" not in reg.cells
    assert "lstm" in reg.cells


def test_unknown_name_suggests_the_closest():
    reg, _ = make()
    with pytest.raises(UsageError, match=r"unknown cell 'lsmt' \(did you mean 'lstm'\?\)"):
        reg.get("cell", "lsmt")
    with pytest.raises(UsageError, match="unknown task 'adding2'.*did you mean 'adding'"):
        reg.get("task", "adding2")


def test_duplicate_name_is_reported_and_the_first_kept():
    reg, problems = make("fixtures.duplicate_lstm")
    assert reg.cells["lstm"].provider == "seqbench.cells.recurrent"
    assert problems == ["cell 'lstm' is registered by both 'seqbench.cells.recurrent' and "
                        "'fixtures.duplicate_lstm' (-p); keeping 'seqbench.cells.recurrent'"]


def test_raising_registration_hook_is_isolated():
    reg, problems = make("fixtures.broken_hooks", "fixtures.good_plugin")
    assert len(problems) == 1
    assert "fixtures.broken_hooks" in problems[0] and "cannot register my tasks" in problems[0]
    assert set(reg.tasks) == set(make()[0].tasks)  # the broken plugin registered none
    assert "tiny-linear" in reg.cells


def test_unknown_hook_skips_the_plugin():
    reg, problems = make("fixtures.typo_hook", "fixtures.good_plugin")
    assert "never" not in reg.cells
    assert any("unknown hook 'seqbench_register_cell'" in p for p in problems)
    assert "fixtures.typo_hook" not in reg.plugins
    assert "tiny-linear" in reg.cells


def test_import_error_from_dash_p_is_a_usage_error():
    with pytest.raises(UsageError, match="plugin 'fixtures.import_error' .* failed to import: "
                                         "ModuleNotFoundError"):
        make("fixtures.import_error")
    with pytest.raises(UsageError, match="plugin 'no_such_module_xyz'"):
        make("no_such_module_xyz")


def test_import_error_from_environment_is_reported_and_skipped(monkeypatch):
    monkeypatch.setenv("SEQBENCH_PLUGINS", "fixtures.import_error,fixtures.good_plugin")
    reg, problems = make()
    assert len(problems) == 1 and "fixtures.import_error" in problems[0]
    assert "tiny-linear" in reg.cells


class _FakeEntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self._target, self.dist = name, f"{target}:x", target, None

    def load(self):
        import importlib

        return importlib.import_module(self._target)


def test_entry_points_load_and_a_broken_one_is_isolated(monkeypatch):
    from seqbench.plugins import registry as registry_module

    eps = [_FakeEntryPoint("good", "fixtures.good_plugin"), _FakeEntryPoint("broken", "fixtures.import_error")]
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: eps if group == "seqbench" else [])
    monkeypatch.delenv("SEQBENCH_LOAD_PLUGINS")
    reg, problems = make()
    assert reg.cells["tiny-linear"].provider == "good"
    assert reg.plugins["good"].source == "entry point"
    assert len(problems) == 1 and "'broken'" in problems[0] and "failed to import" in problems[0]

    monkeypatch.setenv("SEQBENCH_LOAD_PLUGINS", "broken")  # load only a chosen subset
    reg, _ = make()
    assert "tiny-linear" not in reg.cells
    reg, _ = make(entry_points=False)
    assert "tiny-linear" not in reg.cells


def test_lifecycle_hook_that_raises_is_disabled_not_fatal():
    import fixtures.broken_hooks as broken

    reg, problems = make("fixtures.broken_hooks", "fixtures.good_plugin")
    problems.clear()
    broken.CALLS["trial_end"] = 0
    for i in range(3):
        reg.notify("seqbench_trial_end", trial=type("T", (), {"key": f"t{i}"})(), row={"status": "ok"})
    assert broken.CALLS["trial_end"] == 1
    assert len(problems) == 1 and "logger exploded" in problems[0] and "disabled" in problems[0]
    import fixtures.good_plugin as good

    assert [k for k, _ in good.EVENTS[-3:]] == ["t0", "t1", "t2"]


def test_every_hook_is_documented():
    import inspect

    from seqbench import hookspecs

    for name, fn in vars(hookspecs).items():
        if name.startswith("seqbench_"):
            assert inspect.getdoc(fn), f"{name} has no docstring"


def test_cell_groups_of_the_builtins():
    reg, _ = make("fixtures.good_plugin")
    classic = ["rnn", "lstm", "gru", "transformer"]
    modern = ["rglru", "lru", "deltanet", "linattn", "mingru", "minlstm", "s6", "s4d", "mlstm", "slstm"]
    assert reg.default_cells() == classic  # a plugin's cell is not default unless it says so
    assert reg.cell_groups() == {"classic": classic, "all": classic + modern + ["tiny-linear"], "default": classic,
                                 "modern": modern}
    assert reg.select_cells(None) == classic
    assert reg.select_cells(["classic", "tiny-linear"]) == classic + ["tiny-linear"]
    assert reg.select_cells(["modern"]) == modern
    assert reg.select_cells(["lstm", "all"]) == ["lstm", "rnn", "gru", "transformer", *modern, "tiny-linear"]  # order kept, once each
    assert reg.select_cells(["gru-ref", "default"]) == ["gru-ref"] + classic
    assert reg.select_cells(["lsmt"]) == ["lsmt"]  # an unknown name is left for get() to report
    blocked, _ = make("no:seqbench.cells.recurrent", "no:seqbench.cells.transformer")
    with pytest.raises(UsageError, match="cell group 'default' has no cells: name cells with --cells"):
        blocked.select_cells(None)


def test_default_flag_and_declared_groups_and_misused_group_names():
    reg, problems = make("fixtures.cell_groups")
    assert reg.default_cells() == ["rnn", "lstm", "gru", "transformer", "eager"]
    groups = reg.cell_groups()
    modern = ["rglru", "lru", "deltanet", "linattn", "mingru", "minlstm", "s6", "s4d", "mlstm", "slstm", "mod-a", "mod-b"]  # the built-in modern cells, then the plugin's
    assert groups["modern"] == modern  # a declared group is a group name
    assert groups["classic"] == ["rnn", "lstm", "gru", "transformer"]  # only the built-ins are classic
    assert reg.select_cells(["modern", "gru"]) == [*modern, "gru"]
    assert "all" not in reg.cells and "modern" not in reg.cells  # cells named like groups are skipped
    assert "lstm" not in groups and reg.cells["claims-lstm"].extra.get("group") is None
    assert sorted(problems) == sorted([
        "cell 'claims-lstm' of 'fixtures.cell_groups' (-p) declares group 'lstm', which is a built-in cell; group ignored",
        "cell 'claims-classic' of 'fixtures.cell_groups' (-p) declares group 'classic', which is reserved; group ignored",
        "cell 'all' of 'fixtures.cell_groups' (-p) has the name of a cell group (--cells all); cell skipped",
        "cell 'modern' of 'fixtures.cell_groups' (-p) has the name of a cell group (--cells modern); cell skipped",
    ])


@pytest.mark.parametrize("extra, message", [
    ({"default": "yes"}, "default must be True or False"),
    ({"group": "a,b"}, "invalid group 'a,b'"),
])
def test_bad_group_flags_are_a_plugin_error(extra, message):
    from seqbench.errors import PluginError
    from seqbench.plugins.registry import _make_entry

    with pytest.raises(PluginError, match=message):
        _make_entry("cell", "x", "m:f", "p", "", (), extra)
