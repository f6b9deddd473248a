"""The ``seqbench`` command: a thin layer over the Python API.

Imports nothing heavy at module level, so ``seqbench --help`` is instant; torch is imported
only by the commands that need it. Bad input prints one line and exits 2; a run with a
trial that ended in an error exits 1; Ctrl-C exits 130 after saving finished trials.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Optional, Sequence

from seqbench._version import __version__
from seqbench.errors import SeqbenchError

RUN_OPTIONS = ("cells", "tasks", "lengths", "steps", "budget", "seeds", "hidden", "params", "layers", "batch",
               "lr", "dropout", "clip", "device", "eval_every", "out", "save", "flush_denormal", "samples",
               "sweep_seed", "tune", "patience")
RUN_OPTIONS += ("eval_lengths", "stop_when_solved")  # length generalization, stopping once solved (#14)
# --cells takes group names beside cell names (registry.Registry.select_cells)
CELL_GROUPS_HELP = "groups: classic (rnn, lstm, gru, transformer), all (every cell but the *-ref ones), default"
HORIZON_OPTIONS = ("steps", "budget", "hidden", "params", "layers", "batch", "lr", "dropout", "clip", "device",
                   "eval_every", "flush_denormal", "stop_when_solved")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def one_line(message: str) -> str:
    """``message`` on one line: control characters and line breaks escaped (``\\n``, ``\\x1e``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """Where trials run (``seqbench.execute``): worker processes or a Ray cluster."""
    group = parser.add_argument_group("execution", "where trials run; results are the same whichever is chosen "
                                      "(for the same torch threads per trial)")
    group.add_argument("--jobs", "-j", metavar="N|auto", help="trials in N worker processes on this machine, each "
                       "with cores/N torch threads (default 1: in this process; auto: one per core)")
    group.add_argument("--threads", metavar="N", help="torch threads per trial (default: cores / jobs; with Ray: "
                       "--cpus-per-trial)")
    group.add_argument("--executor", choices=None, metavar="local|ray", help="local (default) or ray: every trial "
                       "a Ray task (pip install 'seqbench[ray]')")
    group.add_argument("--ray-address", metavar="auto|HOST:PORT", help="join this Ray cluster (default: start "
                       "Ray on this machine)")
    group.add_argument("--cpus-per-trial", metavar="N", help="CPUs each Ray task asks for (default 1)")
    group.add_argument("--gpus-per-trial", metavar="F", help="GPUs each Ray task asks for; fractional packs trials "
                       "on one GPU, e.g. 0.25 (default 0)")
    group.add_argument("--retries", metavar="N", help="run a trial whose worker died again this many times, then "
                       "give it an error row (default 1)")


def execution_from(args: Any) -> Any:
    """The ``Execution`` the flags of ``add_execution_options`` describe, validated."""
    from seqbench.execute import Execution

    given = {name: getattr(args, name) for name in ("jobs", "threads", "executor", "ray_address", "cpus_per_trial",
                                                    "gpus_per_trial", "retries") if getattr(args, name) is not None}
    if given.get("executor") != "ray":
        ray_only = [name for name in ("ray_address", "cpus_per_trial", "gpus_per_trial") if name in given]
        if ray_only:
            from seqbench.errors import UsageError

            flag = "--" + ray_only[0].replace("_", "-")
            raise UsageError(f"{flag} is for --executor ray")
    if "jobs" in given and given.get("executor") == "ray":
        from seqbench.errors import UsageError

        raise UsageError("--jobs is for the local executor; with --executor ray, Ray schedules the trials "
                         "(--cpus-per-trial)")
    if "threads" in given:
        try:
            given["threads"] = int(given["threads"])
        except ValueError:
            from seqbench.errors import UsageError

            raise UsageError(f"--threads must be a positive integer, got {given['threads']!r}") from None
    return Execution(**given).check()


def build_parser() -> Parser:
    plugin_opts = argparse.ArgumentParser(add_help=False)
    plugin_opts.add_argument("-p", dest="plugins", action="append", default=[], metavar="MODULE",
                             help="load a plugin module (repeatable); -p no:NAME blocks plugin NAME")

    wide_opts = argparse.ArgumentParser(add_help=False)
    wide_opts.add_argument("--wide", action="store_true", help="print each table whole, however wide (default: fit "
                           "the terminal, moving lower-priority columns to a second table)")

    parser = Parser(prog="seqbench", description="Compare recurrent cells and a Transformer on "
                    "long-dependency sequence tasks.", parents=[plugin_opts])
    parser.add_argument("--version", action="version", version=f"seqbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser("run", parents=[plugin_opts, wide_opts], help="train and compare cells on tasks",
                         description="Train every cell on every task × length × seed and print "
                         "comparison tables. Without options: the default cells (rnn, lstm, gru, "
                         "transformer; seqbench list shows them) on adding, T=50, 1,500 steps, every model 20k parameters.")
    run.add_argument("--cells", help=f"comma-separated cell names or {CELL_GROUPS_HELP} (default: the default set)")
    run.add_argument("--tasks", help="comma-separated task names (default: adding)")
    run.add_argument("--lengths", help="comma-separated sequence lengths T (default: 50)")
    run.add_argument("--steps", help="training steps per trial (default: 1500 when no --budget)")
    run.add_argument("--budget", help="training wall-clock budget per trial, e.g. 30s, 2m")
    run.add_argument("--seeds", help="number of seeds per configuration (default: 1)")
    grid = " (a comma list is a grid; LOW..HIGH a range for --samples)"
    run.add_argument("--hidden", help="hidden size, instead of a parameter budget (default: --params 20k; "
                     "in a suite that sets neither, 64)" + grid)
    run.add_argument("--params", help="parameter budget, e.g. 50k: each cell's hidden size is solved so "
                     "the whole model lands within ±3%% of it (instead of --hidden; default: 20k when no --hidden)"
                     + grid)
    run.add_argument("--layers", help="number of layers (default: 1)" + grid)
    run.add_argument("--batch", help="batch size (default: 64)" + grid)
    run.add_argument("--lr", help="Adam learning rate (default: 3e-3)" + grid + ", e.g. 1e-3,3e-3 or 1e-4..1e-2")
    run.add_argument("--dropout", help="dropout between layers (default: 0)" + grid)
    run.add_argument("--clip", help="gradient-norm clipping threshold (default: 1.0)" + grid)
    run.add_argument("--samples", help="random search: configurations drawn from the ranges (default: 1)")
    run.add_argument("--sweep-seed", dest="sweep_seed", type=_nonneg_int, help="seed of those draws (default: 0): "
                     "the same seed draws the same configurations")
    run.add_argument("--tune", action="store_true", default=None, help="per cell × task × length, select the "
                     "configuration with the best mean validation metric and report its test numbers")
    run.add_argument("--patience", help="early stopping: evaluations without a better validation metric "
                     "before a trial stops (the model is restored to its best evaluation)")
    run.add_argument("--dry-run", dest="dry_run", action="store_true", help="validate every configuration, "
                     "show the trials and the estimated time, and stop")
    run.add_argument("--device", help="auto, cpu or cuda (default: auto)")
    run.add_argument("--eval-every", dest="eval_every", help="steps between evaluations (default: 100)")
    run.add_argument("--task-opt", dest="task_opts", action="append", metavar="TASK.PARAM=VALUE",
                     help="a task parameter, e.g. copy.n_symbols=5, or a grid copy.n_symbols=4,8 (repeatable)")
    run.add_argument("--cell-opt", dest="cell_opts", action="append", metavar="CELL.PARAM=VALUE",
                     help="a cell parameter, e.g. transformer.n_heads=2, lstm.forget_bias=0,1 or "
                     "rnn.init=uniform,orthogonal (repeatable)")
    run.add_argument("--corpus", metavar="PATH|NAME", help="corpus of the charlm task: a UTF-8 text file or "
                     "tinyshakespeare, enwik8, text8, ptb-char, wikitext-2 (downloaded on first use) "
                     "instead of the embedded default")
    run.add_argument("--offline", action="store_true", help="never download a corpus (also SEQBENCH_OFFLINE=1)")
    run.add_argument("--save", action="store_true", default=None, help="keep each trial's trained model in "
                     "RUN_DIR/checkpoints/ (for seqbench generate / eval)")
    run.add_argument("--inspect", action="store_true", help="after training, the gradient flow of each trained "
                     "model (and at init) into RUN_DIR/inspect/ (implies --save; figures need matplotlib)")
    run.add_argument("--keep-denormals", dest="flush_denormal", action="store_false", default=None,
                     help="on CPU, keep subnormal floats (default: flush them to zero while training; "
                     "they make vanishing-gradient cells several times slower on x86)")
    run.add_argument("--out", help="folder for run directories (default: results)")
    run.add_argument("--suite", metavar="NAME|PATH", help="run a named suite (quick, standard, long) or a "
                     "suite TOML file; other options override it")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a run with its saved configuration: trials "
                     "that ended ok or diverged are kept (results), error trials run again; a trial option that "
                     "differs from the saved one is refused, -p, -q and --dry-run may be given")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_execution_options(run)

    run.add_argument("--eval-lengths", dest="eval_lengths", metavar="LENGTHS", help="also evaluate each trained "
                     "model, without further training, on the test set at these lengths: multiples of its T (2x,4x) "
                     "or lengths (1000); rows in RUN_DIR/generalization.csv (implies --save)")
    run.add_argument("--stop-when-solved", dest="stop_when_solved", action="store_true", default=None,
                     help="stop a trial at the first evaluation that meets the task's solved criterion (default: "
                     "train the whole budget)")
    _horizon_parser(sub, plugin_opts, wide_opts)

    check = sub.add_parser("check", parents=[plugin_opts], help="run the conformance checks on cells",
                           description="Check each cell: shapes, causality, step-by-step equals full "
                           "sequence, determinism, parameter count, equality with its fused twin.")
    check.add_argument("--cells", help=f"comma-separated cell names or {CELL_GROUPS_HELP} (default: every registered cell)")

    speed = sub.add_parser("speed", parents=[plugin_opts, wide_opts],
                           help="measure speed, memory and scaling of cells",
                           description="Per cell and length: training and inference tokens/s, generation "
                           "latency per token, peak memory, FLOPs per token and %% of a matmul peak probe, "
                           "and the exponent of time vs length. Results go to OUT/<run-id>/speed.csv.")
    speed.add_argument("--cells", help=f"comma-separated cell names or {CELL_GROUPS_HELP} (default: the default set; "
                       "name the *-ref reference cells, e.g. lstm,lstm-ref, to see them beside their twins)")
    speed.add_argument("--lengths", help="comma-separated sequence lengths T (default: 64,256,1024,4096)")
    speed.add_argument("--batch", help="batch size (default: 32)")
    speed.add_argument("--hidden", help="hidden size (default: 128)")
    speed.add_argument("--params", help="parameter budget of the cell alone, e.g. 100k (instead of --hidden)")
    speed.add_argument("--layers", help="number of layers (default: 1)")
    speed.add_argument("--device", help="auto, cpu or cuda (default: auto)")
    speed.add_argument("--dtype", help="float32 or bfloat16 (default: float32)")
    speed.add_argument("--repeats", help="timed repeats per measurement, at least (default: 5)")
    speed.add_argument("--cell-opt", dest="cell_opts", action="append", metavar="CELL.PARAM=VALUE",
                       help="a cell parameter, e.g. lstm-ref.mode=compile (repeatable)")
    speed.add_argument("--out", help="folder for run directories (default: results)")
    speed.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    sub.add_parser("list", parents=[plugin_opts], help="list cells, tasks, metrics and report formats with their plugin")
    plugins = sub.add_parser("plugins", parents=[plugin_opts], help="list loaded plugins and what each contributes; "
                             "'plugins new NAME' scaffolds a plugin package",
                             description="Without a subcommand: list loaded plugins (name, version, where loaded "
                             "from, what each contributes).")
    plugins_sub = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND", parser_class=Parser)
    new = plugins_sub.add_parser("new", help="scaffold a ready-to-install plugin package with one example cell",
                                 description="Create NAME/ (in --dir): pyproject.toml with the entry point, "
                                 "seqbench_NAME/ with an example cell named NAME, a conformance test, a README. "
                                 "Then: pip install -e NAME && seqbench run --cells NAME")
    new.add_argument("name", metavar="NAME", help="plugin and cell name: lowercase letters, digits, - and _")
    new.add_argument("--dir", default=".", help="folder to create NAME/ in (default: the current one)")

    gen = sub.add_parser("generate", parents=[plugin_opts], help="sample text from a charlm checkpoint",
                         description="Stream characters sampled from a character language model saved by "
                         "seqbench run --save; the speed goes to stderr. Same seed, same text.")
    gen.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    gen.add_argument("--prompt", default="", help="text to start from (default: a newline)")
    gen.add_argument("--length", type=int, default=300, help="characters to sample (default: 300)")
    gen.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy (default: 1)")
    gen.add_argument("--top-k", dest="top_k", type=int, help="sample among the K most likely characters only")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")

    ev = sub.add_parser("eval", parents=[plugin_opts, wide_opts],
                        help="perplexity and bits/char of a charlm checkpoint",
                        description="Score a checkpoint on its corpus's held-out split (the same windows the "
                        "trial scored) or on another corpus or text file.")
    ev.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    ev.add_argument("--corpus", metavar="PATH|NAME", help="score another text file (whole) or named corpus (split)")
    ev.add_argument("--split", choices=("test", "val"), default="test", help="held-out split (default: test)")
    ev.add_argument("--examples", type=int, help="windows to score (default: as many as the trial; a file: all)")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    ev.add_argument("--offline", action="store_true", help="never download a corpus (also SEQBENCH_OFFLINE=1)")

    insp = sub.add_parser("inspect", parents=[plugin_opts], help="why a cell succeeds or fails: gradient flow "
                          "over time, gates at work", description="Gradient flow of cells at initialization "
                          "and of checkpoints; the gates of an LSTM or GRU checkpoint along a task example.")
    insp_sub = insp.add_subparsers(dest="inspect_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    grad = insp_sub.add_parser("gradients", parents=[plugin_opts], help="gradient norm against distance to the "
                               "loss step, per cell", description="Norm of the loss's gradient with respect to the "
                               "cell's input at every step, against the distance to the final scored step, on one "
                               "held-out batch, in float64: decay per step and ratio at distance T to distance 1.")
    grad.add_argument("checkpoints", nargs="*", metavar="CHECKPOINT", help="trained models (a run's checkpoints/*.pt)")
    grad.add_argument("--cells", help=f"cells measured at initialization: names or {CELL_GROUPS_HELP} (default: "
                      "the default set, when no checkpoint is given)")
    grad.add_argument("--task", help="task (default: the checkpoints' task, else adding)")
    grad.add_argument("--length", help="sequence length T (default: the checkpoints' length, else 100)")
    grad.add_argument("--params", help="parameter budget, e.g. 20k: each cell's width matches it (instead of --hidden)")
    grad.add_argument("--hidden", help="hidden size (default: 64)")
    grad.add_argument("--seed", default="0", help="initialization seed, as trial seed S of seqbench run (default: 0)")
    grad.add_argument("--batch", default="64", help="held-out examples in the batch (default: 64)")
    grad.add_argument("-o", "--output", metavar="FILE", help="write the figure (.png, .svg, .pdf; needs matplotlib)")
    grad.add_argument("--csv", metavar="FILE", help="write the long table (cell, source, distance, grad_norm, ...)")
    gates = insp_sub.add_parser("gates", parents=[plugin_opts], help="gates of an lstm/gru checkpoint along a "
                                "task example", description="Load an lstm or gru checkpoint (fused or -ref) into "
                                "the reference cell and record every gate along a held-out example; plugin cells "
                                "answer through the seqbench_inspect_cell hook.")
    gates.add_argument("checkpoint", metavar="CHECKPOINT", help="a run's checkpoints/*.pt file")
    gates.add_argument("--example", default="0", help="index N of the held-out example (default: 0)")
    gates.add_argument("-o", "--output", metavar="FILE", help="write the heat maps (.png, .svg, .pdf; needs matplotlib)")
    gates.add_argument("--csv", metavar="FILE", help="write the per-gate summary")

    report = sub.add_parser("report", parents=[plugin_opts, wide_opts], help="print or export a run's tables "
                            "(seqbench run or seqbench speed)")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--format", metavar="NAME", help="table, markdown, csv, json, html or a plugin's format "
                        "(default: table, or the format whose suffix -o FILE ends with)")
    report.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    view = report.add_mutually_exclusive_group()
    view.add_argument("--all", dest="view", action="store_const", const="all", default="auto",
                      help="a tuned run: every configuration, not only the selected ones")
    view.add_argument("--tuned", dest="view", action="store_const", const="tuned",
                      help="only each cell's configuration with the best mean validation metric")

    plot = sub.add_parser("plot", parents=[plugin_opts], help="draw a run's figures (needs matplotlib)",
                          description="Learning curves, the primary metric against length, speed scaling and "
                          "quality against throughput, one colour per cell. Needs: pip install 'seqbench[plots]'.")
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--kind", default="all", choices=("curves", "length", "speed", "pareto", "horizon", "generalization", "all"),
                      help="which figures (default: all that apply to the run)")
    plot.add_argument("-o", "--output", metavar="DIR", help="folder for the figures (default: RUN_DIR/plots)")
    plot.add_argument("--format", default="png", choices=("png", "svg", "pdf"), help="file format (default: png)")

    cmp = sub.add_parser("compare", parents=[plugin_opts, wide_opts],
                         help="compare two or more runs (or speed runs) side by side",
                         description="Match rows by cell × task × length (and the options a run varies, such as "
                         "a sweep's lr), name the options that differ between the runs, show each metric per run, "
                         "its ratio to the first run and a verdict: better, worse or not distinguishable (Welch's "
                         "t-test over seeds, p < 0.05; timings: non-overlapping interquartile bands). Exit 2 when "
                         "nothing is compared.")
    cmp.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories; the first is the baseline")
    cmp.add_argument("--fail-on-regression", dest="fail_on_regression", metavar="PCT",
                     help="exit 1 when a primary metric or throughput is significantly worse by more than PCT %%")
    cmp.add_argument("--format", choices=("table", "markdown", "csv", "json"), default="table",
                     help="output format (default: table)")
    cmp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    return parser


