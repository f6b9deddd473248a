"""``seqbench run``: train every cell on every task × length × seed and print the tables."""
from __future__ import annotations

import argparse
from typing import Any

from seqbench.commands import options as opt
from seqbench.hookspecs import hookimpl

RUN_OPTIONS = ("cells", "tasks", "lengths", "seeds", "out", "save", "samples", "sweep_seed", "tune", "patience",
               "eval_lengths", "stop_when_solved", "deterministic") + opt.TRIAL_NAMES


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def add_arguments(run: argparse.ArgumentParser) -> None:
    opt.add_wide(run)
    run.add_argument("--cells", help=f"comma-separated cell names or {opt.CELL_GROUPS_HELP} (default: the default "
                     "set)")
    run.add_argument("--tasks", help="comma-separated task names (default: adding)")
    run.add_argument("--lengths", help="comma-separated sequence lengths T (default: 50)")
    run.add_argument("--seeds", help="seeds per configuration: a count N (seeds 0..N-1) or a range FIRST-LAST such "
                     "as 3-5 (fresh seeds for a second run to compare against) (default: 1)")
    opt.add_trial_options(run, grid=True)
    run.add_argument("--samples", help="random search: configurations drawn from the ranges (default: 1)")
    run.add_argument("--sweep-seed", dest="sweep_seed", type=_nonneg_int, help="seed of those draws (default: 0): "
                     "the same seed draws the same configurations")
    run.add_argument("--tune", action="store_true", default=None, help="per cell × task × length, select the "
                     "configuration with the best mean validation metric and report its test numbers")
    run.add_argument("--patience", help="early stopping: evaluations without a better validation metric "
                     "before a trial stops (the model is restored to its best evaluation)")
    run.add_argument("--dry-run", dest="dry_run", action="store_true", help="validate every configuration, "
                     "show the trials and the estimated time, and stop")
    run.add_argument("--corpus", metavar="PATH|NAME", help="corpus of the charlm task: a UTF-8 text file or "
                     "tinyshakespeare, enwik8, text8, ptb-char, wikitext-2 (downloaded on first use) "
                     "instead of the embedded default")
    opt.add_offline(run)
    run.add_argument("--save", action="store_true", default=None, help="keep each trial's trained model in "
                     "RUN_DIR/checkpoints/ (for seqbench generate / eval)")
    run.add_argument("--inspect", action="store_true", help="after training, the gradient flow of each trained "
                     "model (and at init) into RUN_DIR/inspect/ (implies --save; figures need matplotlib)")
    opt.add_out(run)
    run.add_argument("--suite", metavar="NAME|PATH", help="run a named suite (quick, standard, long) or a "
                     "suite TOML file; other options override it")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a run with its saved configuration: trials "
                     "that ended ok or diverged are kept (results), error trials run again; a trial option that "
                     "differs from the saved one is refused, -p, -q and --dry-run may be given")
    opt.add_quiet(run)
    run.add_argument("--eval-lengths", dest="eval_lengths", metavar="LENGTHS", help="also evaluate each trained "
                     "model, without further training, on the test set at these lengths: multiples of its T (2x,4x) "
                     "or lengths (1000); rows in RUN_DIR/generalization.csv (implies --save)")
    run.add_argument("--deterministic", action="store_true", default=None, help="torch's deterministic "
                     "algorithms in every trial: same seed, same numbers on a GPU too, at some speed there (an "
                     "operation without a deterministic kernel gives its trial an error row); CPU runs are "
                     "deterministic already")
    run.add_argument("--stop-when-solved", dest="stop_when_solved", action="store_true", default=None,
                     help="stop a trial at the first evaluation that meets the task's solved criterion (default: "
                     "train the whole budget)")
    opt.add_execution(run)


