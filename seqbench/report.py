"""Comparison tables from a run's rows: one table per task and length, one row per cell,
mean ± std over seeds, best value per column highlighted, the task's baseline shown.

``summarize`` returns the aggregated DataFrame; ``render`` prints rich tables;
``to_markdown`` / ``to_csv`` / ``to_json`` write the same content as files.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

# Columns the harness measures itself, with their direction (True: higher is better).
HARNESS_COLUMNS: dict[str, Optional[bool]] = {
    "params": None,
    "solved": True,
    "steps": None,
    "train_tok_s": True,
    "infer_tok_s": True,
    "peak_mem_mb": False,
}
BUILTIN_METRICS = {"loss": False, "accuracy": True, "perplexity": False, "bits_per_token": False}
LABELS = {
    "params": "params", "loss": "loss", "accuracy": "accuracy", "perplexity": "ppl",
    "bits_per_token": "bits/tok", "solved": "solved", "steps": "steps",
    "train_tok_s": "train tok/s", "infer_tok_s": "infer tok/s", "peak_mem_mb": "peak MB",
}
KEYS = ("task", "length", "cell")
FORMATS = ("table", "markdown", "csv", "json")


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
    ordered = ["params", *directions, "solved", "steps", "train_tok_s", "infer_tok_s", "peak_mem_mb"]
    out = []
    for name in dict.fromkeys(ordered):
        if name in frame and frame[name].notna().any():
            out.append(Column(name, HARNESS_COLUMNS.get(name, directions.get(name))))
    return out


def summarize(frame: Any, metrics: Optional[Mapping[str, bool]] = None) -> Any:
    """Mean and std over seeds per task × length × cell (columns ``X`` and ``X_std``), plus
    ``seeds``, ``baseline`` and ``status`` (``ok`` or the distinct non-ok statuses)."""
    import pandas as pd

    records = []
    for (task, length, cell), group in frame.groupby(list(KEYS), sort=False):
        ok = group[group["status"] == "ok"]
        record: dict[str, Any] = {"task": task, "length": int(length), "cell": cell, "seeds": len(group)}
        for column in columns_of(frame, metrics):
            values = pd.to_numeric(ok[column.name].astype(float), errors="coerce").dropna()
            record[column.name] = values.mean() if len(values) else math.nan
            record[f"{column.name}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        record["baseline"] = pd.to_numeric(group["baseline"], errors="coerce").mean()
        bad = sorted({str(s) for s in group["status"] if str(s) != "ok"})
        record["status"] = "; ".join(f"{sum(group['status'] == s)}× {s}" for s in bad) if bad else "ok"
        records.append(record)
    return pd.DataFrame(records)


def _number(name: str, value: float, digits: int = 4) -> str:
    if name in ("params", "steps", "train_tok_s", "infer_tok_s"):
        return f"{value:,.0f}"
    if name == "peak_mem_mb":
        return f"{value:,.1f}"
    if name == "solved":
        return f"{value:.0%}"
    return f"{value:.{digits}g}"


def _fmt(name: str, value: float, std: float = math.nan) -> str:
    """``value`` (and ``± std`` when there is a spread) formatted for column ``name``."""
    if value is None or math.isnan(value):
        return "–"
    text = _number(name, value)
    if std is not None and not math.isnan(std) and name not in ("params", "solved", "steps"):
        text += f" ± {_number(name, std, digits=2)}"
    return text


def _best(summary: Any, column: Column) -> Optional[float]:
    if column.higher_is_better is None:
        return None
    values = summary[column.name].dropna()
    if values.empty:
        return None
    return values.max() if column.higher_is_better else values.min()


@dataclass
class TableData:
    """One comparison table, ready to render in any format."""

    title: str
    caption: str
    headers: list[str]
    rows: list[list[str]]
    best: list[list[bool]]  # per cell: is it the best of its column


def tables(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None) -> list[TableData]:
    summary = summarize(frame, metrics)
    columns = columns_of(frame, metrics)
    out = []
    for (task, length), group in summary.groupby(["task", "length"], sort=False):
        seeds = int(group["seeds"].max())
        info = (task_info or {}).get(f"{task}|{length}", {})
        baseline = group["baseline"].dropna()
        caption_bits = []
        if not baseline.empty:
            what = f" ({info['baseline_description']})" if info.get("baseline_description") else ""
            caption_bits.append(f"baseline loss {baseline.iloc[0]:.4g}{what}")
        if info.get("solved"):
            caption_bits.append(f"solved: {info['solved']} on the held-out set")
        spread = f"± is the std over {seeds} seeds" if seeds > 1 else "1 seed (no spread)"
        caption_bits.append(f"{spread}; ↑/↓ higher/lower is better; best per column in bold")
        show_status = (group["status"] != "ok").any()
        headers = ["cell"] + [c.header for c in columns] + (["status"] if show_status else [])
        rows, best = [], []
        bests = {c.name: _best(group, c) for c in columns}
        for _, rec in group.iterrows():
            cells = [str(rec["cell"])]
            flags = [False]
            for c in columns:
                value = rec[c.name]
                cells.append(_fmt(c.name, value, rec.get(f"{c.name}_std", math.nan)))
                flags.append(bests[c.name] is not None and not math.isnan(value) and value == bests[c.name])
            if show_status:
                cells.append(str(rec["status"]))
                flags.append(False)
            rows.append(cells)
            best.append(flags)
        if not baseline.empty and any(c.name == "loss" for c in columns):
            cells = ["(baseline)"] + [_fmt("loss", baseline.iloc[0]) if c.name == "loss" else "" for c in columns]
            rows.append(cells + ([""] if show_status else []))
            best.append([False] * len(cells) + ([False] if show_status else []))
        out.append(TableData(f"{task} · T={length}", " · ".join(caption_bits), headers, rows, best))
    return out


def render(frame: Any, console: Any = None, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None) -> None:
    """Print the comparison tables with rich."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for data in tables(frame, metrics, task_info):
        table = Table(title=data.title, caption=data.caption, caption_justify="left")
        for i, header in enumerate(data.headers):
            if i == 0:
                table.add_column(header, no_wrap=True, min_width=max(len(r[0]) for r in data.rows))
            else:
                table.add_column(header, justify="left" if header == "status" else "right", overflow="fold")
        for cells, flags in zip(data.rows, data.best):
            style = "dim" if cells[0] == "(baseline)" else None
            table.add_row(*(f"[bold green]{c}[/]" if f else c for c, f in zip(cells, flags)), style=style)
        console.print(table)


