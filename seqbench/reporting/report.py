"""Comparison tables from a run's rows.

For each task and length, a detail table: one row per cell with mean ± std over seeds, the
95 % confidence interval and rank of the task's primary metric (ties the intervals do not
separate are marked), best value per column highlighted, the baseline (and the known
optimum, with each cell's gap to it) shown. When a task ran at several lengths, an overview
table first: one row per cell, one column group per length, so the length at which each cell
breaks is visible at a glance.

``summarize`` returns the aggregated DataFrame; ``render`` prints rich tables;
``to_markdown`` / ``to_csv`` / ``to_json`` write the same content as files. The formats of
``seqbench report --format`` (``table``, ``markdown``, ``csv``, ``json``) are registered by this
module through the ``seqbench_register_report_formats`` hook, as a plugin's would be.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from seqbench.hookspecs import hookimpl
from seqbench.stats import interval95, mean_std_ci, ranks_with_ties
from seqbench.reporting.table import NOISY, TableData, best_of, markdown_tables, print_tables

# Columns the harness measures itself, with their direction (True: higher is better).
HARNESS_COLUMNS: dict[str, Optional[bool]] = {
    "hidden": None, "params": None, "gap": False, "solved": True, "steps_to_solve": False,
    "steps": None, "train_tok_s": True, "infer_tok_s": True, "peak_mem_mb": False, "train_mem_mb": False,
}
BUILTIN_METRICS = {"loss": False, "accuracy": True, "perplexity": False, "bits_per_token": False}
LABELS = {
    "hidden": "hidden", "params": "params", "loss": "loss", "accuracy": "accuracy",
    "perplexity": "ppl", "bits_per_token": "bits/tok", "gap": "gap to opt", "solved": "solved",
    "steps_to_solve": "steps to solve", "steps": "steps", "train_tok_s": "train tok/s",
    "infer_tok_s": "infer tok/s", "peak_mem_mb": "CUDA peak MB", "train_mem_mb": "train MB (computed)",
}
KEYS = ("task", "length", "cell")
FORMATS = ("table", "markdown", "csv", "json")
NO_SPREAD = ("hidden", "params", "solved", "steps", "train_mem_mb")


@dataclass
class Column:
    name: str
    higher_is_better: Optional[bool]

    @property
    def header(self) -> str:
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return LABELS.get(self.name, self.name) + arrow


def columns_of(frame: Any, metrics: Optional[Mapping[str, bool]] = None) -> list[Column]:
    """Displayed columns, in order, that have at least one value in ``frame``."""
    directions = {**BUILTIN_METRICS, **(metrics or {})}
    ordered = ["hidden", "params", *directions, "gap", "solved", "steps_to_solve", "steps",
               "train_tok_s", "infer_tok_s", "peak_mem_mb", "train_mem_mb"]
    out = []
    for name in dict.fromkeys(ordered):
        if name == "hidden" and (name not in frame or frame[name].nunique() < 2):
            continue  # only worth a column when a parameter budget gave cells different widths
        if name in frame and frame[name].notna().any():
            out.append(Column(name, HARNESS_COLUMNS.get(name, directions.get(name))))
    return out


def primary_metric(info: Mapping[str, Any]) -> tuple[str, bool]:
    """The metric a task is judged by (its "solved" metric) and its direction."""
    return info.get("metric", "loss"), bool(info.get("metric_higher_is_better", False))


def summarize(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
              task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """Per task × length × cell: ``X`` (mean over seeds that finished ok), ``X_std`` (sample
    std), ``X_ci95`` (half-width of the 95 % t interval of the mean), ``X_lo`` / ``X_hi`` (the 95 %
    interval, inside [0, 1] for accuracy and solved: ``stats.interval95``) for every column, plus
    ``seeds``, ``baseline``, ``optimum``, ``rank`` (by the task's primary metric) and
    ``status`` (``ok`` or the distinct other statuses). ``solved`` counts every seed: a
    diverged seed is an unsolved one."""
    import pandas as pd

    frame = frame.reset_index(drop=True)  # a copy, with the unique index the lookups below need
    for key in ("train_iqr", "infer_iqr"):
        if key not in frame:
            frame[key] = math.nan
    for key in ("config", "config_label"):
        frame[key] = frame[key].astype(object).fillna("").astype(str) if key in frame else ""
    frame = with_memory(_with_gap(frame))
    columns = columns_of(frame, metrics)
    numeric = {c.name: pd.to_numeric(frame[c.name], errors="coerce") for c in columns}  # once, not per group
    if "solved" in frame:
        numeric["solved"] = frame["solved"].astype(str).isin(["True", "true", "1", "1.0"]).astype(float)
    records = []
    for (task, length, cell, _), group in frame.groupby([*KEYS, "config"], sort=False):
        ok = group[group["status"] == "ok"]
        record: dict[str, Any] = {"task": task, "length": int(length), "cell": cell,
                                  "config": group["config"].iloc[0], "config_label": group["config_label"].iloc[0],
                                  "seeds": len(group)}
        if "n_configs" in group:
            record["n_configs"] = int(group["n_configs"].max())
        metric, _ = primary_metric((task_info or {}).get(f"{task}|{length}", {}))
        if f"val_{metric}" in ok:
            record[f"val_{metric}"] = pd.to_numeric(ok[f"val_{metric}"], errors="coerce").mean()
        for column in columns:
            source = group if column.name == "solved" else ok  # a diverged seed is an unsolved one
            values = numeric[column.name].loc[source.index].dropna().tolist()
            mean, std, ci = mean_std_ci(values)
            record[column.name], record[f"{column.name}_std"], record[f"{column.name}_ci95"] = mean, std, ci
            record[f"{column.name}_lo"], record[f"{column.name}_hi"] = interval95(values, column.name)
        for key in ("baseline", "optimum", "train_iqr", "infer_iqr"):
            record[key] = pd.to_numeric(group[key], errors="coerce").max() if key in group else math.nan
        bad = sorted({str(s) for s in group["status"] if str(s) != "ok"})
        record["status"] = "; ".join(f"{sum(group['status'] == s)}× {s}" for s in bad) if bad else "ok"
        records.append(record)
    summary = pd.DataFrame(records)
    if summary.empty:
        return summary
    summary["rank"] = "–"
    for (task, length), group in summary.groupby(["task", "length"], sort=False):
        metric, higher = primary_metric((task_info or {}).get(f"{task}|{length}", {}))
        if metric in group:
            summary.loc[group.index, "rank"] = ranks_with_ties(
                group[metric].tolist(), group[f"{metric}_ci95"].tolist(), higher)
    return summary


def _number(name: str, value: float, digits: int = 4) -> str:
    if name in ("hidden", "params", "steps", "steps_to_solve", "train_tok_s", "infer_tok_s"):
        return f"{value:,.0f}"
    if name in ("peak_mem_mb", "train_mem_mb"):
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if name == "solved":
        return f"{value:.0%}"
    return f"{value:.{digits}g}"


def _fmt(name: str, value: float, std: float = math.nan) -> str:
    """``value`` (and ``± std`` when there is a spread) formatted for column ``name``."""
    if value is None or math.isnan(value):
        return "–"
    text = _number(name, value)
    if std is not None and not math.isnan(std) and name not in NO_SPREAD:
        text += f" ± {_number(name, std, digits=2)}"
    return text


def _spread_note(seeds: int) -> str:
    if seeds > 1:
        return (f"± is the sample std over {seeds} seeds; 95% CI of the mean (Student's t; accuracy: on the "
                "logit scale, solved: Wilson, so both stay in [0, 1]); "
                "≈ marks a rank the intervals do not separate from the one above")
    return "1 seed (no spread)"


def detail_tables(summary: Any, all_columns: list[Column], task_info: Mapping[str, Any]) -> list[TableData]:
    out = []
    for (task, length), group in summary.groupby(["task", "length"], sort=False):
        info = task_info.get(f"{task}|{length}", {})
        metric, _ = primary_metric(info)
        seeds = int(group["seeds"].max())
        columns = [c for c in all_columns if group[c.name].notna().any()]
        multi = seeds > 1 and metric in group
        baseline, optimum = group["baseline"].dropna(), group["optimum"].dropna()
        notes = []
        if not baseline.empty:
            what = f" ({info['baseline_description']})" if info.get("baseline_description") else ""
            notes.append(f"baseline loss {baseline.iloc[0]:.4g}{what}")
        if not optimum.empty:
            notes.append(f"optimum loss {optimum.iloc[0]:.4g} (known exactly)")
        if info.get("solved"):
            notes.append(f"solved: {info['solved']} on the test set")
        notes.append(_spread_note(seeds) + "; ↑/↓ higher/lower is better; best per column in bold")
        if "train_mem_mb" in group and group["train_mem_mb"].notna().any():
            notes.append("train MB (computed): parameters, gradients, Adam state and the activations kept for "
                         "backward, not measured (on CPU a measured peak is allocator noise); results.csv keeps "
                         "the measured peak_mem_mb")
        noisy = [str(c) for c, iqr in zip(group["cell"], group.get("train_iqr", [])) if iqr > NOISY]
        noisy += [str(c) for c, iqr in zip(group["cell"], group.get("infer_iqr", [])) if iqr > NOISY and str(c) not in noisy]
        if noisy:
            notes.append(f"⚠ noisy timings (IQR > {NOISY:.0%} of the median) for {', '.join(noisy)}: "
                         "the timed steps varied (a busy machine, or a cell whose step time varies); speed figures are uncertain")
        show_status = (group["status"] != "ok").any()
        tuned = "n_configs" in group
        show_config = bool((group["config_label"] != "").any())
        if tuned:
            val = f"val_{metric}"
            notes.insert(0, f"tuned: per cell, the configuration with the best mean validation {LABELS.get(metric, metric)} "
                         f"over its seeds (chosen, of n configurations); every other column on the test split")
        elif show_config:
            notes.insert(0, "every configuration of the sweep (seqbench report --tuned for the selected ones); "
                         "numbers on the test split")
        headers = (["rank"] if multi else []) + ["cell"] + (["chosen (of n)" if tuned else "config"] if show_config else []) \
            + [c.header for c in columns] + ([f"val {LABELS.get(metric, metric)}"] if tuned and val in group else []) \
            + ([f"{LABELS.get(metric, metric)} 95% CI"] if multi else []) + (["status"] if show_status else [])
        table = TableData(f"{task} · T={length}", " · ".join(notes), headers)
        bests = {c.name: best_of(group[c.name], c.higher_is_better) for c in columns}
        ordered = group.sort_values("rank", key=lambda s: s.map(_rank_key)) if multi else group
        for _, rec in ordered.iterrows():
            cells = ([str(rec["rank"])] if multi else []) + [str(rec["cell"])]
            if show_config:
                label = rec["config_label"] or "–"
                cells.append(f"{label} (of {int(rec['n_configs'])})" if tuned else label)
            flags = [False] * len(cells)
            for c in columns:
                value = rec[c.name]
                cells.append(_fmt(c.name, value, rec.get(f"{c.name}_std", math.nan)))
                flags.append(bests[c.name] is not None and not math.isnan(value) and value == bests[c.name])
            if tuned and val in group:
                cells.append(_fmt(metric, rec[val]))
                flags.append(False)
            if multi:
                lo, hi = rec[f"{metric}_lo"], rec[f"{metric}_hi"]
                cells.append("–" if math.isnan(lo) else f"[{_number(metric, lo)}, {_number(metric, hi)}]")
                flags.append(False)
            if show_status:
                cells.append(str(rec["status"]))
                flags.append(False)
            table.add(cells, flags)
        lead = ["", ""] if multi else [""]
        lead += [""] if show_config else []
        tail = ([""] if tuned and val in group else []) + ([""] if multi else []) + ([""] if show_status else [])
        for label, values in (("(baseline)", baseline), ("(optimum)", optimum)):
            if not values.empty and any(c.name == "loss" for c in columns):
                ref = [_fmt("loss", values.iloc[0]) if c.name == "loss" else "" for c in columns]
                table.add(lead[:1 if multi else 0] + [label] + lead[2 if multi else 1:] + ref + tail, dim=True)
        out.append(table)
    return out


def _rank_key(label: str) -> float:
    head = str(label).split()[0]
    return float(head) if head.isdigit() else math.inf


def overview_tables(summary: Any, task_info: Mapping[str, Any]) -> list[TableData]:
    """For each task run at several lengths: one row per cell, per length its primary
    metric (mean ± std) and the fraction of seeds that solved it."""
    out = []
    for task, group in summary.groupby("task", sort=False):
        lengths = list(dict.fromkeys(group["length"]))
        if len(lengths) < 2:
            continue
        metric, higher = primary_metric(task_info.get(f"{task}|{lengths[0]}", {}))
        label = LABELS.get(metric, metric) + (" ↑" if higher else " ↓")
        headers = ["cell", "params"] + [h for T in lengths for h in (f"T={T} {label}", f"T={T} solved")]
        seeds = int(group["seeds"].max())
        table = TableData(f"{task} · by length", f"{_spread_note(seeds)}; best per column in bold", headers)
        cells_order = list(dict.fromkeys(zip(group["cell"], group["config_label"])))
        bests = {}
        for T in lengths:
            at = group[group["length"] == T]
            bests[T] = (best_of(at[metric], higher), best_of(at["solved"], True))
        tuned = "n_configs" in group
        for cell, label in cells_order:
            rows = group[(group["cell"] == cell) & (group["config_label"] == label)]
            name = f"{cell} ({label})" if label and not tuned else cell
            cells, flags = [name, _fmt("params", rows["params"].iloc[0])], [False, False]
            for T in lengths:
                rec = rows[rows["length"] == T]
                if rec.empty:
                    cells += ["", ""]
                    flags += [False, False]
                    continue
                rec = rec.iloc[0]
                cells += [_fmt(metric, rec[metric], rec[f"{metric}_std"]), _fmt("solved", rec["solved"])]
                flags += [bests[T][0] is not None and rec[metric] == bests[T][0],
                          bests[T][1] is not None and rec["solved"] == bests[T][1] and rec["solved"] > 0]
            table.add(cells, flags)
        out.append(table)
    return out


def tables(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None, tuned: bool = False) -> list[TableData]:
    """Every table for a run: the by-length overviews, then the detail tables. ``tuned``: only
    each cell's configuration selected on validation (``seqbench.sweep.tune``)."""
    task_info = task_info or {}
    if tuned:
        from seqbench.sweep.tune import tuned as selected

        frame = selected(frame, task_info)
    else:
        frame = frame.drop(columns=["selected", "n_configs"], errors="ignore")
    summary = summarize(frame, metrics, task_info)
    if summary.empty:
        return []
    columns = columns_of(with_memory(_with_gap(frame)), metrics)
    return overview_tables(summary, task_info) + detail_tables(summary, columns, task_info)


def _with_gap(frame: Any) -> Any:
    """``frame`` with a ``gap`` column where some task knows a non-zero optimum."""
    if "optimum" not in frame:
        return frame
    gaps = gap(frame)
    return frame.assign(gap=gaps) if gaps.notna().any() else frame


def with_memory(frame: Any) -> Any:
    """``frame`` with the measured ``peak_mem_mb`` kept only where it was measured on CUDA, and
    ``train_mem_mb`` computed (``seqbench.models.memory.train_mb``) for the other rows: a CPU's
    resident-set growth is allocator noise for small models. results.csv keeps the raw column."""
    needed = ("cell", "params", "batch", "length", "hidden", "layers")
    if "peak_mem_mb" not in frame or any(c not in frame for c in needed):
        return frame
    from seqbench.models.memory import train_mb

    cuda = frame.get("peak_mem_kind", "").astype(str).str.startswith("cuda")
    shapes = frame[list(needed)]
    known = {}  # one computation per distinct shape: a 100,000-row sweep has a few hundred
    for shape in shapes[~cuda & shapes.notna().all(axis=1)].drop_duplicates().itertuples(index=False):
        known[tuple(shape)] = train_mb(*shape)
    computed = [known.get(tuple(shape), math.nan) for shape in shapes.itertuples(index=False)]
    return frame.assign(peak_mem_mb=frame["peak_mem_mb"].where(cuda), train_mem_mb=computed)


def gap(frame: Any) -> Any:
    """Loss minus the task's optimum, where the optimum is known and not zero (a gap to 0 is
    the loss itself)."""
    import pandas as pd

    optimum = pd.to_numeric(frame["optimum"], errors="coerce")
    return (pd.to_numeric(frame["loss"], errors="coerce") - optimum).where(optimum != 0)


def render(frame: Any, console: Any = None, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None, tuned: bool = False, wide: bool = False) -> None:
    """Print the comparison tables with rich, fitted to the console (``wide``: whole)."""
    print_tables(tables(frame, metrics, task_info, tuned), console, wide)


def environment_markdown(env: Mapping[str, Any], description: str = "") -> str:
    """A header naming the machine and versions a report was measured on."""
    git = env.get("git") or {}
    commit = f"{git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}" if git else "unknown"
    lines = [f"{description}\n" if description else "",
             f"- measured: {env.get('time', '?')} on `{env.get('hostname', '?')}`",
             f"- machine: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} CPUs, "
             f"{env.get('torch_threads', '?')} torch threads, device `{env.get('device', '?')}`"
             + (f" ({env['gpu']}, CUDA {env.get('cuda')})" if env.get("gpu") else ""),
             f"- software: seqbench {env.get('seqbench', '?')} (commit {commit}), torch {env.get('torch', '?')}, "
             f"Python {env.get('python', '?')}, {env.get('platform', '?')}", _execution_line(env.get("execution")), ""]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _execution_line(execution: Optional[Mapping[str, Any]]) -> Optional[str]:
    """How the trials were executed, when not one after another in the process itself."""
    if not execution:
        return None
    threads = execution.get("threads_per_trial")
    each = f", {threads} torch thread{'s' if threads != 1 else ''} each" if threads else ""
    if execution.get("executor") == "ray":
        where = execution.get("ray_address") or "a local Ray instance"
        return f"- executed: Ray tasks on {where}, {execution.get('cpus_per_trial')} CPUs per trial{each}"
    if (execution.get("jobs") or 1) > 1:
        return f"- executed: {execution['jobs']} worker processes{each}"
    return None


def to_markdown(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
                task_info: Optional[Mapping[str, Any]] = None) -> str:
    return markdown_tables(tables(frame, metrics, task_info))


def to_csv(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None) -> str:
    return summarize(frame, metrics, task_info).to_csv(index=False)


def to_json(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
            task_info: Optional[Mapping[str, Any]] = None) -> str:
    return records_json(summarize(frame, metrics, task_info))


def records_json(frame: Any) -> str:
    """A DataFrame as an indented JSON list of records."""
    return json.dumps(json.loads(frame.to_json(orient="records")), indent=2) + "\n"


def export(frame: Any, fmt: str, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None) -> str:
    if fmt == "markdown":
        return to_markdown(frame, metrics, task_info)
    if fmt == "csv":
        return to_csv(frame, metrics, task_info)
    if fmt == "json":
        return to_json(frame, metrics, task_info)
    raise ValueError(f"unknown format {fmt!r}")


# --------------------------------------------------------------------------- report formats


@dataclass(frozen=True)
class RunInfo:
    """What a report format's ``render(results, run)`` knows about the run besides its rows."""

    run_dir: str
    config: Mapping[str, Any] = field(default_factory=dict)  # config.json
    environment: Mapping[str, Any] = field(default_factory=dict)  # environment.json
    results: Any = None  # the rows, as passed to render
    scaling: Any = None  # a ``seqbench speed`` run's scaling.csv; None for a ``seqbench run``
    view: str = "auto"  # "tuned": selected configurations only; "all": every one; "auto": as the run asked

    @property
    def tuned(self) -> bool:
        """Whether the tables show each cell's configuration selected on validation only (a run
        with ``tune``, unless the view is ``all``)."""
        if self.view != "auto":
            return self.view == "tuned"
        return any(c.get("tune") for c in self.config.get("configs", []))

    @property
    def is_speed(self) -> bool:
        """Whether this is a ``seqbench speed`` run (speed.csv) rather than a ``seqbench run``."""
        return self.scaling is not None

    @property
    def metrics(self) -> Mapping[str, bool]:
        """Every metric column and whether higher is better."""
        return self.config.get("metrics") or {}

    @property
    def tasks(self) -> Mapping[str, Any]:
        """Each task's description (baseline, solved criterion, ...) by ``"task|length"``."""
        return self.config.get("tasks") or {}

    def summary(self) -> Any:
        """The aggregated DataFrame behind the tables (see ``summarize``); a speed run's rows
        as they are (one per cell × length)."""
        if self.is_speed:
            return self.results
        if self.tuned:
            from seqbench.sweep.tune import tuned

            return summarize(tuned(self.results, self.tasks), self.metrics, self.tasks)
        return summarize(self._untuned(), self.metrics, self.tasks)

    def _untuned(self) -> Any:
        return self.results.drop(columns=["selected", "n_configs"], errors="ignore")

    def tables(self) -> list[TableData]:
        """The overview and detail tables (a speed run's: one per length, then scaling),
        ready to lay out in any format."""
        if self.is_speed:
            from seqbench.reporting.speed_tables import tables as speed_tables

            return speed_tables(self.results, self.scaling)
        if self.config.get("horizon"):
            from seqbench.reporting.horizon_tables import tables as horizon_tables

            return horizon_tables(self.results, self.config)
        main = tables(self.results if self.tuned else self._untuned(), self.metrics, self.tasks, self.tuned)
        return main + extra_tables(self.run_dir, self.results, self.config)


def extra_tables(run_dir: Any, results: Any, config: Mapping[str, Any]) -> list[TableData]:
    """The tables after the comparison: length generalization (a run with ``--eval-lengths``)
    and the published numbers beside the measured ones (a suite with a ``[reference]``)."""
    from pathlib import Path

    from seqbench.studies import generalization
    from seqbench.reporting import published

    out: list[TableData] = []
    if (Path(run_dir) / generalization.GENERALIZATION_CSV).is_file():
        frame = generalization.load(run_dir)
        configured = [c for part in config.get("configs") or [] for c in part.get("cells") or []]
        if configured and "cell" in frame:  # rows in the run's cell order, not the order trials finished
            rank = {cell: i for i, cell in enumerate(dict.fromkeys(configured))}
            frame = frame.sort_values("cell", key=lambda cells: cells.map(rank).fillna(len(rank)), kind="stable")
        out += generalization.tables(frame, config.get("tasks") or {})
    if config.get("reference"):
        out += published.tables(results, config["reference"])
    return out


def run_extra_tables(run_dir: Any, results: Any) -> list[TableData]:
    """``extra_tables`` of a run directory (``seqbench run`` prints them after its tables)."""
    from pathlib import Path

    from seqbench.store import CONFIG_JSON, RunDir

    config = RunDir(run_dir).read_config() if Path(run_dir, CONFIG_JSON).is_file() else {}
    return extra_tables(run_dir, results, config)


def load_run_info(run_dir: Any, view: str = "auto") -> RunInfo:
    """A run directory's rows, configuration and environment (missing files read as empty);
    a ``seqbench speed`` directory's speed.csv and scaling.csv. ``view``: see ``RunInfo.view``."""
    from pathlib import Path

    from seqbench.store import (CONFIG_JSON, ENVIRONMENT_JSON, RESULTS_CSV, SCALING_CSV, SPEED_CSV, RunDir, load_run, read_frame)

    run = RunDir(run_dir)
    saved = {CONFIG_JSON: run.read_config() if Path(run_dir, CONFIG_JSON).is_file() else {},
             ENVIRONMENT_JSON: run.read_json(ENVIRONMENT_JSON) if Path(run_dir, ENVIRONMENT_JSON).is_file() else {}}
    speed_csv = Path(run_dir, SPEED_CSV)
    if speed_csv.is_file() and not Path(run_dir, RESULTS_CSV).is_file():
        import pandas as pd

        scaling_csv = Path(run_dir, SCALING_CSV)
        scaling = read_frame(scaling_csv) if scaling_csv.is_file() else pd.DataFrame()
        return RunInfo(str(run_dir), saved[CONFIG_JSON], saved[ENVIRONMENT_JSON], read_frame(speed_csv), scaling)
    return RunInfo(str(run_dir), saved[CONFIG_JSON], saved[ENVIRONMENT_JSON], load_run(run_dir), view=view)


def render_table(results: Any, run: RunInfo) -> str:
    """The terminal tables as plain text (``seqbench report`` prints them in colour)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    print_tables(run.tables(), Console(file=buffer, width=160))
    return buffer.getvalue()


def render_markdown(results: Any, run: RunInfo) -> str:
    """Markdown tables under a header naming the run, the machine and the versions."""
    from pathlib import Path

    header = f"# seqbench report: {Path(run.run_dir).name}\n\n"
    if run.environment:
        header += environment_markdown(run.environment, run.config.get("description", ""))
    return header + "\n" + markdown_tables(run.tables())


def render_csv(results: Any, run: RunInfo) -> str:
    return run.summary().to_csv(index=False)


def render_json(results: Any, run: RunInfo) -> str:
    return records_json(run.summary())


@hookimpl
def seqbench_register_report_formats(register: Any) -> None:
    register("table", render_table, suffix=".txt", description="the terminal tables as plain text")
    register("markdown", render_markdown, suffix=".md", description="Markdown tables with the machine and versions")
    register("csv", render_csv, suffix=".csv", description="the summary (mean, std, 95% CI per column) as CSV")
    register("json", render_json, suffix=".json", description="the summary as a JSON list of records")
