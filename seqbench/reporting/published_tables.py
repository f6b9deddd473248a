"""Published numbers beside measured ones: a suite's ``[reference]`` table (e.g. ``--suite
classic``: Bai, Kolter & Koltun 2018, Table 1), recorded in the run's config.json and shown by
the report as one table per task × length: each cell's measured metric (mean ± std over seeds),
the published value, their ratio, and the published models seqbench does not have (TCN).

A suite file declares::

    [reference]
    source = "who, what, where (the table)"
    [[reference.result]]
    task = "adding"
    length = 600
    metric = "loss"
    values = { lstm = 0.164, gru = 5.3e-5 }
    scale = 1.0          # measured × scale is in the published definition (1: the same)
    definition = "MSE at the last step, as in the paper"
    baseline = 0.1667
    baseline_note = "always predict 1"

A result may also name ``task_opts = { shuffle_seq = true }``: it then describes only the rows
run with those task options (the row's ``task_opts`` holds each of them with that value; a row
that leaves an option at its default does not match, so a suite sets it explicitly), and its
table's title names them (e.g. ``--suite mnist1d``: plain and shuffled MNIST-1D).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from seqbench.reporting.formats import direction, header, number, text, value_spread
from seqbench.reporting.table import TableData


def tables(results: Any, reference: Mapping[str, Any]) -> list[TableData]:
    """One table per reference result whose task and length the run measured."""
    import pandas as pd

    out = []
    source = reference.get("source", "published")
    for result in reference.get("result", []):
        task, length, metric = result["task"], int(result["length"]), result.get("metric", "loss")
        scale = float(result.get("scale", 1.0))
        rows = results[(results["task"] == task) & (results["length"].astype(int) == length)]
        options = result.get("task_opts") or {}
        if options and not rows.empty:
            rows = rows[rows.get("task_opts", pd.Series("", index=rows.index)).map(
                lambda opts: _has_options(opts, options)).astype(bool)]
        if rows.empty or metric not in rows:
            continue
        published = result["values"]
        shown = header(metric, direction(metric))

        def num(value: float, spread: float = math.nan) -> str:  # three figures, as papers print them
            return value_spread(metric, value, spread, digits=3)

        ok = rows[rows["status"].astype(str) == "ok"]
        shown_options = "".join(f" · {k}={_plain(v)}" for k, v in options.items())
        table = TableData(f"{task} · T={length}{shown_options} · measured and published",
                          f"published: {source}; measured: mean ± sample std over seeds, on the test set"
                          + (f", × {scale:g} into the published definition" if scale != 1 else "")
                          + (f"; {result['definition']}" if result.get("definition") else "")
                          + "; ratio: measured / published",
                          ["cell", "params", f"measured {shown}", f"published {shown}", "ratio", "seeds"])
        for cell in dict.fromkeys(rows["cell"]):
            values = pd.to_numeric(ok[ok["cell"] == cell][metric], errors="coerce").dropna() * scale
            params = pd.to_numeric(rows[rows["cell"] == cell]["params"], errors="coerce").dropna()
            mean = values.mean() if len(values) else math.nan
            std = values.std(ddof=1) if len(values) > 1 else math.nan
            ref = published.get(cell)
            table.add([cell, number("params", params.iloc[0]) if len(params) else "–", num(mean, std),
                       num(ref), text(mean / ref if ref else None, ".3g"),
                       str(int((rows["cell"] == cell).sum()))])
        for cell, ref in published.items():
            if cell not in set(rows["cell"]):
                table.add([f"{cell} (published only)", "", "", num(ref), "", ""], dim=True)
        if result.get("baseline") is not None:
            table.add(["(baseline)", "", num(float(result["baseline"])), "", "", ""], dim=True)
            if result.get("baseline_note"):
                table.caption += f"; baseline: {result['baseline_note']}"
        out.append(table)
    return out


def _has_options(row_options: Any, wanted: Mapping[str, Any]) -> bool:
    """Whether a row's ``task_opts`` (JSON text, empty for none) sets every option of ``wanted``
    to that value."""
    import json

    try:
        given = json.loads(row_options) if isinstance(row_options, str) and row_options else {}
    except ValueError:
        return False
    return isinstance(given, dict) and all(k in given and given[k] == v for k, v in wanted.items())


def _plain(value: Any) -> str:
    """An option's value as a suite writes it (true, not True)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