def _horizon_parser(sub: Any, plugin_opts: Any, wide_opts: Any) -> None:
    """``seqbench horizon``: each cell's memory horizon (seqbench.sweep.horizon)."""
    hz = sub.add_parser("horizon", parents=[plugin_opts, wide_opts], help="per cell, the longest length it solves "
                        "within a budget (memory horizon)",
                        description="Per cell: lengths doubled from --from until one fails (halved when --from "
                        "itself fails, until one is solved), then bisected to --resolution; a length counts as "
                        "solved when a majority of seeds solve it (seeds in order, "
                        "stopping once decided; each trial stops once solved). Every trial is a row of "
                        "RUN_DIR/results.csv: seqbench report, plot and --resume work on it.")
    hz.add_argument("--cells", help=f"comma-separated cell names or {CELL_GROUPS_HELP} (default: the default set)")
    hz.add_argument("--task", help="a task that declares a solved criterion (default: adding)")
    hz.add_argument("--budget", help="training wall-clock budget per trial, e.g. 60s")
    hz.add_argument("--steps", help="training steps per trial (default: 1500 when no --budget)")
    hz.add_argument("--seeds", help="seeds per length; solved when a majority solve it (default: 3)")
    hz.add_argument("--params", help="parameter budget, e.g. 20k (default: 20k when no --hidden)")
    hz.add_argument("--hidden", help="hidden size, instead of a parameter budget")
    hz.add_argument("--from", dest="start", help="first length (default: 25; halved when it fails)")
    hz.add_argument("--max-length", dest="max_length", help="longest length probed (default: 4096)")
    hz.add_argument("--resolution", help="bisect until the first failed length is within this fraction of the "
                    "horizon (default: 0.1; 0: to the exact length)")
    for flag, what in (("--layers", "number of layers (default: 1)"), ("--batch", "batch size (default: 64)"),
                       ("--lr", "Adam learning rate (default: 3e-3)"), ("--dropout", "dropout (default: 0)"),
                       ("--clip", "gradient-norm clipping threshold (default: 1.0)"),
                       ("--device", "auto, cpu or cuda (default: auto)")):
        hz.add_argument(flag, help=what)
    hz.add_argument("--eval-every", dest="eval_every", help="steps between evaluations, where a solved trial stops "
                    "(default: 100)")
    hz.add_argument("--full-budget", dest="stop_when_solved", action="store_false", default=None,
                    help="train every trial for its whole budget (default: stop once solved)")
    hz.add_argument("--keep-denormals", dest="flush_denormal", action="store_false", default=None,
                    help="on CPU, keep subnormal floats (default: flush them to zero)")
    hz.add_argument("--task-opt", dest="task_opts", action="append", metavar="TASK.PARAM=VALUE",
                    help="a task parameter (repeatable)")
    hz.add_argument("--cell-opt", dest="cell_opts", action="append", metavar="CELL.PARAM=VALUE",
                    help="a cell parameter (repeatable)")
    hz.add_argument("--out", help="folder for run directories (default: results)")
    hz.add_argument("--resume", metavar="RUN_DIR", help="continue a horizon search, reusing its finished trials")
    hz.add_argument("--dry-run", dest="dry_run", action="store_true", help="validate, show the search's size and "
                    "longest duration, and stop")
    hz.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    add_execution_options(hz)  # each round's trials shared out among workers


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    import signal

    if hasattr(signal, "SIGXFSZ"):  # past a file size limit (ulimit -f) a write fails: one error line, no crash
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return COMMANDS[args.command](args)
    except SeqbenchError as exc:
        print(f"seqbench: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqbench: interrupted", file=sys.stderr)
        return 130


