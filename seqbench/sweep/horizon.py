"""The memory horizon: per cell, the longest length it solves within a training budget.

Per cell, lengths are doubled from ``start`` until two in a row fail (or ``max_length`` is
solved): a length solved above a failed one (a non-monotone outcome) is kept, shown and the
doubling goes on from it. When ``start`` itself fails lengths are halved instead until one is
solved (down to ``min_length``, the shortest length the task accepts, at least 2). Then the
interval between the last solved length and the failed one above it is bisected, on a log scale,
until the failed length is within ``resolution`` of the solved one (``hi ≤ lo·(1 + r)``;
resolution 0: adjacent integers). ``horizon`` is the longest solved length found.

Every trial also feeds the bracket: a logistic fit of solved against ln T over all of a cell's
trials gives T at 50 % (``t50``) and its 95 % bootstrap interval (seeded, so deterministic).
Measured against a simulated oracle (per-seed success logistic in ln T, slope 5, true T50 = 100;
3 seeds; ``tests/test_horizon.py``), the 10/50/90 % quantiles over repeated searches are about
±20 % around the truth: that, not ``resolution``, is the search's accuracy with 3 seeds.

A length counts as solved when a majority of the seeds solve it (the row's ``val_solved``: the
task's criterion on the validation set; the tables report the test set). Seeds run in order and stop as soon as the outcome is
decided (2 of 3 solved, or 2 of 3 failed); the seeds that decide are always the first ones, so
the same seeds and configuration give the same search whatever the executor and its order.
Each round runs every cell's next undecided trials in one ``runner.run_specs`` call (so a
parallel executor has work to share), and every probed trial is an ordinary row of
``results.csv``: ``report``, ``plot`` and the executors work as for ``seqbench run``, and
``resume`` replays the search, reusing every finished row instead of training it again.
Trials stop at the first evaluation that meets the criterion (``stop_when_solved``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from seqbench.spec.config import (DEFAULT_PARAMS, RunConfig, TrialSpec, parse_names, positive_float, positive_int, resolve_device)
from seqbench.errors import UsageError
from seqbench.execute import Execution
from seqbench.plugins.registry import Registry
from seqbench.store import CONFIG_JSON, FINISHED, RunDir

DEFAULT_SEEDS = 3
DEFAULT_START = 25
DEFAULT_MAX_LENGTH = 4096
DEFAULT_RESOLUTION = 0.1
MIN_LENGTH = 2  # halving stops here (or at the shortest length the task accepts)


@dataclass
class HorizonRequest:
    """What a horizon search was asked (recorded in config.json as ``horizon``)."""

    cells: list
    task: str
    seeds: int = DEFAULT_SEEDS
    start: int = DEFAULT_START
    max_length: int = DEFAULT_MAX_LENGTH
    resolution: float = DEFAULT_RESOLUTION
    min_length: int = MIN_LENGTH  # the shortest length halving may probe (set from the task when a search starts)

    def __post_init__(self) -> None:
        self.cells = parse_names(self.cells) or []
        self.seeds = positive_int("seeds", self.seeds)
        self.start = positive_int("from", self.start)
        self.max_length = positive_int("max-length", self.max_length)
        self.resolution = positive_float("resolution", self.resolution, allow_zero=True)
        self.min_length = positive_int("min_length", self.min_length)
        if self.max_length < self.start:
            raise UsageError(f"max-length {self.max_length} is below the first length {self.start} (--from)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def saved(cls, data: Any, where: Union[str, Path] = CONFIG_JSON) -> "HorizonRequest":
        """The request recorded in a run's config.json (``horizon``; ``where``: that file, for the
        message); a damaged one is one line."""
        try:
            return cls(**data)
        except (UsageError, TypeError, ValueError) as exc:
            raise UsageError(f"{where} is damaged: horizon: {' '.join(str(exc).split())}") from None


# --------------------------------------------------------------------------- the search, as pure functions


def majority(seeds: int) -> int:
    """Solved seeds needed for a majority of ``seeds`` (2 of 3, 3 of 4)."""
    return seeds // 2 + 1


def decide(solved: list[bool], seeds: int) -> Optional[bool]:
    """The outcome of a length from its first seeds' results (in seed order): True once a
    majority solved it, False once a majority can no longer be reached, else None."""
    need = majority(seeds)
    if sum(solved) >= need:
        return True
    if len(solved) - sum(solved) > seeds - need:
        return False
    return None


def seeds_to_add(solved: list[bool], seeds: int) -> int:
    """How many more seeds are needed at least before the outcome can be decided."""
    need = majority(seeds)
    return min(need - sum(solved), seeds - need + 1 - (len(solved) - sum(solved)))


@dataclass
class SearchState:
    """Where one cell's search stands: the next length to probe (None when done), the longest
    solved length ``lo`` and the shortest failed one ``hi`` (None where there is none yet)."""

    next: Optional[int]
    lo: Optional[int]
    hi: Optional[int]
    probes: list  # lengths in the order they were probed (decided ones)

    @property
    def horizon(self) -> Optional[int]:
        return self.lo


def search(start: int, max_length: int, resolution: float, outcomes: Mapping[int, bool],
           min_length: int = MIN_LENGTH) -> SearchState:
    """Replay the search over the decided ``outcomes`` (length → solved) and return its state."""
    probes: list[int] = []
    lo: Optional[int] = None
    hi: Optional[int] = None
    length = start
    while True:  # doubling, until two lengths in a row fail (or start fails)
        if length not in outcomes:
            return SearchState(length, lo, hi, probes)
        probes.append(length)
        if outcomes[length]:
            lo, hi = length, None  # solved even above a failed length: non-monotone, searched on from here
        elif lo is None or hi is not None:
            hi = hi or length
            break
        else:
            hi = length  # the first failure: the next length too, to see whether failing persists
        if length >= max_length:
            if hi is None:
                return SearchState(None, lo, None, probes)
            break
        length = min(2 * length, max_length)
    length = max(hi // 2, min_length)
    while lo is None:  # even start failed: halving, the last step to min_length itself
        if length >= hi:  # nothing shorter to try
            return SearchState(None, None, hi, probes)
        if length not in outcomes:
            return SearchState(length, None, hi, probes)
        probes.append(length)
        if outcomes[length]:
            lo = length
        else:
            hi, length = length, max(length // 2, min_length)
    while hi - lo > 1 and hi > lo * (1 + resolution):  # bisection on a log scale
        mid = min(max(round(math.sqrt(lo * hi)), lo + 1), hi - 1)
        if mid not in outcomes:
            return SearchState(mid, lo, hi, probes)
        probes.append(mid)
        if outcomes[mid]:
            lo = mid
        else:
            hi = mid
    return SearchState(None, lo, hi, probes)


def ladder(request: "HorizonRequest") -> list[int]:
    """The lengths the doubling phase can probe: start, 2·start, … up to max_length."""
    out = [request.start]
    while out[-1] < request.max_length:
        out.append(min(2 * out[-1], request.max_length))
    return out


def halving(request: "HorizonRequest") -> list[int]:
    """The lengths the halving phase can probe: start/2, start/4, … down to min_length."""
    out = [request.start]
    while max(out[-1] // 2, request.min_length) < out[-1]:
        out.append(max(out[-1] // 2, request.min_length))
    return out[1:]


def max_probes(start: int, max_length: int, resolution: float, min_length: int = MIN_LENGTH) -> int:
    """The most lengths one cell's search can probe (doubling or halving, then bisecting a factor of 2)."""
    doubling = 1 + max(0, math.ceil(math.log2(max_length / start)),
                       math.ceil(math.log2(start / min_length)) if start > min_length else 0)
    lo, hi, bisect = 1000, 2000, 0
    while hi - lo > 1 and hi > lo * (1 + resolution):
        mid = round(math.sqrt(lo * hi))
        hi, bisect = mid, bisect + 1  # the longer half, each time
    return doubling + bisect


