"""The tables and exports of ``seqbench compare`` (the frame of ``seqbench.studies.comparison``):
one table per task × length (a speed run: per length), one row per cell × metric with each
run's value, its ratio to the first run's and the verdict; then the rows not in every run."""
from __future__ import annotations

import math
from typing import Any

from seqbench.errors import UsageError
from seqbench.reporting.formats import arrow, label, number, short, text
from seqbench.reporting.table import TableData


def tables(frame: Any) -> list[TableData]:
    """The comparison as ``TableData``: one table per task × length (a speed run: per length),
    one row per cell × metric; then the unmatched rows."""
    from seqbench.studies.comparison import ALPHA, header_lines

    out = []
    labels, keys = frame.attrs.get("runs", []), frame.attrs.get("keys", [])
    if not frame.empty:
        groups = [k for k in ("task", "length") if k in keys]
        ident = [k for k in keys if k not in groups]
        caption = ("; ".join(header_lines(labels, frame.attrs.get("differences", {}))) + "\n"
                   f"ratio: over {labels[0]}; verdict: Welch's t-test over seeds (p < {ALPHA}) for quality, "
                   "non-overlapping interquartile bands for timings (tok/s, ms/token)")
        for where, group in frame.groupby(groups, sort=False):
            where = where if isinstance(where, tuple) else (where,)
            title = "compare · " + " · ".join(f"T={v}" if k == "length" else str(v) for k, v in zip(groups, where))
            headers = ident + ["metric", labels[0]]
            for run in labels[1:]:
                headers += [run, f"ratio {run}", f"verdict {run}" if len(labels) > 2 else "verdict"]
            table = TableData(title, caption, headers,
                              priority=[0] * len(ident) + [0, 0] + [0, 1, 0] * (len(labels) - 1))
            for _, row in group.iterrows():
                cells = [str(row[k]) for k in ident] + [label(row["metric"]) + arrow(bool(row["higher_is_better"])),
                                                        _value(row, labels[0])]
                flags = [False] * len(cells)
                for run in labels[1:]:
                    verdict = row[f"verdict_{run}"]
                    ratio = row[f"ratio_{run}"]
                    cells += [_value(row, run), "–" if math.isnan(ratio) else f"{ratio:.3f}×", verdict]
                    flags += [verdict == "better", False, False]
                table.add(cells, flags)
            out.append(table)
    unmatched = frame.attrs.get("unmatched", [])
    if unmatched:
        note = "; ".join(header_lines(labels, frame.attrs.get("differences", {})))
        table = TableData("compare · rows not in every run", f"these rows are left out of the comparison · {note}",
                          ["run", *keys])
        for run, key in unmatched:
            table.add([run, *(str(key[k]) for k in keys)])
        out.append(table)
    return out


def _value(row: Any, run: str) -> str:
    value = row[run]
    if row["metric"] == "solved":
        return number("solved", value)
    return text(value, ",.0f" if row["kind"] == "timing" and abs(value) >= 100 else ".4g")


def regressions(frame: Any, pct: float) -> list[str]:
    """One line per primary metric or throughput that is worse, significantly, by more than
    ``pct`` percent in some run compared with the first (``comparison.worse``; UsageError when
    nothing was compared)."""
    from seqbench.studies.comparison import worse

    return [f"{' '.join(f'{k}={v}' for k, v in found['where'].items())} {found['metric']}: {found['change']:.1f}% "
            f"worse in {found['run']} than in {found['baseline']} ({short(found['base'])} → {short(found['value'])})"
            for found in worse(frame, pct)]


def export(frame: Any, fmt: str) -> str:
    """The comparison as ``markdown`` (the tables), ``csv`` or ``json`` (the frame)."""
    if fmt == "markdown":
        from seqbench.reporting.table import markdown_tables

        return markdown_tables(tables(frame))
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        from seqbench.reporting.exports import records_json

        return records_json(frame)
    raise UsageError(f"unknown compare format '{fmt}'; use table, markdown, csv or json")