def _stdout() -> Any:
    """Console for tables: wide when stdout is a file or pipe (rich would assume 80 columns)."""
    import os

    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=200 if piped else None)


def _registry(args: Any) -> Any:
    from seqbench.plugins.registry import Registry

    return Registry(args.plugins)


def _trial_options(args: Any, names: Sequence[str]) -> dict[str, Any]:
    """The trial options given on the command line (``names``), with --task-opt / --cell-opt parsed."""
    from seqbench.spec.config import parse_options

    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.task_opts:
        options["task_params"] = parse_options("--task-opt", args.task_opts)
    if args.cell_opts:
        options["cell_params"] = parse_options("--cell-opt", args.cell_opts)
    return options


def cmd_run(args: Any) -> int:
    from rich.console import Console

    from seqbench.reporting.run_report import run_extra_tables
    from seqbench.reporting.run_tables import render
    from seqbench.reporting.table import print_tables
    from seqbench.errors import UsageError
    from seqbench.store import RunDir
    from seqbench.runs.runner import run

    options = _trial_options(args, RUN_OPTIONS)
    _offline(args)
    if args.corpus:
        from pathlib import Path

        from seqbench.data.corpus import is_corpus_name

        named = is_corpus_name(args.corpus)  # a name (or a typo of one) stays a name
        corpus = args.corpus if named else str(Path(args.corpus).expanduser().resolve())
        options.setdefault("task_params", {}).setdefault("charlm", {})["corpus"] = corpus  # absolute: --resume
    if args.resume:
        _resume_options(args, options)
    if args.inspect:
        options["save"] = True  # gradient flow is measured on the saved models
        from seqbench.inspect import plots_available

        if not plots_available():
            raise UsageError("--inspect draws figures with matplotlib: pip install 'seqbench[plots]'")
    execution = execution_from(args)
    registry = _registry(args)
    err = Console(stderr=True)
    if args.dry_run:
        planned = run(registry=registry, plugins=args.plugins, resume=args.resume, suite=args.suite, dry_run=True,
                      **options)
        print_tables([plan_table(planned)], _stdout())
        return 0

    def announce(planned: Any) -> None:
        from seqbench.runs.estimate import describe

        err.print(f"seqbench run: {describe(planned)}", highlight=False)

    try:
        frame = run(registry=registry, plugins=args.plugins, resume=args.resume, suite=args.suite,
                    progress=not args.quiet, announce=announce, execution=execution, **options)
    except KeyboardInterrupt as interrupt:
        run_dir = str(interrupt) or "the run directory"
        err.print(f"[yellow]interrupted[/]: finished trials are saved in {run_dir}; "
                  f"continue with: seqbench run --resume {run_dir}", highlight=False,
                  soft_wrap=True)  # one line: the command stays copyable
        return 130
    saved = RunDir.open(frame.attrs["run_dir"]).read_config()
    tuned = any(c.get("tune") for c in saved.get("configs", []))
    render(frame, _stdout(), saved.get("metrics"), saved.get("tasks"), tuned=tuned, wide=args.wide)
    print_tables(run_extra_tables(frame.attrs["run_dir"], frame), _stdout(), wide=args.wide)
    sample = max((c.get("sample", 0) for c in saved.get("configs", [])), default=0)
    if sample:
        from seqbench.studies.sampling import run_samples

        for trial, text in run_samples(frame.attrs["run_dir"], frame, sample, registry=registry):
            cell, task, length, seed = trial.split("|")[:4]
            _stdout().rule(f"{cell} · {task} T={length} · seed {seed}: a {sample}-character sample", align="left")
            _stdout().print(text, markup=False, highlight=False)
    if args.inspect:
        from seqbench.inspect import inspect_run

        written = inspect_run(frame.attrs["run_dir"], registry=registry)
        from seqbench.words import plural

        err.print(f"inspect: {plural(len(written), 'file')} in {frame.attrs['run_dir']}/inspect/", highlight=False)
    err.print(f"results: {frame.attrs['run_dir']}/results.csv", highlight=False)
    errors = frame[frame["status"].astype(str).str.startswith("error")]
    for _, row in errors.iterrows():
        err.print(f"[red]{row['trial']}[/]: {row['status']}", highlight=False, soft_wrap=True)  # one line each
    return 1 if len(errors) else 0


