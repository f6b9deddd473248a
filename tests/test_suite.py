"""Named suites: built-ins load, user files validate, overrides apply."""
from __future__ import annotations

import pytest

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError
from seqbench.spec.suite import builtin_suites, load_suite


def test_builtin_suites_load_and_validate():
    assert {"quick", "standard", "long"} <= set(builtin_suites())
    for name in builtin_suites():
        description, configs = load_suite(name)
        assert description and configs
        from seqbench.plugins.registry import Registry
        from seqbench.runs.runner import plan

        trials, info = plan(configs, Registry())  # every name, parameter and budget is valid
        assert trials and info


def test_standard_suite_covers_the_known_findings():
    _, configs = load_suite("standard")
    parts = {(tuple(c.tasks), tuple(c.lengths)) for c in configs}
    assert (("adding",), (100,)) in parts and (("copy",), (50,)) in parts
    assert all({"rnn", "lstm", "gru", "transformer"} <= set(c.cells) and c.params for c in configs)


def write(tmp_path, text):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_user_suite_and_overrides(tmp_path):
    path = write(tmp_path, 'description = "x"\n[defaults]\ncells = ["rnn"]\nhidden = 8\nsteps = 3\n'
                           'batch = 4\neval_examples = 8\n[[part]]\ntasks = ["adding"]\nlengths = [4]\n'
                           '[[part]]\ntasks = ["copy"]\nlengths = [3]\n[part.task_params.copy]\nn_symbols = 2\n')
    _, configs = load_suite(path, {"seeds": 2})
    assert [c.seeds for c in configs] == [2, 2] and configs[1].task_params == {"copy": {"n_symbols": 2}}
    frame = seqbench.run(suite=path, out=tmp_path / "out", seeds=2)
    assert sorted(frame["trial"]) == sorted(["rnn|adding|4|0", "rnn|adding|4|1", "rnn|copy|3|0", "rnn|copy|3|1"])
    assert (frame["status"] == "ok").all()
    again = seqbench.run(resume=frame.attrs["run_dir"])  # a suite run resumes like any other
    assert len(again) == 4


@pytest.mark.parametrize("text, message", [
    ('[[part]]\ncells = ["rnn"]\ntasks = ["adding"]\nlenghts = [4]\n', "unknown key 'lenghts' (did you mean 'lengths'?)"),
    ('[defaults]\ncells = ["rnn"]\n', "has no [[part]] table"),
    ('colour = 1\n[[part]]\ncells = ["rnn"]\n', "unknown key 'colour'"),
    ('[[part]]\ncells = ["rnn"]\nsteps = -4\n', "part 1: steps must be a positive integer"),
    ('[[part\ncells = ', "is not valid TOML"),
])
def test_bad_suite_files(tmp_path, text, message):
    with pytest.raises(UsageError) as info:
        load_suite(write(tmp_path, text))
    assert message in str(info.value)


def test_unknown_suite_name_via_cli(capsys, tmp_path):
    assert main(["run", "--suite", "standrd", "--out", str(tmp_path)]) == 2
    assert "unknown suite 'standrd' (did you mean 'standard'?)" in capsys.readouterr().err
    assert main(["run", "--suite", str(tmp_path / "missing.toml"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_folder_named_like_a_suite_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "standard").mkdir()  # e.g. a results folder called "standard"
    description, configs = load_suite("standard")
    assert "adding" in description and configs
    (tmp_path / "mine").mkdir()
    with pytest.raises(UsageError, match="suite mine is a folder"):
        load_suite("mine")


def test_parts_of_one_configuration_each_are_told_apart_by_what_differs(tmp_path):
    """Two parts on the same cell, task and length, one configuration each (lr 1e-3 and 1e-2): each
    trial keeps its own key and a label naming the option that differs; a part repeated as it is
    stays an error."""
    from seqbench.plugins.registry import Registry
    from seqbench.runs.runner import plan

    head = 'description = "x"\n[defaults]\ncells = ["gru"]\nparams = "2k"\nsteps = 3\n'
    part = '[[part]]\ntasks = ["adding"]\nlengths = [4]\nlr = {}\n'
    _, configs = load_suite(write(tmp_path, head + part.format("1e-3") + part.format("1e-2")))
    trials, _ = plan(configs, Registry())
    assert sorted(t.config_label for t in trials) == ["lr=0.001", "lr=0.01"]
    assert len({t.key for t in trials}) == 2 and len({t.hidden for t in trials}) == 1
    _, configs = load_suite(write(tmp_path, head + part.format("1e-3") + part.format("1e-3")))
    with pytest.raises(UsageError, match="appears twice"):
        plan(configs, Registry())