# --------------------------------------------------------------------------- reading results


def decided_on(frame: Any) -> Any:
    """Each row's solved flag the search decides on: the criterion on the validation set
    (``val_solved``); a run made before that column decided on ``solved`` (the test set)."""
    flags = frame["solved"].astype(str)
    if "val_solved" in frame:
        flags = frame["val_solved"].astype(object).where(frame["val_solved"].notna(), frame["solved"]).astype(str)
    return flags.isin(["True", "true", "1", "1.0"])


def seed_results(frame: Any, cell: str, length: int) -> dict[int, bool]:
    """Seed → solved (on validation) for the finished trials of ``cell`` at ``length`` (a trial
    that ended in an error counts as unsolved)."""
    if frame is None or frame.empty:
        return {}
    rows = frame[(frame["cell"] == cell) & (frame["length"].astype(int) == int(length))]
    return dict(zip(rows["seed"].astype(int), decided_on(rows)))


def trials_of(frame: Any, cell: str) -> list[tuple[int, bool]]:
    """Every finished trial of ``cell`` as (length, solved on validation), sorted (the fit's input)."""
    if frame is None or frame.empty:
        return []
    rows = frame[frame["cell"] == cell]
    return sorted(zip(rows["length"].astype(int), rows["seed"].astype(int), decided_on(rows)))


