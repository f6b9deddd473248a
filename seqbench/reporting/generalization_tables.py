"""The length-generalization tables of a run with ``--eval-lengths`` (rows from
``seqbench.studies.generalization``): per task × trained length, one row per cell, per evaluated
length the primary metric and the fraction of seeds that solved it there."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from seqbench.reporting.formats import header, missing, number, value_spread
from seqbench.reporting.table import TableData, best_of


def tables(frame: Any, task_info: Optional[Mapping[str, Any]] = None) -> list[TableData]:
    """Per task × trained length: one row per cell, per evaluated length (T, 2T, …) the primary
    metric (mean ± std over seeds) and the fraction of seeds that meet the solved criterion there."""
    from seqbench.studies.generalization import summarize

    summary = summarize(frame, task_info)
    out: list[TableData] = []
    if summary.empty:
        return out
    for (task, length), group in summary.groupby(["task", "length"], sort=False):
        metric, higher = group["metric"].iloc[0], bool(group["higher_is_better"].iloc[0])
        lengths = sorted(set(group["eval_length"]))
        headers = (["cell"] + [f"{_multiple(L, length)} {header(metric, higher)}" for L in lengths]
                   + [f"{_multiple(L, length)} solved" for L in lengths])
        seeds = int(group["seeds"].max())
        spread = f"± is the sample std over {seeds} seeds" if seeds > 1 else "1 seed"
        at = ", ".join(f"{_multiple(L, length)} = T={L:,}" for L in lengths)
        caption = (f"trained at T={length}, evaluated without further training on the test set at {at}; solved: the fraction of seeds meeting "
                   f"{(task_info or {}).get(f'{task}|{length}', {}).get('solved', 'the criterion')} there; {spread}; "
                   "best per column in bold; results in generalization.csv")
        table = TableData(f"{task} · trained at T={length} · length generalization", caption, headers,
                          priority=[0] + [0] * len(lengths) + [1] * len(lengths))
        bests = {L: best_of(group[group["eval_length"] == L]["value"], higher) for L in lengths}
        for (cell, config), rows in group.groupby(["cell", "config"], sort=False):
            name = f"{cell} ({rows['config_label'].iloc[0]})" if rows["config_label"].iloc[0] else cell
            values, solved, flags = [], [], []
            for L in lengths:
                at = rows[rows["eval_length"] == L]
                rec = at.iloc[0] if not at.empty else None
                values.append("" if rec is None else value_spread(metric, rec["value"], rec["std"]))
                solved.append("" if rec is None or missing(rec["solved"]) else number("solved", rec["solved"]))
                flags.append(rec is not None and bests[L] is not None and rec["value"] == bests[L])
            table.add([name] + values + solved, [False] + flags + [False] * len(lengths))
        if metric == "loss":
            base = [group[group["eval_length"] == L]["baseline"].max() for L in lengths]
            table.add(["(baseline)"] + [value_spread(metric, b) for b in base] + [""] * len(lengths), dim=True)
        out.append(table)
    return out


def _multiple(eval_length: int, length: int) -> str:
    return f"{eval_length / length:.3g}×"
