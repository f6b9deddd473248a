"""The tables of a ``seqbench run`` (plain or tuned) from its rows.

For each task and length, a detail table: one row per cell with mean ± std over seeds, the
95 % confidence interval of the task's primary metric (in its domain and containing the mean:
``seqbench.stats.interval``; "n too small" below 3 seeds) and its rank (≈: the shown intervals
of it and the cell ranked above overlap), a mean over fewer seeds than were run marked (n=k),
diverged seeds counted in the status column, best value per column highlighted, the baseline
(and the known optimum, with each cell's gap to it) shown. When a task ran at several lengths, an overview
table first: one row per cell, one column group per length, so the length at which each cell
breaks is visible at a glance. A tuned run (``tuned=True``) shows each cell's configuration
selected on validation only (``seqbench.sweep.tune``).

``summarize`` returns the aggregated DataFrame; ``tables`` the ``TableData``; ``render`` prints them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from seqbench.reporting.formats import (BUILTIN_METRICS, NO_SPREAD, STATE_NOTE, direction, header, interval, label,
                                       missing, value_spread)
from seqbench.reporting.table import NOISY, TableData, best_of, markdown_tables, print_tables
from seqbench.runs.info import solved_flags
from seqbench.stats import MIN_SEEDS, TOO_SMALL, interval as interval_of, mean_std_ci, method, ranks_from_intervals
from seqbench.tasks.base import primary_metric, reference_rows

KEYS = ("task", "length", "cell")


@dataclass
class Column:
    name: str
    higher_is_better: Optional[bool]

    @property
    def header(self) -> str:
        return header(self.name, self.higher_is_better)


def columns_of(frame: Any, metrics: Optional[Mapping[str, bool]] = None) -> list[Column]:
    """Displayed columns, in order, that have at least one value in ``frame``."""
    ordered = ["hidden", "params", "state_floats", *BUILTIN_METRICS, *(metrics or {}), "gap", "solved", "steps_to_solve", "steps",
               "train_tok_s", "infer_tok_s", "peak_mem_mb", "train_mem_mb"]
    out = []
    for name in dict.fromkeys(ordered):
        if name == "hidden" and (name not in frame or frame[name].nunique() < 2):
            continue  # only worth a column when a parameter budget gave cells different widths
        if name in frame and frame[name].notna().any():
            out.append(Column(name, direction(name, dict(metrics or {}))))
    return out


def summarize(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
              task_info: Optional[Mapping[str, Any]] = None) -> Any:
    """Per task × length × cell: ``X`` (mean over the seeds that finished ok with a value),
    ``X_n`` (how many seeds that mean is over), ``X_std`` (sample std), ``X_lo`` / ``X_hi`` (the
    95 % interval of the mean in X's domain, containing it: ``stats.interval``; NaN below 3 seeds)
    and ``X_ci`` (how that interval was computed, or why there is none: "n too small …") for
    every column, plus ``seeds`` (run), ``seeds_ok``, ``diverged``, ``baseline``, ``optimum``,
    ``rank`` (by the task's primary metric, ≈ where the intervals overlap) and ``status``
    (``ok`` or the distinct other statuses, counted). ``solved`` counts every seed: a diverged
    seed is an unsolved one, never dropped."""
    import pandas as pd

    task_info = task_info or {}
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
        numeric["solved"] = solved_flags(frame["solved"]).astype(float)
    records = []
    for (task, length, cell, _), group in frame.groupby([*KEYS, "config"], sort=False):
        ok = group[group["status"] == "ok"]
        record: dict[str, Any] = {"task": task, "length": int(length), "cell": cell,
                                  "config": group["config"].iloc[0], "config_label": group["config_label"].iloc[0],
                                  "seeds": len(group), "seeds_ok": len(ok),
                                  "diverged": int((group["status"] == "diverged").sum())}
        if "n_configs" in group:
            record["n_configs"] = int(group["n_configs"].max())
            record["edge"] = str(group["edge"].fillna("").iloc[0]) if "edge" in group else ""
        metric, _ = primary_metric(task_info, task, length)
        if f"val_{metric}" in ok:
            record[f"val_{metric}"] = pd.to_numeric(ok[f"val_{metric}"], errors="coerce").mean()
        for column in columns:
            source = group if column.name == "solved" else ok  # a diverged seed is an unsolved one
            values = numeric[column.name].loc[source.index].dropna().tolist()
            mean, std, _ = mean_std_ci(values)
            lo, hi, note = interval_of(values, column.name)
            record.update({column.name: mean, f"{column.name}_n": len(values), f"{column.name}_std": std,
                           f"{column.name}_lo": lo, f"{column.name}_hi": hi, f"{column.name}_ci": note})
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
        metric, higher = primary_metric(task_info, task, length)
        if metric in group:
            summary.loc[group.index, "rank"] = ranks_from_intervals(  # from the intervals the table shows
                group[metric].tolist(), group[f"{metric}_lo"].tolist(), group[f"{metric}_hi"].tolist(), higher)
    return summary


def spread_note(seeds: int, metric: str = "", intervals: bool = True) -> str:
    """What ± (and, with ``intervals``, the 95 % CI of ``metric`` and the ranks) mean, for a caption."""
    if seeds < 2:
        return "1 seed (no spread)"
    out = f"± is the sample std over {seeds} seeds; a mean over fewer seeds (not ok or no value) says (n=k)"
    if not intervals:
        return out
    if seeds < MIN_SEEDS:
        return out + (f"; 95% CI: {TOO_SMALL} (fewer than {MIN_SEEDS} seeds); "
                      "ranks by mean alone, ties not marked")
    return out + (f"; 95% CI of the mean {label(metric)}: {method(metric)}; "
                  "≈ marks a rank whose interval overlaps that of the rank above")


@dataclass
class _Layout:
    """Which optional columns a detail table has."""

    metric: str
    multi: bool  # several seeds: rank and 95 % CI
    tuned: bool  # selected configurations: "chosen (of n)" and the validation value
    show_config: bool
    show_status: bool
    val: Optional[str]  # the validation column shown (tuned runs)

    @classmethod
    def of(cls, group: Any, metric: str) -> "_Layout":
        tuned = "n_configs" in group
        val = f"val_{metric}" if tuned and f"val_{metric}" in group else None
        return cls(metric, int(group["seeds"].max()) > 1 and metric in group, tuned,
                   bool((group["config_label"] != "").any()), bool((group["status"] != "ok").any()), val)

    def headers(self, columns: list[Column]) -> list[str]:
        name = label(self.metric)
        return ((["rank"] if self.multi else []) + ["cell"]
                + (["chosen (of n)" if self.tuned else "config"] if self.show_config else [])
                + [c.header for c in columns] + ([f"val {name}"] if self.val else [])
                + ([f"{name} 95% CI"] if self.multi else []) + (["status"] if self.show_status else []))


def _detail_notes(group: Any, info: Mapping[str, Any], layout: _Layout) -> list[str]:
    baseline, optimum = group["baseline"].dropna(), group["optimum"].dropna()
    notes = []
    if not baseline.empty:
        what = f" ({info['baseline_description']})" if info.get("baseline_description") else ""
        notes.append(f"baseline loss {baseline.iloc[0]:.4g}{what}")
    if not optimum.empty:
        notes.append(f"optimum loss {optimum.iloc[0]:.4g} (known exactly)")
    if info.get("solved"):
        notes.append(f"solved: {info['solved']} on the test set")
    if layout.show_status:
        notes.append("status: seeds ok of seeds run, then the others by status; means are over the ok seeds, "
                     "and a diverged seed counts as unsolved")
    if "state_floats" in group and group["state_floats"].notna().any():
        notes.append(STATE_NOTE)
    notes.append(spread_note(int(group["seeds"].max()), layout.metric)
                 + "; ↑/↓ higher/lower is better; best per column in bold")
    if "train_mem_mb" in group and group["train_mem_mb"].notna().any():
        notes.append("train MB (computed): parameters, gradients, Adam state and the activations kept for "
                     "backward, not measured (on CPU a measured peak is allocator noise); results.csv keeps "
                     "the measured peak_mem_mb")
    noisy = list(dict.fromkeys([str(c) for c, iqr in zip(group["cell"], group.get("train_iqr", [])) if iqr > NOISY]
                               + [str(c) for c, iqr in zip(group["cell"], group.get("infer_iqr", [])) if iqr > NOISY]))
    if noisy:  # each cell once, however many configurations it has
        notes.append(f"⚠ noisy timings (IQR > {NOISY:.0%} of the median) for {', '.join(noisy)}: "
                     "the timed steps varied (a busy machine, or a cell whose step time varies); speed figures are uncertain")
    if layout.tuned:
        edge = ("; ⚠ ↑/↓: the chosen value is the highest/lowest tried, the search has not converged "
                "(the run's warning names the range to try next)" if (group.get("edge", "") != "").any() else "")
        notes.insert(0, f"tuned: per cell, the configuration with the best mean validation {label(layout.metric)} "
                     f"over its search seeds (chosen, of n configurations), then trained again on fresh seeds: "
                     f"every number shown is from those seeds, on the test split{edge}")
    elif layout.show_config:
        notes.insert(0, "every configuration of the sweep (seqbench report --tuned for the selected ones); "
                     "numbers on the test split")
    return notes


def _detail_row(rec: Any, columns: list[Column], bests: Mapping[str, Any], layout: _Layout) -> tuple[list, list]:
    cells = ([str(rec["rank"])] if layout.multi else []) + [str(rec["cell"])]
    if layout.show_config:
        name = rec["config_label"] or "–"
        edge = f" ⚠ {rec['edge']}" if layout.tuned and rec.get("edge") else ""
        cells.append(f"{name} (of {int(rec['n_configs'])}){edge}" if layout.tuned else name)
    flags = [False] * len(cells)
    for c in columns:
        value = rec[c.name]
        cells.append(value_spread(c.name, value, rec.get(f"{c.name}_std", math.nan)) + over(rec, c.name))
        flags.append(bests[c.name] is not None and not math.isnan(value) and value == bests[c.name])
    extra = ([value_spread(layout.metric, rec[layout.val])] if layout.val else []) \
        + ([interval(layout.metric, rec[f"{layout.metric}_lo"], rec[f"{layout.metric}_hi"], rec[f"{layout.metric}_ci"])]
           if layout.multi else []) \
        + ([f"{int(rec['seeds_ok'])}/{int(rec['seeds'])} ok · {rec['status']}" if rec["status"] != "ok" else "ok"]
           if layout.show_status else [])
    return cells + extra, flags + [False] * len(extra)


def over(rec: Any, name: str) -> str:
    """`` (n=k)`` when the mean of column ``name`` is over fewer seeds than were run, else ``""``."""
    n = rec.get(f"{name}_n", math.nan)
    if name in NO_SPREAD or missing(n) or missing(rec.get(name)) or int(n) >= int(rec["seeds"]):
        return ""
    return f" (n={int(n)})"


def detail_tables(summary: Any, all_columns: list[Column], task_info: Mapping[str, Any]) -> list[TableData]:
    """Per task × length: one row per cell (and configuration), then the baseline and optimum."""
    out = []
    for (task, length), group in summary.groupby(["task", "length"], sort=False):
        layout = _Layout.of(group, primary_metric(task_info, task, length)[0])
        columns = [c for c in all_columns if group[c.name].notna().any()]
        notes = _detail_notes(group, task_info.get(f"{task}|{length}", {}), layout)
        table = TableData(f"{task} · T={length}", " · ".join(notes), layout.headers(columns))
        bests = {c.name: best_of(group[c.name], c.higher_is_better) for c in columns}
        ordered = group.sort_values("rank", key=lambda s: s.map(_rank_key)) if layout.multi else group
        for _, rec in ordered.iterrows():
            table.add(*_detail_row(rec, columns, bests, layout))
        before = (1 if layout.multi else 0) + (1 if layout.show_config else 0)  # blank cells around the label
        after = sum((bool(layout.val), layout.multi, layout.show_status))
        measured = [(name, [value]) for name, value in reference_rows(task_info.get(f"{task}|{length}", {}))]
        for name, values in (("(baseline)", group["baseline"].dropna()), *measured,
                             ("(optimum)", group["optimum"].dropna())):
            if len(values) and any(c.name == "loss" for c in columns):
                ref = [value_spread("loss", list(values)[0]) if c.name == "loss" else "" for c in columns]
                lead = [""] if layout.multi else []
                table.add(lead + [name] + [""] * (before - len(lead)) + ref + [""] * after, dim=True)
        out.append(table)
    return out


def _rank_key(text: str) -> float:
    head = str(text).split()[0]
    return float(head) if head.isdigit() else math.inf


def overview_tables(summary: Any, task_info: Mapping[str, Any]) -> list[TableData]:
    """For each task run at several lengths: one row per cell, per length its primary
    metric (mean ± std) and the fraction of seeds that solved it."""
    out = []
    for task, group in summary.groupby("task", sort=False):
        lengths = list(dict.fromkeys(group["length"]))
        if len(lengths) < 2:
            continue
        metric, higher = primary_metric(task_info, task, lengths[0])
        name = header(metric, higher)
        headers = ["cell", "params"] + [h for T in lengths for h in (f"T={T} {name}", f"T={T} solved")]
        seeds = int(group["seeds"].max())
        table = TableData(f"{task} · by length", f"{spread_note(seeds, metric, intervals=False)}; "
                          "solved counts a diverged seed as unsolved; best per column in bold", headers)
        cells_order = list(dict.fromkeys(zip(group["cell"], group["config_label"])))
        bests = {}
        for T in lengths:
            at = group[group["length"] == T]
            bests[T] = (best_of(at[metric], higher), best_of(at["solved"], True))
        tuned = "n_configs" in group
        for cell, config in cells_order:
            rows = group[(group["cell"] == cell) & (group["config_label"] == config)]
            shown = f"{cell} ({config})" if config and not tuned else cell
            cells, flags = [shown, value_spread("params", rows["params"].iloc[0])], [False, False]
            for T in lengths:
                rec = rows[rows["length"] == T]
                if rec.empty:
                    cells += ["", ""]
                    flags += [False, False]
                    continue
                rec = rec.iloc[0]
                cells += [value_spread(metric, rec[metric], rec[f"{metric}_std"]) + over(rec, metric),
                          value_spread("solved", rec["solved"])]
                flags += [bests[T][0] is not None and rec[metric] == bests[T][0],
                          bests[T][1] is not None and rec["solved"] == bests[T][1] and rec["solved"] > 0]
            table.add(cells, flags)
        out.append(table)
    return out


def tables(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None, tuned: bool = False) -> list[TableData]:
    """Every table for a run: the by-length overviews, then the detail tables. ``tuned``: only
    each cell's configuration selected on validation (``seqbench.sweep.tune``)."""
    from seqbench.runs.info import shown_rows

    task_info = task_info or {}
    frame = shown_rows(frame, task_info, tuned)
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
    """Print the run's tables with rich, fitted to the console (``wide``: whole)."""
    print_tables(tables(frame, metrics, task_info, tuned), console, wide)


def to_markdown(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
                task_info: Optional[Mapping[str, Any]] = None) -> str:
    """The run's tables as Markdown."""
    return markdown_tables(tables(frame, metrics, task_info))