def to_markdown(frame: Any, metrics: Optional[Mapping[str, bool]] = None,
                task_info: Optional[Mapping[str, Any]] = None) -> str:
    parts = []
    for data in tables(frame, metrics, task_info):
        parts.append(f"### {data.title}\n")
        parts.append("| " + " | ".join(data.headers) + " |")
        parts.append("|" + "|".join([":---"] + ["---:"] * (len(data.headers) - 1)) + "|")
        for cells, flags in zip(data.rows, data.best):
            parts.append("| " + " | ".join(f"**{c}**" if f else c for c, f in zip(cells, flags)) + " |")
        parts.append(f"\n{data.caption}\n")
    return "\n".join(parts)


def to_csv(frame: Any, metrics: Optional[Mapping[str, bool]] = None) -> str:
    return summarize(frame, metrics).to_csv(index=False)


def to_json(frame: Any, metrics: Optional[Mapping[str, bool]] = None) -> str:
    summary = summarize(frame, metrics)
    records = json.loads(summary.to_json(orient="records"))
    return json.dumps(records, indent=2) + "\n"


def export(frame: Any, fmt: str, metrics: Optional[Mapping[str, bool]] = None,
           task_info: Optional[Mapping[str, Any]] = None) -> str:
    if fmt == "markdown":
        return to_markdown(frame, metrics, task_info)
    if fmt == "csv":
        return to_csv(frame, metrics)
    if fmt == "json":
        return to_json(frame, metrics)
    raise ValueError(f"unknown format {fmt!r}")