# --------------------------------------------------------------------------- the bracket: a logistic fit


BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 0
RIDGE = 1e-2  # a weak penalty on the slope: a finite fit when solved and failed lengths do not overlap


def logistic_fit(lengths: Any, solved: Any, weights: Any = None, ridge: float = RIDGE) -> tuple[Any, Any]:
    """Fit P(solved) = 1 / (1 + exp(−(a + b·(ln T − m)))) by penalised maximum likelihood
    (Newton's method; ``weights``: one row of case weights per fit, all fitted at once).
    Returns T at 50 % (exp(m − a/b)) per fit: +inf where every weighted trial was solved, 0 where
    none was, NaN where the fit does not fall with T (b ≥ 0); and the slopes b."""
    import numpy as np

    x = np.log(np.asarray(lengths, dtype=float))
    y = np.asarray(solved, dtype=float)
    w = np.ones((1, len(x))) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    m = float(x.mean()) if len(x) else 0.0
    xc = x - m
    a, b = np.zeros(len(w)), np.zeros(len(w))
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(a[:, None] + b[:, None] * xc, -30, 30)))
        r, v = w * (y - p), w * p * (1 - p)
        ga, gb = r.sum(1), (r * xc).sum(1) - ridge * b
        haa, hab, hbb = v.sum(1) + 1e-12, (v * xc).sum(1), (v * xc * xc).sum(1) + ridge
        det = haa * hbb - hab * hab
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a + da, b + db
        if max(np.abs(da).max(), np.abs(db).max()) < 1e-9:
            break
    n_solved, n = (w * y).sum(1), w.sum(1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        t50 = np.where(b < 0, np.exp(m - a / np.where(b == 0, -1, b)), np.nan)
    t50 = np.where(n_solved >= n, np.inf, np.where(n_solved <= 0, 0.0, t50))
    return t50, b


@dataclass
class Bracket:
    """The horizon as T at 50 % solved, from a logistic fit of solved (on validation) against
    ln T over every trial, and its 95 % bootstrap interval (trials resampled, seeded:
    the same trials give the same interval). ``t50`` None where the fit has no 50 % point
    (every trial solved, or none, or success not falling with T)."""

    t50: Optional[float]
    low: Optional[float]
    high: Optional[float]
    trials: int


def bracket(trials: list, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> Bracket:
    """The ``Bracket`` of ``trials`` ((length, seed, solved) or (length, solved) tuples)."""
    import numpy as np

    if not trials:
        return Bracket(None, None, None, 0)
    lengths = [t[0] for t in trials]
    solved = [bool(t[-1]) for t in trials]
    (t50,), _ = logistic_fit(lengths, solved)
    point = float(t50) if np.isfinite(t50) and t50 > 0 else None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(trials), size=(draws, len(trials)))
    weights = np.zeros((draws, len(trials)))
    np.add.at(weights, (np.arange(draws)[:, None], picks), 1.0)
    boot, _ = logistic_fit(lengths, solved, weights)
    boot = boot[~np.isnan(boot)]
    if point is None or not len(boot):
        return Bracket(point, None, None, len(trials))
    low = float(np.quantile(boot, 0.025, method="lower"))
    high = float(np.quantile(boot, 0.975, method="higher"))
    return Bracket(point, low, high if np.isfinite(high) else None, len(trials))


def inversions(probes: list) -> list[tuple[int, int]]:
    """Non-monotone outcomes among decided probes: (failed T, solved T) with the solved one longer."""
    failed = sorted(length for length, outcome, *_ in probes if outcome is False)
    solved = sorted(length for length, outcome, *_ in probes if outcome is True)
    return [(f, s) for f in failed for s in solved if s > f]


def in_order(by_seed: Mapping[int, bool]) -> list[bool]:
    """Results of seeds 0, 1, … as long as they are consecutive."""
    out = []
    while len(out) in by_seed:
        out.append(by_seed[len(out)])
    return out


def cell_search(frame: Any, request: HorizonRequest, cell: str) -> tuple[SearchState, dict[int, list[bool]]]:
    """One cell's search state from a run's rows, and each probed length's seed results (in order)."""
    outcomes: dict[int, bool] = {}
    seen: dict[int, list[bool]] = {}
    while True:
        state = search(request.start, request.max_length, request.resolution, outcomes, request.min_length)
        if state.next is None:
            return state, seen
        solved = in_order(seed_results(frame, cell, state.next))
        verdict = decide(solved, request.seeds)
        if verdict is None:
            if solved:
                seen[state.next] = solved
            return state, seen
        outcomes[state.next] = verdict
        seen[state.next] = solved


def summary(frame: Any, request: HorizonRequest) -> Any:
    """One row per cell: ``horizon`` (longest length solved by a majority of seeds; None when
    even ``start`` failed), ``bound`` (``≥`` when ``max_length`` was solved, ``<`` when nothing
    was, else ``=``), ``failed_at`` (the failed length above it), ``t50``, ``t50_low``,
    ``t50_high`` (``bracket``: the logistic fit over every trial and its 95 % bootstrap interval),
    ``inversions`` (failed, solved) pairs of a non-monotone outcome, ``done``, and ``probes``: a
    list of (length, outcome, solved seeds, seeds run) in the order probed."""
    import pandas as pd

    rows = []
    for cell in request.cells:
        state, seen = cell_search(frame, request, cell)
        probes = []
        for length in state.probes + ([state.next] if state.next in seen else []):
            solved = seen.get(length, [])
            probes.append((length, decide(solved, request.seeds), sum(solved), len(solved)))
        bound = "<" if state.lo is None and state.hi is not None else ("≥" if state.hi is None and state.next is None
                                                                     and state.lo is not None else "=")
        cells = frame[frame["cell"] == cell] if frame is not None and not frame.empty else frame
        fit = bracket(trials_of(frame, cell))
        rows.append({"cell": cell, "horizon": state.lo, "bound": bound, "failed_at": state.hi,
                     "t50": fit.t50, "t50_low": fit.low, "t50_high": fit.high, "inversions": inversions(probes),
                     "done": state.next is None, "next": state.next, "probes": probes,
                     "trials": 0 if cells is None else len(cells),
                     "params": None if cells is None or cells.empty else cells["params"].dropna().median(),
                     "train_s": None if cells is None or cells.empty else
                     pd.to_numeric(cells["train_s"], errors="coerce").sum()})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- running it


def horizon(cells: Union[str, Iterable[str], None] = None, task: Optional[str] = None, *,
            seeds: Optional[int] = None, start: Optional[int] = None, max_length: Optional[int] = None,
            resolution: Optional[float] = None, out: Union[str, Path] = "results", plugins: Iterable[str] = (),
            resume: Union[str, Path, None] = None, registry: Optional[Registry] = None, progress: bool = False,
            run_id: Optional[str] = None, announce: Optional[Callable[[str], None]] = None, dry_run: bool = False,
            execution: Optional[Execution] = None, **options: Any) -> Any:
    """Search each cell's memory horizon on ``task`` (default adding) and return ``summary`` (one
    row per cell; ``attrs["run_dir"]``). ``seeds`` (3), ``start`` (25), ``max_length`` (4096) and
    ``resolution`` (0.1) shape the search; ``options`` are ``seqbench run``'s (``budget``, ``steps``,
    ``params`` (default 20k) or ``hidden``, ``lr``, ``batch``, ``task_params``, …; one configuration
    per cell, no grids); trials stop when solved unless ``stop_when_solved=False``. With
    ``resume=RUN_DIR`` the saved request continues, finished rows reused. ``dry_run``: validate,
    ``announce`` the size, return an empty summary. Raises ``KeyboardInterrupt`` (rows saved) on Ctrl-C."""
    from seqbench.runs.runner import flush_subnormals, plan, write_environment

    execution = (execution or Execution()).check()
    registry = registry or Registry(plugins)
    options = {k: v for k, v in options.items() if v is not None}
    given = {k: v for k, v in (("cells", cells), ("task", task), ("seeds", seeds), ("from", start),
                                ("max_length", max_length), ("resolution", resolution)) if v is not None}
    if resume is not None:
        request, config, saved, rundir = _resumed(resume, [*given, *sorted(options)])
    else:
        request = HorizonRequest(registry.select_cells(parse_names(cells, "cells")), task or "adding",
                                 DEFAULT_SEEDS if seeds is None else seeds, DEFAULT_START if start is None else start,
                                 DEFAULT_MAX_LENGTH if max_length is None else max_length,
                                 DEFAULT_RESOLUTION if resolution is None else resolution)
        config = _config(request, options, plugins)
        saved = None
    for name in request.cells:
        registry.get("cell", name)
    registry.get("task", request.task)
    _check_task(request, config, registry)
    resolved = resolve_device(config.device)
    flushed = flush_subnormals([config]) if resolved == "cpu" else None
    _, task_info = plan([_at(config, ladder(request), 1)], registry)  # every doubling length validated
    if saved is None:
        request.min_length = _shortest_valid(request, config, registry, plan)
    task_info = {k: v for k, v in task_info.items() if k == f"{request.task}|{request.start}"}
    if announce is not None:
        announce(describe(request, config))
    if dry_run:
        return summary(None, request)
    if saved is None:
        rundir = RunDir.create(out, run_id)
    rundir.acquire()  # one writer per run folder: a second --resume of it is refused
    try:
        if saved is None:
            metrics = {name: entry.extra["higher_is_better"] for name, entry in registry.metrics.items()}
            saved = {"description": f"memory horizon on {request.task}", "suite": "", "horizon": request.to_dict(),
                     "configs": [config.to_dict()], "tasks": task_info, "metrics": metrics}
            rundir.write_json(CONFIG_JSON, saved)
        rundir.reload()  # under the lock: what a process before us finished
        write_environment(rundir, registry, resolved, flushed, execution)
        if progress:
            from seqbench.train.progress import RichProgress

            registry.pm.register(RichProgress(), name="seqbench.train.progress")
        try:
            interrupted = _rounds(request, config, rundir, registry, saved, resolved, execution, plan)
        finally:
            if progress:
                registry.pm.unregister(name="seqbench.train.progress")
        result = summary(rundir.frame(), request)
    finally:
        rundir.close()
    result.attrs["run_dir"] = str(rundir.path)
    if interrupted:
        raise KeyboardInterrupt(str(rundir.path))
    return result


def _resumed(resume: Union[str, Path], given: list[str]) -> tuple[HorizonRequest, RunConfig, dict, RunDir]:
    """The saved request, configuration and config.json of the horizon run folder ``resume``, opened;
    UsageError if options were ``given`` too or the folder is not a horizon search."""
    from seqbench.runs.resume import saved_configs

    if given:
        raise UsageError(f"--resume reuses the saved horizon request; drop "
                         f"{', '.join('--' + k.replace('_', '-') for k in given)}")
    rundir = RunDir.open(resume)
    saved = rundir.read_config()
    if not saved.get("horizon"):
        raise UsageError(f"{resume} is not a horizon search; continue it with: seqbench run --resume {resume}")
    config = saved_configs(saved, rundir.path)[0]
    request = HorizonRequest.saved(saved["horizon"], rundir.path / CONFIG_JSON)
    rundir.warn_torn_tail()
    return request, config, saved, rundir


def _config(request: HorizonRequest, options: dict, plugins: Iterable[str]) -> RunConfig:
    if "budget" in options:
        options["budget_s"] = options.pop("budget")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(RunConfig.__dataclass_fields__) - {"stop_when_solved"})
    fixed = sorted(set(options) & {"cells", "tasks", "lengths", "seeds", "eval_lengths", "tune", "samples"})
    if unknown or fixed:
        raise UsageError(f"horizon does not take option(s): {', '.join(unknown + fixed)}")
    sizes = [name for name in ("hidden", "params", "state_size") if name in options]
    if len(sizes) > 1:
        raise UsageError(f"give either a hidden size or a parameter budget (params) or a state size (state_size), "
                         f"not {' and '.join(sizes)}")
    if not sizes:
        options["params"] = DEFAULT_PARAMS
    options.setdefault("stop_when_solved", True)
    config = RunConfig(cells=request.cells, tasks=[request.task], lengths=[request.start], seeds=request.seeds,
                       plugins=list(plugins), **options)
    for cell in config.cells:
        if len(config.configurations(cell, request.task)) > 1:
            raise UsageError(f"horizon searches one configuration per cell; {cell} has "
                             f"{len(config.configurations(cell, request.task))} (drop the grid or range)")
    return config