def command(args: Any, registry: Any) -> int:
    from seqbench.commands.output import interrupted, stderr, stdout
    from seqbench.errors import UsageError
    from seqbench.reporting.table import print_tables
    from seqbench.runs.runner import plan_run, run

    options = opt.trial_options(args, RUN_OPTIONS)
    opt.apply_offline(args)
    if args.corpus:
        from pathlib import Path

        from seqbench.data.corpus import is_corpus_name

        named = is_corpus_name(args.corpus)  # a name (or a typo of one) stays a name
        corpus = args.corpus if named else str(Path(args.corpus).expanduser().resolve())
        options.setdefault("task_params", {}).setdefault("charlm", {})["corpus"] = corpus  # absolute: --resume
    if args.resume:
        registry = _resume_options(args, options, registry)
    if args.inspect:
        options["save"] = True  # gradient flow is measured on the saved models
        from seqbench.inspect import plots_available

        if not plots_available():
            raise UsageError("--inspect draws figures with matplotlib: pip install 'seqbench[plots]'")
    execution = opt.execution_from(args)
    err = stderr()
    if args.dry_run:
        from seqbench.reporting.plan_tables import plan_table

        options.pop("out", None)  # a plan writes nothing
        planned = plan_run(registry=registry, plugins=args.plugins, resume=args.resume, suite=args.suite,
                           execution=execution, **options)  # timed with the threads each trial will have
        print_tables([plan_table(planned)], stdout())
        return 0

    def announce(planned: Any) -> None:
        from seqbench.runs.estimate import describe

        err.print(f"seqbench run: {describe(planned)}", highlight=False)

    try:
        frame = run(registry=registry, plugins=args.plugins, resume=args.resume, suite=args.suite,
                    progress=not args.quiet, announce=announce, execution=execution, **options)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt, "run")
    _print_results(args, frame, registry)
    errors = frame[frame["status"].astype(str).str.startswith("error")]
    for _, row in errors.iterrows():
        err.print(f"[red]{row['trial']}[/]: {row['status']}", highlight=False, soft_wrap=True)  # one line each
    return 1 if len(errors) else 0


def _print_results(args: Any, frame: Any, registry: Any) -> None:
    """The run's tables, its text samples, its gradient-flow files, where the results are."""
    from seqbench.commands.output import stderr, stdout
    from seqbench.reporting.run_report import run_extra_tables
    from seqbench.reporting.run_tables import render
    from seqbench.reporting.table import print_tables
    from seqbench.store import RunDir

    run_dir = frame.attrs["run_dir"]
    saved = RunDir.open(run_dir).read_config()
    tuned = any(c.get("tune") for c in saved.get("configs", []))
    if saved.get("protocol") == "mad":  # hundreds of configurations: the MAD score says what they add up to
        from seqbench.reporting.run_report import load_report

        print_tables(load_report(run_dir).tables(), stdout(), wide=args.wide)
    else:
        render(frame, stdout(), saved.get("metrics"), saved.get("tasks"), tuned=tuned, wide=args.wide)
        print_tables(run_extra_tables(run_dir, frame), stdout(), wide=args.wide)
    sample = max((c.get("sample", 0) for c in saved.get("configs", [])), default=0)
    if sample:
        from seqbench.studies.sampling import run_samples

        for trial, text in run_samples(run_dir, frame, sample, registry=registry):
            cell, task, length, seed = trial.split("|")[:4]
            stdout().rule(f"{cell} · {task} T={length} · seed {seed}: a {sample}-character sample", align="left")
            stdout().print(text, markup=False, highlight=False)
    if args.inspect:
        from seqbench.inspect import inspect_run
        from seqbench.words import plural

        written = inspect_run(run_dir, registry=registry)
        stderr().print(f"inspect: {plural(len(written), 'file')} in {run_dir}/inspect/", highlight=False)
    stderr().print(f"results: {run_dir}/results.csv", highlight=False)


def _resume_options(args: Any, options: dict, registry: Any) -> Any:
    """--resume: ``--out`` only as RUN_DIR's parent (dropped), and the saved run's plugins when
    no -p is given (the registry then loads them); the trial options are compared with the
    saved ones by ``runs.runner.run``. The registry to run with."""
    from pathlib import Path

    from seqbench.errors import UsageError
    from seqbench.store import RunDir

    out = options.pop("out", None)
    if out is not None and Path(out).resolve() != Path(args.resume).resolve().parent:
        raise UsageError(f"--resume writes into {args.resume}; drop --out {out}")
    if args.plugins:
        return registry
    try:
        saved = RunDir(args.resume).read_config()
    except UsageError:
        return registry  # runs.runner.run reports an unreadable run directory
    args.plugins = list(dict.fromkeys(p for c in saved.get("configs", []) for p in c.get("plugins", [])
                                      if isinstance(p, str)))
    if not args.plugins:
        return registry
    from seqbench.plugins.registry import Registry

    return Registry(args.plugins)


@hookimpl
def seqbench_register_commands(register: Any) -> None:
    register("run", add_arguments, command, help="train and compare cells on tasks",
             description="Train every cell on every task × length × seed and print comparison tables. Without "
             "options: the default cells (rnn, lstm, gru, transformer; seqbench list shows them) on adding, T=50, "
             "1,500 steps, every model 20k parameters.")