def _resume_options(args: Any, options: dict) -> None:
    """--resume: ``--out`` only as RUN_DIR's parent (dropped), and the saved run's plugins when
    no -p is given; the trial options are compared with the saved ones by ``runner.run``."""
    import json
    from pathlib import Path

    from seqbench.errors import UsageError
    from seqbench.store import CONFIG_JSON

    out = options.pop("out", None)
    if out is not None and Path(out).resolve() != Path(args.resume).resolve().parent:
        raise UsageError(f"--resume writes into {args.resume}; drop --out {out}")
    if not args.plugins:
        try:
            saved = json.loads((Path(args.resume) / CONFIG_JSON).read_text(encoding="utf-8"))
            args.plugins = list(dict.fromkeys(p for c in saved.get("configs", []) for p in c.get("plugins", [])))
        except (OSError, ValueError, AttributeError, TypeError):
            pass  # runner.run reports an unreadable run directory


def cmd_horizon(args: Any) -> int:
    from rich.console import Console

    from seqbench.reporting.run_report import load_report as load_run_info
    from seqbench.sweep.horizon import horizon
    from seqbench.reporting.table import print_tables

    options = _trial_options(args, HORIZON_OPTIONS)
    err = Console(stderr=True)
    try:
        result = horizon(args.cells, args.task, seeds=args.seeds, start=args.start, max_length=args.max_length,
                         resolution=args.resolution, out=args.out or "results", plugins=args.plugins,
                         resume=args.resume, registry=_registry(args), progress=not args.quiet and not args.dry_run,
                         dry_run=args.dry_run, execution=execution_from(args),
                         announce=lambda line: err.print(f"seqbench horizon: {line}", highlight=False), **options)
    except KeyboardInterrupt as interrupt:
        run_dir = str(interrupt) or "the run directory"
        err.print(f"[yellow]interrupted[/]: finished trials are saved in {run_dir}; "
                  f"continue with: seqbench horizon --resume {run_dir}", highlight=False,
                  soft_wrap=True)  # one line: the command stays copyable
        return 130
    if args.dry_run:
        return 0
    run_dir = result.attrs["run_dir"]
    print_tables(load_run_info(run_dir).tables(), _stdout(), wide=args.wide)
    err.print(f"results: {run_dir}/results.csv · figure: seqbench plot {run_dir}", highlight=False)
    return 0


