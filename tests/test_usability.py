"""What a new user tripped on (#17): the plugin guide end to end without a name collision, a
`-p` module winning over an installed plugin, an unknown cell pointing at the module that
registers it, a corpus too small for its splits, counted nouns, `-o FILE` saying where it wrote."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from seqbench.cli import main
from seqbench.plugins.registry import Registry
from seqbench.plugins.scaffold import scaffold

from conftest import TINY_ARGS

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def guide_module(name: str = "leaky") -> str:
    """The guide's hand-written ``mycell.py``, its cell registered as ``name``."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("```python\n# mycell.py") + len("```python\n")
    code = text[start:text.index("```", start)]
    assert 'register("leaky", LeakyRNN' in code
    return code.replace('register("leaky"', f'register("{name}"')


def install(tmp_path, monkeypatch, name: str) -> None:
    """What ``plugins new NAME && pip install -e NAME`` leaves: the package and its entry point."""
    root = scaffold(name, tmp_path)
    monkeypatch.syspath_prepend(str(root))
    dist_info = tmp_path / "site" / f"seqbench_{name}-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: seqbench-{name}\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[seqbench]\n{name} = seqbench_{name}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("SEQBENCH_LOAD_PLUGINS", name)
    assert any(ep.name == name for ep in metadata.entry_points(group="seqbench"))


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import sys

    for module in [m for m in sys.modules if m == "mycell" or m.startswith("seqbench_gated")]:
        del sys.modules[module]


def test_the_guide_end_to_end_has_no_collision(workdir, monkeypatch, capsys):
    """docs/plugins.md: scaffold and install `gated`, write mycell.py registering `leaky`."""
    install(workdir, monkeypatch, "gated")
    (workdir / "mycell.py").write_text(guide_module(), encoding="utf-8")
    problems: list[str] = []
    registry = Registry(["mycell"], on_problem=problems.append)
    assert problems == []
    assert registry.cells["gated"].provider == "gated" and registry.cells["leaky"].provider == "mycell"
    assert main(["check", "-p", "mycell", "--cells", "leaky,gated"]) == 0
    assert "2 cells, 10 passed, 0 failed" in capsys.readouterr().err


def test_a_dash_p_module_wins_over_an_entry_point(workdir, monkeypatch):
    install(workdir, monkeypatch, "gated")
    (workdir / "mycell.py").write_text(guide_module("gated"), encoding="utf-8")
    problems: list[str] = []
    registry = Registry(["mycell"], on_problem=problems.append)
    assert registry.cells["gated"].provider == "mycell"
    assert problems == ["cell 'gated' is registered by both 'gated' (entry point) and 'mycell' (-p); keeping 'mycell'"]


def test_a_builtin_name_stays_builtin_even_against_dash_p(workdir):
    (workdir / "mycell.py").write_text(guide_module("gru"), encoding="utf-8")
    problems: list[str] = []
    registry = Registry(["mycell"], entry_points=False, on_problem=problems.append)
    assert registry.cells["gru"].provider == "seqbench.cells.recurrent"
    assert problems == ["cell 'gru' is registered by both 'seqbench.cells.recurrent' and 'mycell' (-p); "
                        "keeping 'seqbench.cells.recurrent'"]


def test_unknown_cell_names_the_module_that_registers_it(workdir, capsys):
    (workdir / "mycell.py").write_text(guide_module(), encoding="utf-8")
    assert main(["check", "--cells", "leaky"]) == 2
    err = capsys.readouterr().err
    known = ", ".join(sorted(Registry(entry_points=False).cells))  # every built-in cell, modern ones included
    assert "gru-ref, " in known and "s6, " in known
    assert err.strip().splitlines() == [
        f"seqbench: error: unknown cell 'leaky'; known cells: {known}; "
        "mycell.py in the current directory registers it: add -p mycell"]
    assert main(["run", "--cells", "leaky", "--dry-run"]) == 2
    assert "add -p mycell" in capsys.readouterr().err


def test_unknown_cell_without_a_module_mentions_dash_p(workdir, capsys):
    assert main(["run", "--cells", "zebra", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown cell 'zebra'; known cells: " in err
    assert err.strip().endswith("a plugin's cell? install the plugin or load its module with -p MODULE")
    assert main(["run", "--cells", "lstmm", "--dry-run"]) == 2  # a typo: the suggestion alone
    assert "-p MODULE" not in capsys.readouterr().err


def test_a_corpus_too_small_for_one_batch_is_refused(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(("the quick brown fox jumps over the lazy dog. " * 100)[:4000], encoding="utf-8")
    args = ["run", "--tasks", "charlm", "--corpus", str(corpus), "--cells", "gru", "--out", str(tmp_path), "-q"]
    assert main([*args, "--lengths", "50", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "gru on charlm T=50: the validation split has 200 characters, 3 windows of T + 1 = 51, fewer than one " \
           "batch of 64: use a larger corpus (or val_fraction), a shorter length or a smaller batch" in err
    assert not list(tmp_path.glob("*/config.json"))  # refused before any run directory exists
    assert main([*args, "--lengths", "8", *TINY_ARGS]) == 0  # 200 characters fill a batch of 16 windows of 9
    err = capsys.readouterr().err
    assert "seqbench: warning: charlm T=8: held-out splits below 10,000 characters (validation 200, test 200)" in err


def test_counted_nouns_and_report_output_file(small_run, tmp_path, capsys):
    from seqbench.words import plural

    assert (plural(1, "trial"), plural(2, "trial"), plural(1_500, "cell")) == ("1 trial", "2 trials", "1,500 cells")
    assert main(["check", "--cells", "gru"]) == 0
    assert "1 cell, 5 passed, 0 failed" in capsys.readouterr().err
    target = tmp_path / "report.md"
    assert main(["report", str(small_run), "-o", str(target)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == f"report: wrote {target}"
    assert target.read_text(encoding="utf-8").startswith("# seqbench report: ")


def test_plan_line_counts_one_trial(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEQBENCH_CACHE", str(tmp_path / "cache"))  # timed here, not read from another test's cache
    assert main(["run", "--cells", "gru", "--lengths", "5", "--dry-run", *TINY_ARGS]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the caption may wrap
    assert "1 trial (1 cell × task × length, 1 configuration, 1 seed; 1 distinct model timed)" in out