def _shortest_valid(request: HorizonRequest, config: RunConfig, registry: Registry, plan: Callable) -> int:
    """The shortest halving length (start/2, start/4, … ≥ 2) that the task and every cell accept:
    halving stops there."""
    shortest = request.start
    for length in halving(request):
        try:
            plan([_at(config, [length], 1)], registry)
        except UsageError:
            break
        shortest = length
    return max(shortest, MIN_LENGTH)


def _check_task(request: HorizonRequest, config: RunConfig, registry: Registry) -> None:
    """A UsageError unless the task declares a solved criterion."""
    from seqbench.plugins.factories import build_task

    task = build_task(registry.get("task", request.task), request.start, config.task_params.get(request.task, {}))
    if getattr(task, "solved_threshold", None) is None and type(task).solved is _base_solved():
        raise UsageError(f"task '{request.task}' declares no solved criterion (solved_threshold or solved()); "
                         "a horizon needs one")


def _base_solved() -> Any:
    from seqbench.tasks.base import Task

    return Task.solved


def _rounds(request: HorizonRequest, config: RunConfig, rundir: RunDir, registry: Registry, saved: dict,
            device: str, execution: Execution, plan: Callable) -> bool:
    """Run rounds until every cell's search is done; True when interrupted."""
    from seqbench.runs.runner import run_specs, warn_if_busy

    if execution.executor == "ray" and execution.gpus_per_trial > 0 and config.device == "auto":
        device = "cuda"  # the driver may have no GPU; Ray gives each task its share of one
    if execution.executor == "local" and device == "cpu":
        warn_if_busy(execution)
    number = 0
    while True:
        frame = _finished(rundir)
        wanted: list[tuple[str, int, int]] = []
        for cell in request.cells:
            state, seen = cell_search(frame, request, cell)
            if state.next is None:
                continue
            by_seed = seed_results(frame, cell, state.next)
            solved = in_order(by_seed)
            first = len(solved)
            wanted += [(cell, state.next, s) for s in range(first, first + seeds_to_add(solved, request.seeds))
                       if s not in by_seed]
        if not wanted:
            return False
        specs = _specs(config, wanted, registry, saved, rundir, plan, device)
        number += 1
        registry.notify("seqbench_run_start", run_dir=str(rundir.path),
                        config={"configs": [config.to_dict()], "horizon": request.to_dict(), "round": number},
                        trials=specs)
        interrupted = run_specs(specs, rundir, registry, execution, plugins=config.plugins)
        registry.notify("seqbench_run_end", run_dir=str(rundir.path), results=rundir.frame(), interrupted=interrupted)
        if interrupted:
            return True