def plan_table(planned: Any) -> Any:
    """The table of ``seqbench run --dry-run``: per task × length × cell, its configurations,
    trials and estimated time."""
    from seqbench.reporting.table import TableData
    from seqbench.runs.estimate import describe, duration

    table = TableData("seqbench run --dry-run: the plan", describe(planned) + "; every configuration validated",
                      ["task", "T", "cell", "configurations", "trials", "hidden", "est. time"])
    if planned.empty:
        return table
    for (task, length, cell), group in planned.groupby(["task", "length", "cell"], sort=False):
        widths = sorted(set(group["hidden"]))
        shown = str(widths[0]) if len(widths) == 1 else f"{widths[0]}–{widths[-1]}"
        table.add([task, str(length), cell, str(group["config_label"].nunique()), str(len(group)), shown,
                   duration(float(group["est_s"].sum()))])
    return table


def cmd_generate(args: Any) -> int:
    import time

    from seqbench.studies.sampling import sample

    chars = sample(args.checkpoint, args.prompt, args.length, args.temperature, args.top_k, args.seed,
                   args.device, _registry(args))
    first = next(chars, "")  # loads the model and checks every option before anything is printed
    started = time.perf_counter()
    sys.stdout.write(args.prompt + first)
    count = len(first)
    for char in chars:  # streamed as sampled
        sys.stdout.write(char)
        sys.stdout.flush()
        count += 1
    seconds = time.perf_counter() - started
    sys.stdout.write("\n")
    print(f"{count:,} characters in {seconds:.2f} s: {count / max(seconds, 1e-9):,.0f} chars/s", file=sys.stderr)
    return 0


