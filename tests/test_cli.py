"""The command line: exit codes, one-line errors, tables, report formats, Ctrl-C."""
from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from seqbench.cli import main
from seqbench.plugins.registry import Registry

from conftest import TINY_ARGS, run_process, subprocess_env


def seqbench_cli(*args, cwd=None, timeout=300):
    return run_process([sys.executable, "-m", "seqbench", *args], env=subprocess_env(), cwd=cwd, timeout=timeout)


def test_help_does_not_import_torch():
    code = "import sys; from seqbench.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = run_process([sys.executable, "-c", code], env=subprocess_env(), timeout=120)
    assert out.stdout.strip() == "False"
    result = seqbench_cli("--help")
    assert result.returncode == 0 and "run" in result.stdout and "report" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--cells", "lsmt"], "unknown cell 'lsmt' (did you mean 'lstm'?)"),
    (["--tasks", "adder"], "unknown task 'adder' (did you mean 'adding'?)"),
    (["--lengths", "0"], "lengths must be a positive integer, got '0'"),
    (["--lengths", "10,-5"], "lengths must be a positive integer, got '-5'"),
    (["--steps", "0"], "steps must be a positive integer"),
    (["--steps", "ten"], "steps must be a positive integer, got 'ten'"),
    (["--batch", "-1"], "batch must be a positive integer"),
    (["--budget", "30x"], "malformed budget '30x'"),
    (["--budget", "0s"], "budget must be a positive duration"),
    (["--lr", "-0.1"], "lr must be a positive number"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["-p", "no_such_plugin_module"], "plugin 'no_such_plugin_module' (-p) failed to import"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    code = main(["run", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    result = seqbench_cli("run", "--cells", "lsmt", "--out", str(tmp_path))
    assert result.returncode == 2
    known = ", ".join(sorted(Registry(entry_points=False).cells))  # the built-in cells, modern ones included
    assert result.stderr.strip() == f"seqbench: error: unknown cell 'lsmt' (did you mean 'lstm'?); known cells: {known}"
    result = seqbench_cli("run", "--stepz", "3")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_run_prints_tables_and_report_exports(tmp_path, capsys):
    code = main(["run", "-q", "--cells", "rnn,lstm", "--tasks", "copy", "--lengths", "4", "--seeds", "2",
                 "--out", str(tmp_path), *TINY_ARGS])
    out = capsys.readouterr().out
    assert code == 0
    flat = " ".join(out.split())  # the caption wraps at the terminal's width
    assert "copy · T=4" in out and "(baseline)" in out and "± is the sample std over 2 seeds" in flat and "95% CI" in out
    assert "rnn" in out and "lstm" in out
    run_dir = next(tmp_path.iterdir())

    assert main(["report", str(run_dir)]) == 0
    assert "copy · T=4" in capsys.readouterr().out

    assert main(["report", str(run_dir), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# seqbench report: ") and "- machine: " in md and "torch " in md
    assert "### copy · T=4" in md and "| cell |" in md and "**" in md

    target = tmp_path / "summary.csv"
    assert main(["report", str(run_dir), "--format", "csv", "-o", str(target)]) == 0
    summary = pd.read_csv(target)
    assert list(summary["cell"]) == ["rnn", "lstm"] and (summary["seeds"] == 2).all()
    assert {"loss", "loss_std", "accuracy", "perplexity", "train_tok_s"} <= set(summary.columns)

    assert main(["report", str(run_dir), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["cell"] for r in records] == ["rnn", "lstm"]

    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no results at" in capsys.readouterr().err


def test_error_trial_gives_exit_1_and_others_run(tmp_path, capsys):
    code = main(["run", "-q", "-p", "fixtures.bad_cells", "--cells", "raises-in-forward,gru",
                 "--tasks", "adding", "--lengths", "5", "--out", str(tmp_path), *TINY_ARGS])
    captured = capsys.readouterr()
    assert code == 1
    assert "raises-in-forward|adding|5|0: error: RuntimeError: boom in forward" in captured.err
    rows = pd.read_csv(next(tmp_path.iterdir()) / "results.csv")
    assert list(rows["status"]) == ["error: RuntimeError: boom in forward", "ok"]


def test_list_and_plugins_show_providers(capsys):
    assert main(["list", "-p", "fixtures.good_plugin"]) == 0
    out = capsys.readouterr().out
    assert "tiny-linear" in out and "fixtures.good_plugin" in out and "seqbench.cells.recurrent" in out
    assert main(["plugins", "-p", "fixtures.good_plugin"]) == 0
    out = capsys.readouterr().out
    assert "fixtures.good_plugin" in out and "-p" in out and "builtin" in out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_keeps_finished_trials_then_resume(tmp_path):
    """A run interrupted right after its first trial (a fixture plugin raises KeyboardInterrupt
    there) keeps that row and resumes to completion. Real signals at random moments inside
    trials: tests/test_interruptions.py."""
    short = [sys.executable, "-m", "seqbench", "run", "-q", "--cells", "rnn,lstm,gru", "--tasks", "adding",
             "--lengths", "5", "--hidden", "16", "--batch", "16", "--eval-every", "50",
             "--out", str(tmp_path / "short"), "--steps", "10"]
    first = run_process(short + ["-p", "fixtures.interrupt_after_first"], timeout=120, env=subprocess_env())
    assert first.returncode == 130 and "--resume" in first.stderr and "Traceback" not in first.stderr
    run_dir = next((tmp_path / "short").iterdir())
    assert list(pd.read_csv(run_dir / "results.csv")["cell"]) == ["rnn"]
    # --resume loads the saved run's plugins again; block the one that simulates Ctrl-C
    resumed = seqbench_cli("run", "-q", "--resume", str(run_dir), "-p", "no:fixtures.interrupt_after_first")
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(run_dir / "results.csv")["cell"]) == ["rnn", "lstm", "gru"]


def test_a_fresh_process_flushes_subnormals_in_every_torch_thread(tmp_path):
    """In the CLI the mode is set before torch starts its worker threads, so all of them follow."""
    import torch

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals (torch.set_flush_denormal)")
    for flag, expected in (([], 1.0), (["--keep-denormals"], 0.0)):
        out = tmp_path / (flag[0] if flag else "flush")
        result = seqbench_cli("run", "--cells", "rnn", "--tasks", "adding", "--lengths", "5", *TINY_ARGS,
                              "--out", str(out), "-q", *flag)
        assert result.returncode == 0, result.stderr
        env = json.loads(next(out.glob("*/environment.json")).read_text())
        assert env["subnormals_flushed"] == expected