def _finished(rundir: RunDir) -> Any:
    frame = rundir.frame()
    if frame.empty:
        return frame
    return frame[frame["status"].astype(str).isin(FINISHED) | frame["status"].astype(str).str.startswith("error")]


def _specs(config: RunConfig, wanted: list[tuple[str, int, int]], registry: Registry, saved: dict, rundir: RunDir,
           plan: Callable, device: str) -> list[TrialSpec]:
    """The trial specs of ``wanted`` (cell, length, seed), validated; new lengths' task
    descriptions are added to config.json before they run."""
    lengths = sorted({length for _, length, _ in wanted})
    seeds = max(seed for _, _, seed in wanted) + 1
    trials, task_info = plan([_at(config, lengths, seeds)], registry)
    keys = set(wanted)
    specs = [t for t in trials if (t.cell, t.length, t.seed) in keys]
    if any(k not in saved["tasks"] for k in task_info):
        saved["tasks"].update(task_info)
        rundir.write_json(CONFIG_JSON, saved)
    for spec in specs:
        spec.device = device
    return specs


def _at(config: RunConfig, lengths: list[int], seeds: int) -> RunConfig:
    """``config`` at other lengths and seeds."""
    return RunConfig.from_dict({**config.to_dict(), "lengths": lengths, "seeds": seeds})


def describe(request: HorizonRequest, config: RunConfig) -> str:
    """One line: the search's size and its longest possible duration."""
    from seqbench.runs.estimate import duration

    probes = max_probes(request.start, request.max_length, request.resolution, request.min_length)
    trials = len(request.cells) * probes * request.seeds
    line = (f"horizon search on {request.task}: {len(request.cells)} cells, at most {probes} lengths each "
            f"({request.start} doubled up to {request.max_length}, or halved down to {request.min_length} when "
            f"{request.start} fails, then bisected to {request.resolution:.0%}) × "
            f"{request.seeds} seeds = at most {trials} trials")
    if config.budget_s is not None:
        line += (f"; a wall-clock budget: the horizon depends on this machine and its load (--steps does not); "
                 f"at most {duration(trials * config.budget_s)} of training at {duration(config.budget_s)} per trial"
                 + (", typically far less (a trial stops once solved; a length decided by its first seeds "
                    "skips the rest)" if config.stop_when_solved else ""))
    else:
        line += f" of at most {config.steps:,} steps"
    return line