def cmd_eval(args: Any) -> int:
    from seqbench.reporting.lm_tables import render
    from seqbench.studies.lm_eval import evaluate_checkpoint

    _offline(args)
    frame = evaluate_checkpoint(args.checkpoint, args.corpus, args.split, args.examples, device=args.device,
                                registry=_registry(args))
    render(frame, _stdout(), wide=args.wide)
    return 0


def cmd_report(args: Any) -> int:
    from pathlib import Path

    from seqbench.reporting.run_report import load_report
    from seqbench.reporting.table import print_tables
    from seqbench.errors import UsageError

    registry = _registry(args)
    run = load_report(args.run_dir, args.view)
    if run.results.empty:
        raise UsageError(f"{args.run_dir} has no finished trials yet")
    fmt = args.format
    if fmt is None and args.output:
        suffix = Path(args.output).suffix
        fmt = next((e.name for e in registry.report_formats.values() if e.extra["suffix"] == suffix), None)
    entry = registry.get("report_format", fmt or "table")
    if entry.name == "table" and not args.output:
        print_tables(run.tables(), _stdout(), wide=args.wide)  # in colour on a terminal
        return 0
    try:
        text = entry.obj(run.results, run)
    except Exception as exc:  # noqa: BLE001 - a plugin's format must not end in a traceback
        raise UsageError(f"report format '{entry.name}' (plugin '{entry.provider}') failed: "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(text, str):
        raise UsageError(f"report format '{entry.name}' (plugin '{entry.provider}') returned "
                         f"{type(text).__name__}, not a string")
    _write(text, args.output)
    return 0


def cmd_plot(args: Any) -> int:
    from pathlib import Path

    from seqbench.reporting.plots import figures, left_out_line, require_matplotlib, save

    require_matplotlib()  # before reading anything: one line naming the extra to install
    drawn = figures(args.run_dir, args.kind)
    paths = save(drawn, args.output or Path(args.run_dir) / "plots", args.format)
    for path in paths:
        print(path)
    if not paths:
        print(f"seqbench: no figure applies to {args.run_dir}"
              + (f" ({left_out_line(drawn.notes)})" if drawn.notes else ""), file=sys.stderr)
    elif drawn.notes:
        print(f"seqbench: {left_out_line(drawn.notes)}", file=sys.stderr)
    return 0


def cmd_compare(args: Any) -> int:
    from seqbench.reporting.compare_tables import export, regressions, tables
    from seqbench.studies.comparison import check_pct, compare
    from seqbench.reporting.table import print_tables

    pct = check_pct(args.fail_on_regression)
    frame = compare(args.runs)
    if args.format == "table" and not args.output:
        print_tables(tables(frame), _stdout(), wide=args.wide)
    else:
        text = export(frame, "markdown" if args.format == "table" else args.format)
        _write(text, args.output, "comparison")
    if pct is None:
        return 0
    found = regressions(frame, pct)
    for line in found:
        print(f"seqbench: regression: {line}", file=sys.stderr)
    return 1 if found else 0


def _write(text: str, output: Optional[str], what: str = "report") -> None:
    """``text`` to ``output`` (stdout when None), then one stderr line saying where it went;
    UsageError when it cannot be written."""
    from pathlib import Path

    from seqbench.errors import UsageError

    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    print(f"{what}: wrote {output}", file=sys.stderr)


def cmd_check(args: Any) -> int:
    from rich.table import Table

    from seqbench.spec.config import parse_names
    from seqbench.words import plural

    registry = _registry(args)
    names = None if args.cells is None else registry.select_cells(parse_names(args.cells, "cells"))
    for name in names or ():
        registry.get("cell", name)  # a typo is reported before torch is imported
    from seqbench.studies.conformance import check_cells

    results = check_cells(names, registry)
    table = Table(title="seqbench check", caption="float64, CPU, eval mode; exit 1 if any check fails",
                  caption_justify="left")
    for header in ("cell", "check", "result", "detail"):
        table.add_column(header, overflow="fold")
    for r in results:
        table.add_row(r.cell, r.check, "[green]pass[/]" if r.passed else "[bold red]FAIL[/]", r.detail)
    _stdout().print(table)
    failed = sum(not r.passed for r in results)
    cells = len({r.cell for r in results})
    for cell in dict.fromkeys(r.cell for r in results if not r.passed):  # one line per failing cell
        checks = ", ".join(r.check for r in results if r.cell == cell and not r.passed)
        print(f"seqbench: cell '{cell}' (plugin '{registry.cells[cell].provider}') failed: {checks}", file=sys.stderr)
    print(f"{plural(cells, 'cell')}, {len(results) - failed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def cmd_speed(args: Any) -> int:
    from rich.console import Console

    from seqbench.studies.speed import speed
    from seqbench.spec.config import parse_options
    from seqbench.store import SPEED_CSV
    from seqbench.reporting.speed_tables import render

    options = {name: getattr(args, name) for name in ("batch", "hidden", "params", "layers", "device", "dtype",
                                                      "repeats") if getattr(args, name) is not None}
    if args.cell_opts:
        options["cell_params"] = parse_options("--cell-opt", args.cell_opts)
    err = Console(stderr=True)
    try:
        frame = speed(args.cells, args.lengths, out=args.out or "results", plugins=args.plugins,
                      registry=_registry(args), progress=not args.quiet, **options)
    except KeyboardInterrupt as interrupt:
        err.print(f"[yellow]interrupted[/]: finished rows are saved in {interrupt or 'the run directory'}/{SPEED_CSV}",
                  highlight=False)
        return 130
    for note in frame.attrs.get("notes", []):
        err.print(f"note: {note}", highlight=False)
    render(frame, _stdout(), frame.attrs["scaling"], wide=args.wide)
    err.print(f"results: {frame.attrs['run_dir']}/{SPEED_CSV}", highlight=False)
    failed = frame[frame["status"] != "ok"]
    for _, row in failed.iterrows():
        err.print(f"[red]{row['cell']} T={row['length']}[/]: {row['status']}", highlight=False)
    return 1 if failed["status"].str.startswith("error").any() else 0


def cmd_list(args: Any) -> int:
    from rich.table import Table

    registry = _registry(args)
    groups = ", ".join(registry.cell_groups())
    table = Table(title="seqbench: cells, tasks, metrics and report formats", caption_justify="left",
                  caption=f"default: the cells a run compares when --cells is not given; --cells also takes a group: {groups}")
    for header in ("kind", "name", "default", "group", "provided by", "description"):
        table.add_column(header)
    for kind in ("cell", "task", "metric", "report_format"):
        for entry in registry.entries[kind].values():
            default = ("yes" if entry.extra.get("default") else "no") if kind == "cell" else ""
            table.add_row(kind.replace("report_", ""), entry.name, default, entry.extra.get("group", "") if kind == "cell" else "",
                          entry.provider, entry.description)
    _stdout().print(table)
    return 0


def cmd_plugins(args: Any) -> int:
    from rich.table import Table

    if args.plugins_command == "new":
        from seqbench.plugins.scaffold import scaffold

        path = scaffold(args.name, args.dir, taken=_registry(args).cells)
        print(f"created {path}: next, pip install -e {path} && seqbench run --cells {args.name}", file=sys.stderr)
        return 0
    registry = _registry(args)
    table = Table(title="seqbench plugins", caption="source: builtin, entry point, SEQBENCH_PLUGINS or -p",
                  caption_justify="left")
    for header in ("plugin", "version", "source", "location", "contributes"):
        table.add_column(header, overflow="fold")
    for info in registry.plugins.values():
        parts = registry.contributions(info.name)
        what = "; ".join(f"{kind.replace('_', ' ')}s: {', '.join(names)}" for kind, names in parts.items())
        table.add_row(info.name, info.version, info.source, info.location, what or "–")
    _stdout().print(table)
    return 0


def cmd_inspect(args: Any) -> int:
    from seqbench.inspect.command import command

    return command(args, _registry(args), _stdout())


def _offline(args: Any) -> None:
    """--offline: no corpus download for the rest of the process (seqbench.data.download reads it)."""
    if args.offline:
        import os

        os.environ["SEQBENCH_OFFLINE"] = "1"


COMMANDS = {"run": cmd_run, "check": cmd_check, "speed": cmd_speed, "list": cmd_list, "plugins": cmd_plugins,
            "generate": cmd_generate, "eval": cmd_eval, "report": cmd_report, "compare": cmd_compare,
            "plot": cmd_plot, "inspect": cmd_inspect, "horizon": cmd_horizon}

if __name__ == "__main__":
    sys.exit(main())
