"""Property tests (hypothesis) of everything a user types: ``seqbench run`` argument values and
suite TOML files, valid and broken in every field. Whatever the input: exit 0 or 2, one line
on error, never a traceback; a valid input round-trips into the trial specs the Python API
makes from the same values. In-process and ``--dry-run`` with the timing estimate stubbed, so
nothing trains (``HYPOTHESIS_PROFILE=thorough`` runs many more examples)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given, strategies as st

from seqbench.cli import main
from seqbench.spec.config import RunConfig
from seqbench.plugins.registry import Registry
from seqbench.runs.runner import plan

def floats(*args: Any, **kwargs: Any) -> Any:
    """Floats without subnormals: a run flushes them to zero in this process (as the CLI does)."""
    return st.floats(*args, allow_subnormal=False, **kwargs)


CELLS = ["rnn", "lstm", "gru", "transformer"]
TASKS = ["adding", "copy"]
REGISTRY = Registry(entry_points=False)
JUNK = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
NUMBER_TEXT = st.one_of(st.integers(-3, 10**6).map(str), floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.sampled_from(["", " ", "1e3", "0x10", "1_000", "١٢", "3.", ".5", "1,2", "1..4", "-1..2",
                                         "2..1", "nan", "inf", "20k", "1.5m", "true"]), JUNK)


def dry_run(argv: list[str]) -> tuple[int, str, list]:
    """``seqbench run --dry-run ARGV`` in this process: (exit code, stderr, planned trial specs)."""
    captured: list = []

    def estimate(trials: list, registry: Any, device: str) -> Any:  # the plan without timing any step
        import pandas as pd

        captured.extend(trials)
        frame = pd.DataFrame([{**t.to_dict(), "est_s": 0.0} for t in trials])
        frame.attrs.update(models=0, estimate_s=0.0)
        return frame

    err, out = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, mock.patch("seqbench.runs.estimate.estimate", estimate), \
            contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["run", "--dry-run", "-q", "--out", tmp, *argv])
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, err.getvalue(), captured


def assert_clean(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip() and "warning:" not in line]
        assert len(lines) == 1 and lines[0].startswith("seqbench") and "error:" in lines[0], err


def specs(trials: list) -> list[dict]:
    return [t.to_dict() for t in trials]


# --------------------------------------------------------------------------- argument values

def number_list(values: list) -> str:
    return ",".join(map(repr, values)) if isinstance(values[0], float) else ",".join(map(str, values))


@st.composite
def valid_run(draw: Any) -> tuple[list[str], dict]:
    """A valid ``seqbench run`` request: its arguments and the same request as Python values."""
    cells = draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=3, unique=True))
    tasks = draw(st.lists(st.sampled_from(TASKS), min_size=1, max_size=2, unique=True))
    values: dict = {"cells": cells, "tasks": tasks,
                    "lengths": draw(st.lists(st.integers(4, 40), min_size=1, max_size=2, unique=True)),
                    "hidden": draw(st.integers(4, 24)), "steps": draw(st.integers(1, 10**5)),
                    "seeds": draw(st.integers(1, 3)), "batch": draw(st.integers(1, 128))}
    argv = ["--cells", ",".join(cells), "--tasks", ",".join(tasks), "--lengths", number_list(values["lengths"]),
            "--hidden", str(values["hidden"]), "--steps", str(values["steps"]), "--seeds", str(values["seeds"]),
            "--batch", str(values["batch"])]
    lr = draw(st.one_of(floats(1e-5, 1.0), st.lists(floats(1e-5, 1.0), min_size=2, max_size=3, unique=True),
                        st.tuples(floats(1e-5, 1e-2), floats(2e-2, 1.0))))
    if isinstance(lr, tuple):  # a range, with draws
        values["lr"], values["samples"] = f"{lr[0]!r}..{lr[1]!r}", draw(st.integers(1, 3))
        argv += ["--lr", values["lr"], "--samples", str(values["samples"]), "--sweep-seed", str(draw(st.integers(0, 9)))]
        values["sweep_seed"] = int(argv[-1])
    else:
        values["lr"] = lr if isinstance(lr, float) else list(lr)
        argv += ["--lr", repr(lr) if isinstance(lr, float) else number_list(lr)]
    if draw(st.booleans()):
        values["dropout"] = draw(floats(0.0, 0.99))
        argv += ["--dropout", repr(values["dropout"])]
    if "lstm" in cells and draw(st.booleans()):
        bias = draw(st.lists(floats(-5, 5), min_size=1, max_size=2, unique=True))
        values["cell_params"] = {"lstm": {"forget_bias": bias if len(bias) > 1 else bias[0]}}
        argv += ["--cell-opt", f"lstm.forget_bias={number_list(bias)}"]
    if "copy" in tasks and draw(st.booleans()):
        n = draw(st.integers(1, 3))
        values["task_params"] = {"copy": {"n_symbols": n}}
        argv += ["--task-opt", f"copy.n_symbols={n}"]
    return argv, values


@given(valid_run())
def test_valid_arguments_round_trip_into_the_same_trials(request):
    argv, values = request
    code, err, trials = dry_run(argv)
    assert code == 0, err
    expected, _ = plan([RunConfig(**values)], REGISTRY)
    assert specs(trials) == specs(expected)


FLAGS = ["--cells", "--tasks", "--lengths", "--steps", "--budget", "--seeds", "--hidden", "--params", "--layers",
         "--batch", "--lr", "--dropout", "--clip", "--samples", "--sweep-seed", "--patience", "--device",
         "--eval-every", "--task-opt", "--cell-opt", "--suite", "--corpus"]
NAME_TEXT = st.one_of(st.lists(st.sampled_from(CELLS + TASKS + ["lstmm", "", " ", "x"]), max_size=3).map(",".join),
                      JUNK)
OPTION_TEXT = st.one_of(
    st.builds("{}.{}={}".format, st.sampled_from(CELLS + TASKS + ["nope", ""]),
              st.sampled_from(["forget_bias", "n_symbols", "init", "n_heads", "x", ""]),
              st.one_of(NUMBER_TEXT, st.sampled_from(["chrono", "orthogonal", "0,1", "[1]", "{}"]))),
    JUNK)


@st.composite
def any_run(draw: Any) -> list[str]:
    """Arguments of every kind, most of them wrong somewhere; always a small model."""
    argv = ["--hidden", "8", "--lengths", "6"] if draw(st.booleans()) else []
    for flag in draw(st.lists(st.sampled_from(FLAGS), max_size=4)):
        text = draw(NAME_TEXT if flag in ("--cells", "--tasks") else
                    OPTION_TEXT if flag in ("--task-opt", "--cell-opt") else
                    st.sampled_from(["quick", "nope", "broken.toml", "/"]) if flag in ("--suite", "--corpus") else
                    NUMBER_TEXT)
        argv += [flag, text] if not text.startswith("-") else [f"{flag}={text}"]
    if "--cells" not in argv:
        argv += ["--cells", draw(st.sampled_from(["lstm", "gru,rnn", "lstmm"]))]
    return argv


@given(any_run())
def test_any_arguments_exit_0_or_2_in_one_line(argv):
    code, err, _ = dry_run(argv)
    assert_clean(code, err)


# --------------------------------------------------------------------------- suite files

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not (isinstance(value, float) and not math.isfinite(value)) else \
            ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_suite(description: Any, defaults: dict, parts: list) -> str:
    lines = [] if description is None else [f"description = {toml_value(description)}"]
    if defaults:
        lines += ["[defaults]", *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in defaults.items())]
    for part in parts:
        lines += ["[[part]]", *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in part.items())]
    return "\n".join(lines) + "\n"


@st.composite
def valid_part(draw: Any) -> dict:
    part = {"cells": draw(st.lists(st.sampled_from(CELLS), min_size=1, max_size=2, unique=True)),
            "tasks": draw(st.lists(st.sampled_from(TASKS), min_size=1, max_size=2, unique=True)),
            "lengths": draw(st.lists(st.integers(4, 30), min_size=1, max_size=2, unique=True)),
            "hidden": draw(st.integers(4, 16)), "steps": draw(st.integers(1, 1000))}
    if draw(st.booleans()):
        part["lr"] = draw(st.one_of(floats(1e-4, 0.1), st.lists(floats(1e-4, 0.1), min_size=2, max_size=2,
                                                                    unique=True)))
    if draw(st.booleans()):
        part["seeds"] = draw(st.integers(1, 2))
    return part


@given(st.lists(valid_part(), min_size=1, max_size=3), st.sampled_from([None, "a suite", "ünïcode"]))
def test_valid_suites_round_trip_into_the_same_trials(parts, description):
    # parts must not repeat a trial (the suite says so), so each part gets lengths of its own
    for i, part in enumerate(parts):
        part["lengths"] = [length + 100 * i for length in part["lengths"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.toml"
        path.write_text(toml_suite(description, {"batch": 8}, parts), encoding="utf-8")
        code, err, trials = dry_run(["--suite", str(path)])
    assert code == 0, err
    expected, _ = plan([RunConfig(**{"batch": 8, **part}) for part in parts], REGISTRY)
    assert specs(trials) == specs(expected)


ANY_VALUE = st.recursive(st.one_of(st.booleans(), st.integers(-10, 10**6), floats(), JUNK,
                                   st.sampled_from(CELLS + TASKS + ["1e-3..1e-2", "30s", "20k", "lstmm"])),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.sampled_from(CELLS + TASKS + ["x", "n_symbols"]),
                                                                 inner, max_size=2)),
                         max_leaves=6)
KEYS = ["cells", "tasks", "lengths", "steps", "budget", "seeds", "hidden", "params", "layers", "batch", "lr",
        "dropout", "clip", "device", "eval_every", "eval_examples", "task_params", "cell_params", "samples",
        "sweep_seed", "tune", "patience", "save", "flush_denormal", "sample", "stepz", "plugins"]


@st.composite
def broken_suite(draw: Any) -> str:
    """A suite file broken somewhere: any key (known or not) set to any value, in the defaults or
    a part, a part that is no table, or text that is not TOML at all."""
    kind = draw(st.sampled_from(["field", "field", "field", "shape", "text"]))
    if kind == "text":
        return draw(st.text(max_size=60))
    parts = draw(st.lists(valid_part(), min_size=0 if kind == "shape" else 1, max_size=2))
    defaults: dict = {}
    for _ in range(draw(st.integers(1, 3))):
        target = defaults if not parts or draw(st.booleans()) else draw(st.sampled_from(parts))
        target[draw(st.sampled_from(KEYS))] = draw(ANY_VALUE)
    text = toml_suite(draw(st.one_of(st.none(), ANY_VALUE)), defaults, parts)  # the description too
    if kind == "shape":
        text += draw(st.sampled_from(["part = 3\n", "[part]\ncells = ['lstm']\n", "defaults = 1\n", "[x]\n", ""]))
    return text


@given(broken_suite())
def test_broken_suites_exit_0_or_2_in_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.toml"
        path.write_text(text, encoding="utf-8")
        code, err, _ = dry_run(["--suite", str(path)])
    assert_clean(code, err)
