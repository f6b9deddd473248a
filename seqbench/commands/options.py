"""Option groups that several commands share, declared once, and how their values are read.

Imports nothing heavy: every command module declares its parser at ``seqbench --help`` time.
"""
from __future__ import annotations

import argparse
from typing import Any, Sequence

GRID = " (a comma list is a grid; LOW..HIGH a range for --samples)"
# the trial options of ``seqbench run`` and ``seqbench horizon``: flag → help; (grid) marks grid-capable ones
TRIAL_OPTIONS = (
    ("--steps", "training steps per trial (default: 1500 when no --budget)"),
    ("--budget", "training wall-clock budget per trial, e.g. 30s, 2m"),
    ("--hidden", "hidden size, instead of a parameter budget (default: --params 20k; in a suite that sets "
                 "neither, 64)(grid)"),
    ("--params", "parameter budget, e.g. 50k: each cell's hidden size is solved so the whole model lands within "
                 "±3%% of it (instead of --hidden; default: 20k when no --hidden)(grid)"),
    ("--state-size", "state-size budget in floats per sequence, e.g. 4k: each cell's hidden size is solved so "
                     "the recurrent state it carries (LSTM 2·H per layer, Transformer KV cache 2·L·d·T) lands within "
                     "±3%% of it (instead of --hidden and --params)(grid)"),
    ("--backbone", "plain (the cell as built, default) or block (every cell's mixer in the same pre-norm "
                   "residual blocks with a SwiGLU MLP; README: Backbones)(grid)"),
    ("--layers", "number of layers (default: 1)(grid)"),
    ("--batch", "batch size (default: 64)(grid)"),
    ("--lr", "Adam learning rate (default: 3e-3)(grid), e.g. 1e-3,3e-3 or 1e-4..1e-2"),
    ("--dropout", "dropout between layers (default: 0)(grid)"),
    ("--clip", "gradient-norm clipping threshold (default: 1.0)(grid)"),
    ("--weight-decay", "decoupled weight decay (AdamW) on every parameter (default: 0, plain Adam)(grid), e.g. "
                       "0,0.1"),
    ("--train-examples", "a finite training set: N examples drawn once from the trial's seed, trained on in "
                         "shuffled epochs (default: 0, a fresh stream at every step; validation and test stay "
                         "separate draws)(grid)"),
    ("--device", "auto, cpu or cuda (default: auto)"),
    ("--eval-every", "steps between evaluations (default: 100); a trial stopping once solved stops at one"),
    ("--quick-eval", "periodic evaluations (early stopping, --stop-when-solved, steps to solve) on the first N "
                     "validation examples instead of the whole validation set; the final validation and test "
                     "numbers always use the whole sets"),
)
TRIAL_NAMES = tuple(flag[2:].replace("-", "_") for flag, _ in TRIAL_OPTIONS) + ("flush_denormal",)
# --cells takes group names beside cell names (registry.Registry.select_cells)
CELL_GROUPS_HELP = ("groups: classic (rnn, lstm, gru, transformer), modern (the modern layers), all (every cell "
                    "but the *-ref ones), default")
EXECUTION = ("jobs", "threads", "executor", "ray_address", "cpus_per_trial", "gpus_per_trial", "retries")


def add_plugins(parser: argparse.ArgumentParser) -> None:
    """``-p MODULE`` (repeatable); ``-p no:NAME`` blocks a plugin."""
    parser.add_argument("-p", dest="plugins", action="append", default=[], metavar="MODULE",
                        help="load a plugin module (repeatable); -p no:NAME blocks plugin NAME")


def add_wide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wide", action="store_true", help="print each table whole, however wide (default: fit "
                        "the terminal, moving lower-priority columns to a second table)")


def add_quiet(parser: argparse.ArgumentParser, what: str = "no progress display") -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help=what)


def add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="folder for run directories (default: results)")


