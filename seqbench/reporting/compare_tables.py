"""The tables and exports of ``seqbench compare`` (the frame of ``seqbench.studies.comparison``):
one table per task × length (a speed run: per length), one row per cell × metric with each
run's value, its difference and ratio to the first run's (with 95 % intervals), the corrected
p of the tested metric and the verdict; then the rows not in every run."""
from __future__ import annotations

import math
from typing import Any

from seqbench.errors import UsageError
from seqbench.reporting.formats import arrow, label, missing, number, short, text
from seqbench.reporting.table import TableData


def tables(frame: Any) -> list[TableData]:
    """The comparison as ``TableData``: one table per task × length (a speed run: per length),
    one row per cell × metric (the tested metric named in the title); then the unmatched rows."""
    from seqbench.studies.comparison import header_lines

    out = []
    labels, keys = frame.attrs.get("runs", []), frame.attrs.get("keys", [])
    if not frame.empty:
        groups = [k for k in ("task", "length") if k in keys]
        ident = [k for k in keys if k not in groups]
        caption = "; ".join(header_lines(labels, frame.attrs.get("differences", {}))) + "\n" + method_note(frame)
        many = len(labels) > 2
        for where, group in frame.groupby(groups, sort=False):
            where = where if isinstance(where, tuple) else (where,)
            title = "compare · " + " · ".join(f"T={v}" if k == "length" else str(v) for k, v in zip(groups, where))
            primary = list(dict.fromkeys(label(m) for m in group.loc[group["primary"], "metric"]))
            if primary and frame.attrs.get("kind") != "speed":
                title += f" (tested: {', '.join(primary)})"
            headers = ident + ["metric", labels[0]]
            for run in labels[1:]:
                headers += [run, f"Δ {run} [95 % CI]" if many else "Δ [95 % CI]", f"ratio {run}" if many else "ratio",
                            f"p {run}" if many else "p", f"verdict {run}" if many else "verdict"]
            table = TableData(title, caption, headers,
                              priority=[0] * len(ident) + [0, 0] + [0, 1, 1, 1, 0] * (len(labels) - 1))
            for _, row in group.iterrows():
                cells = [str(row[k]) for k in ident] + [label(row["metric"]) + arrow(bool(row["higher_is_better"])),
                                                        _value(row, labels[0])]
                flags = [False] * len(cells)
                for run in labels[1:]:
                    verdict = row[f"verdict_{run}"]
                    cells += [_value(row, run), _diff(row, run), _ratio(row, run), _p(row, run), verdict or "–"]
                    flags += [verdict == "better", False, False, False, False]
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


CORRECTION_NAMES = {"holm": "Holm's step-down", "bh": "Benjamini–Hochberg"}


def method_note(frame: Any) -> str:
    """How the verdicts were reached, for the caption."""
    labels = frame.attrs.get("runs", [""])
    alpha = frame.attrs.get("alpha", 0.05)
    if frame.attrs.get("kind") == "speed":
        return (f"Δ and ratio: over {labels[0]}; verdict: non-overlapping interquartile bands (every seed's "
                "median ± half its IQR) for each throughput")
    family = frame.attrs.get("family", 0)
    correction = CORRECTION_NAMES.get(frame.attrs.get("correction", "holm"), frame.attrs.get("correction", ""))
    return (f"Δ and ratio: over {labels[0]}, with 95 % intervals; only the metric named in the title (the task's "
            f"primary metric) is tested: paired t-test on seed-matched differences when both runs share seeds, else "
            f"Welch's t-test, Fisher's exact test for a solved rate; p corrected by {correction} over the family of "
            f"{family} tested comparisons, better/worse at p < {alpha}; identical seeds: no difference; constant "
            f"but different samples: differs (no spread), no p; fewer than 3 seeds a side: inconclusive; "
            f"other metrics are shown, not tested")


def _diff(row: Any, run: str) -> str:
    diff = row[f"diff_{run}"]
    if missing(diff):
        return "–"
    shown = _signed(row, diff)
    lo, hi = row[f"diff_lo_{run}"], row[f"diff_hi_{run}"]
    if missing(lo):
        return shown + (" (n too small)" if row[f"status_{run}"] == "too few" else "")
    return f"{shown} [{_signed(row, lo)}, {_signed(row, hi)}]"


def _signed(row: Any, value: float) -> str:
    if row["metric"] == "solved":
        return f"{value:+.0%}"
    return format(value, "+,.0f" if row["kind"] == "timing" and abs(value) >= 100 else "+.3g")


def _ratio(row: Any, run: str) -> str:
    ratio = row[f"ratio_{run}"]
    if missing(ratio):
        return "–"
    lo, hi = row[f"ratio_lo_{run}"], row[f"ratio_hi_{run}"]
    return f"{ratio:.3f}×" + ("" if missing(lo) else f" [{lo:.3g}, {hi:.3g}]")


def _p(row: Any, run: str) -> str:
    p = row.get(f"p_adj_{run}", math.nan)
    if missing(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _value(row: Any, run: str) -> str:
    value = row[run]
    if row["metric"] == "solved":
        return number("solved", value)
    return text(value, ",.0f" if row["kind"] == "timing" and abs(value) >= 100 else ".4g")


def regressions(frame: Any, pct: float) -> list[str]:
    """One line per tested metric (the primary metric; a speed run's throughputs) that is worse,
    significantly after the family's correction, by more than ``pct`` percent in some run
    compared with the first (``comparison.worse``; UsageError when nothing was compared)."""
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
