"""The tables of a ``seqbench speed`` run (``TableData``): one per length, then the exponents
of time against length. Measuring lives in ``seqbench.studies.speed``; these only present speed.csv
and scaling.csv rows."""
from __future__ import annotations

import math
from typing import Any

from seqbench.reporting.formats import STATE_NOTE, compact, missing, text
from seqbench.reporting.table import NOISY, TableData, best_of, print_tables

PEAK_SHORT = {"cuda_max_allocated": "CUDA max allocated (all tensors)",
              "cpu_rss_growth+state": "parameters + Adam state + input, plus the peak growth of resident memory "
                                      "during the step (see README)"}

# Displayed speed columns: (column, header, higher is better or None, format)
TABLE_COLUMNS = (
    ("params", "params", None, ",.0f"),
    ("state_floats", "state", None, "compact"),
    ("train_tok_s", "train tok/s ↑", True, ",.0f"),
    ("infer_tok_s", "infer tok/s ↑", True, ",.0f"),
    ("gen_ms_per_tok", "gen ms/tok ↓", False, ".3g"),
    ("train_peak_mb", "train peak MB ↓", False, ",.1f"),
    ("infer_peak_mb", "infer peak MB ↓", False, ",.1f"),
    ("flops_per_tok", "FLOPs/tok", None, ".3g"),
    ("infer_gflops", "infer GFLOP/s ↑", True, ".3g"),
    ("peak_gflops", "peak GFLOP/s", None, ".3g"),
    ("infer_pct_peak", "infer % peak ↑", True, ".0f"),
    ("train_pct_peak", "train % peak ↑", True, ".0f"),
)
SCALING_COLUMNS = (
    ("train_exponent", "train b ↓", False), ("train_r2", "R²", None), ("train_exponent_longest", "train b, longest ↓", False),
    ("infer_exponent", "infer b ↓", False), ("infer_r2", "R²", None), ("infer_exponent_longest", "infer b, longest ↓", False),
    ("gen_exponent", "gen b ↓", False), ("gen_r2", "R²", None), ("gen_exponent_longest", "gen b, longest ↓", False),
)


def tables(frame: Any, scaling: Any = None) -> list[Any]:
    """The speed tables (``report.TableData``): one per length, then the scaling table."""
    out = []
    if frame.empty:
        return out
    first = frame.iloc[0]
    kinds = {str(k) for k in frame["peak_mem_kind"].dropna()}
    for length, group in frame.groupby("length", sort=False):
        columns = [c for c in TABLE_COLUMNS if group[c[0]].notna().any()]
        show_status = (group["status"] != "ok").any()
        notes = [f"batch {first['batch']}, {first['dtype']} on {first['device']}, {first['threads']} threads; "
                 "medians after warm-up; ↑/↓ higher/lower is better; best per column in bold",
                 "gen: per generated token after a prompt of length T",
                 "FLOPs: forward, 2 per multiply-add; % peak: achieved GFLOP/s over those of a matmul of the "
                 "cell's shape timed in this run"]
        notes += [f"peak MB: {PEAK_SHORT.get(k, k)}" for k in sorted(kinds)]
        if any(c[0] == "state_floats" for c in columns):
            notes.append(STATE_NOTE)
        noisy = sorted({str(r["cell"]) for _, r in group.iterrows()
                        if any((r[c] or 0) > NOISY for c in ("train_iqr", "infer_iqr", "gen_iqr"))})
        if noisy:
            notes.append(f"⚠ noisy timings (IQR > {NOISY:.0%} of the median) for {', '.join(noisy)}")
        table = TableData(f"speed · T={length}", " · ".join(notes),
                          ["cell", *(c[1] for c in columns), *(["status"] if show_status else [])])
        bests = {c[0]: best_of(group[c[0]].astype(float), c[2]) for c in columns}
        for _, rec in group.iterrows():
            cells, flags = [str(rec["cell"])], [False]
            for name, _, _, spec in columns:
                value = rec[name]
                cells.append(compact(value) if spec == "compact" else text(value, spec))
                flags.append(not missing(value) and bests[name] is not None and value == bests[name])
            if show_status:
                cells.append(str(rec["status"]))
                flags.append(False)
            table.add(cells, flags)
        out.append(table)
    if scaling is not None and not scaling.empty and frame["length"].nunique() > 1:
        several = frame["length"].nunique() > 2  # with two lengths, R² and "longest" say nothing more
        columns = [c for c in SCALING_COLUMNS if scaling[c[0]].notna().any()
                   and (several or (c[2] is False and "longest" not in c[0]))]
        caption = ("b: exponent of time ∝ T^b, least squares on log time vs log T over every length (train, "
                   "infer: per step; gen: per token after a prompt of length T); ≈1 linear, ≈2 quadratic"
                   + ("; R² of that fit; 'longest': b between the two longest lengths" if several else ""))
        table = TableData("speed · scaling with length", caption, ["cell", *(c[1] for c in columns)])
        bests = {c[0]: best_of(scaling[c[0]].astype(float), c[2]) for c in columns}
        for _, rec in scaling.iterrows():
            cells, flags = [str(rec["cell"])], [False]
            for name, _, _ in columns:
                value = float(rec[name])
                cells.append(text(value, ".2f"))
                flags.append(not math.isnan(value) and bests[name] is not None and value == bests[name])
            table.add(cells, flags)
        out.append(table)
    return out


def render(frame: Any, console: Any, scaling: Any = None, wide: bool = False) -> None:
    """Print the speed tables with rich, in the style of ``seqbench run``'s."""
    print_tables(tables(frame, scaling), console, wide)