def add_offline(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", help="never download a corpus (also SEQBENCH_OFFLINE=1)")


def add_cell_opt(parser: argparse.ArgumentParser, example: str = "transformer.n_heads=2, lstm.forget_bias=0,1 or "
                 "rnn.init=uniform,orthogonal") -> None:
    parser.add_argument("--cell-opt", dest="cell_opts", action="append", metavar="CELL.PARAM=VALUE",
                        help=f"a cell parameter, e.g. {example} (repeatable)")


def add_trial_options(parser: argparse.ArgumentParser, grid: bool) -> None:
    """The options of one trial (``TRIAL_OPTIONS``, --keep-denormals, --task-opt, --cell-opt);
    ``grid``: a comma list or range of values is accepted (``seqbench run``)."""
    for flag, what in TRIAL_OPTIONS:
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), help=what.replace("(grid)", GRID if grid else ""))
    parser.add_argument("--keep-denormals", dest="flush_denormal", action="store_false", default=None,
                        help="on CPU, keep subnormal floats (default: flush them to zero while training; "
                        "they make vanishing-gradient cells several times slower on x86)")
    parser.add_argument("--task-opt", dest="task_opts", action="append", metavar="TASK.PARAM=VALUE",
                        help="a task parameter, e.g. copy.n_symbols=5" + (", or a grid copy.n_symbols=4,8" if grid
                                                                          else "") + " (repeatable)")
    add_cell_opt(parser)


def add_execution(parser: argparse.ArgumentParser) -> None:
    """Where trials run (``seqbench.execute``): worker processes or a Ray cluster."""
    group = parser.add_argument_group("execution", "where trials run; results are the same whichever is chosen "
                                      "(for the same torch threads per trial)")
    group.add_argument("--jobs", "-j", metavar="N|auto", help="trials in N worker processes on this machine, each "
                       "with cores/N torch threads (default 1: in this process; auto: one per core)")
    group.add_argument("--threads", metavar="N", help="torch threads per trial (default: cores / jobs; with Ray: "
                       "--cpus-per-trial)")
    group.add_argument("--executor", metavar="local|ray", help="local (default) or ray: every trial "
                       "a Ray task (pip install 'seqbench[ray]')")
    group.add_argument("--ray-address", metavar="auto|HOST:PORT", help="join this Ray cluster (default: start "
                       "Ray on this machine)")
    group.add_argument("--cpus-per-trial", metavar="N", help="CPUs each Ray task asks for (default 1)")
    group.add_argument("--gpus-per-trial", metavar="F", help="GPUs each Ray task asks for; fractional packs trials "
                       "on one GPU, e.g. 0.25 (default 0)")
    group.add_argument("--retries", metavar="N", help="run a trial whose worker died again this many times, then "
                       "give it an error row (default 1)")


def execution_from(args: Any) -> Any:
    """The ``Execution`` the flags of ``add_execution`` describe, validated."""
    from seqbench.errors import UsageError
    from seqbench.execute import Execution

    given = {name: getattr(args, name) for name in EXECUTION if getattr(args, name) is not None}
    if given.get("executor") != "ray":
        ray_only = [name for name in ("ray_address", "cpus_per_trial", "gpus_per_trial") if name in given]
        if ray_only:
            raise UsageError(f"--{ray_only[0].replace('_', '-')} is for --executor ray")
    if "jobs" in given and given.get("executor") == "ray":
        raise UsageError("--jobs is for the local executor; with --executor ray, Ray schedules the trials "
                         "(--cpus-per-trial)")
    if "threads" in given:
        try:
            given["threads"] = int(given["threads"])
        except ValueError:
            raise UsageError(f"--threads must be a positive integer, got {given['threads']!r}") from None
    return Execution(**given).check()


def trial_options(args: Any, names: Sequence[str]) -> dict[str, Any]:
    """The options ``names`` given on the command line, with --task-opt / --cell-opt parsed."""
    from seqbench.spec.config import parse_options

    options = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    if getattr(args, "task_opts", None):
        options["task_params"] = parse_options("--task-opt", args.task_opts)
    if args.cell_opts:
        options["cell_params"] = parse_options("--cell-opt", args.cell_opts)
    return options


def apply_offline(args: Any) -> None:
    """--offline: no corpus download for the rest of the process (seqbench.data.download reads it)."""
    if args.offline:
        import os

        os.environ["SEQBENCH_OFFLINE"] = "1"
