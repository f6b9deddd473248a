"""The tables of a MAD run (``--suite mad`` / ``mad-full``, ``seqbench.studies.mad``): the MAD
score per cell × task, each task's chosen configuration per difficulty setting, and the
published MAD numbers beside the measured ones where seqbench has the same layer.

Published numbers (accuracy on MAD's test sets, as fractions here; the sources print percent):

- ``PAPER``: Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid Architectures"
  (arXiv:2403.17844), as reprinted by Yang et al. 2024, "Parallelizing Linear Transformers with
  the Delta Rule over Sequence Length" (arXiv:2406.06484, the MAD figure: "Results other than
  DeltaNet are directly borrowed from Poli et al."); the same table is in Songlin Yang's blog
  post "DeltaNet Explained (Part I)". Read there, not in the MAD paper itself.
- ``DELTANET``: Yang et al. 2024's own MAD run of DeltaNet (same table).
- ``RERUN``: a re-run by others with flash-linear-attention's layers (~400k-550k parameters):
  the README of github.com/HassanJbara/lin-attn-bench (commit ac6d5ab), "MAD" table.
"""
from __future__ import annotations

import math
from typing import Any

from seqbench.reporting.formats import MISSING, text
from seqbench.reporting.table import TableData

# seqbench's task → the published column (MAD's task)
TASK_COLUMNS = {"compression": "Compress", "fuzzy-recall": "Fuzzy Recall", "in-context-recall": "In-Context Recall",
                "memorization": "Memorize", "noisy-recall": "Noisy Recall", "selective-copy": "Selective Copy"}
# seqbench's cell → the published model with the same layer (s6: Mamba's selective SSM block)
SAME_LAYER = {"transformer": "Transformer", "s6": "Mamba", "deltanet": "DeltaNet", "mlstm": "mLSTM"}
PAPER = "Poli et al. 2024 (the MAD paper), via Yang et al. 2024"
DELTANET = "Yang et al. 2024 (DeltaNet paper, own run)"
RERUN = "re-run by others: HassanJbara/lin-attn-bench (fla layers)"
_ORDER = tuple(TASK_COLUMNS)  # the order of the values below
# source → model → accuracies in the order of TASK_COLUMNS (compression ... selective-copy)
PUBLISHED: dict[str, dict[str, tuple[float, ...]]] = {
    PAPER: {"Transformer": (51.6, 29.8, 94.1, 85.2, 86.8, 99.6), "Hyena": (45.2, 7.9, 81.7, 89.5, 78.8, 93.1),
            "Multihead Hyena": (44.8, 14.4, 99.0, 89.4, 98.6, 93.0), "Mamba": (52.7, 6.7, 90.4, 89.5, 90.1, 86.3),
            "GLA": (38.8, 6.9, 80.8, 63.3, 81.6, 88.6)},
    DELTANET: {"DeltaNet": (42.2, 35.7, 100.0, 52.8, 100.0, 100.0)},
    RERUN: {"Transformer": (43.2, 56.5, 90.5, 78.8, 89.7, 99.8), "Mamba": (49.1, 12.3, 99.3, 89.6, 99.7, 88.7),
            "DeltaNet": (39.6, 39.3, 99.9, 39.4, 99.9, 99.7), "GLA": (40.8, 15.5, 91.8, 77.1, 93.1, 89.1),
            "mLSTM": (47.8, 23.7, 100.0, 89.6, 100.0, 87.0)},
}
# the published averages, to check the table against its source (each source prints one)
PUBLISHED_AVERAGE = {(PAPER, "Transformer"): 74.5, (PAPER, "Hyena"): 66.0, (PAPER, "Multihead Hyena"): 73.2,
                     (PAPER, "Mamba"): 69.3, (PAPER, "GLA"): 60.0, (DELTANET, "DeltaNet"): 71.8,
                     (RERUN, "Transformer"): 76.4, (RERUN, "Mamba"): 73.1, (RERUN, "DeltaNet"): 69.7,
                     (RERUN, "GLA"): 67.9, (RERUN, "mLSTM"): 74.7}
AVERAGED = ("per difficulty setting, the configuration (learning rate × weight decay) with the best mean "
            "validation {metric} over seeds, its mean test {metric}; averaged over the task's settings; MAD score: "
            "the mean over tasks")


def published(source: str, model: str) -> dict[str, float]:
    """A published row as fractions by seqbench task name."""
    return {task: value / 100 for task, value in zip(_ORDER, PUBLISHED[source][model])}


def tables(result: Any) -> list[TableData]:
    """The MAD tables of a ``studies.mad.MadResult``: scores, each task's settings, published."""
    return [score_table(result), *setting_tables(result), *published_tables(result)]


def _value(value: Any) -> str:
    return MISSING if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def score_table(result: Any) -> TableData:
    """Cells × tasks: each task's score, then the MAD score."""
    tasks = list(dict.fromkeys(result.tasks["task"])) if not result.tasks.empty else []
    metric = result.metric
    table = TableData(f"MAD score · test {metric}", AVERAGED.format(metric=metric) + _notes(result),
                      ["cell", *[f"{t} ↑" for t in tasks], "MAD score ↑"])
    scores = result.tasks.set_index(["cell", "task"])["score"] if not result.tasks.empty else {}
    best = {t: max((v for (c, k), v in dict(scores).items() if k == t and not math.isnan(v)), default=None)
            for t in tasks}
    overall = dict(zip(result.cells["cell"], result.cells["score"])) if not result.cells.empty else {}
    counts = dict(zip(result.cells["cell"], zip(result.cells["tasks"], result.cells["of"]))) if overall else {}
    top = max((v for v in overall.values() if not math.isnan(v)), default=None)
    for cell in overall:
        values = [dict(scores).get((cell, t), math.nan) for t in tasks]
        shown = _value(overall[cell]) + ("" if counts[cell][0] == counts[cell][1]
                                         else f" ({counts[cell][0]} of {counts[cell][1]} tasks)")
        table.add([cell, *[_value(v) for v in values], shown],
                  best=[False, *[v == best[t] and best[t] is not None for v, t in zip(values, tasks)],
                        overall[cell] == top and top is not None])
    return table


def _notes(result: Any) -> str:
    return ("; left out: " + "; ".join(result.notes)) if result.notes else ""


def setting_tables(result: Any) -> list[TableData]:
    """Per task: each cell's chosen configuration and its validation and test value per setting."""
    out = []
    frame = result.settings
    for task in dict.fromkeys(frame["task"]) if not frame.empty else ():
        rows = frame[frame["task"] == task]
        metric = rows["metric"].iloc[0]
        table = TableData(f"MAD · {task} · the configuration chosen per difficulty setting",
                          f"N: training examples (stream: fresh examples at every step); chosen on the mean "
                          f"validation {metric} over seeds among the configurations tried, its test {metric} reported "
                          f"(mean over seeds)", ["cell", "setting", "lr", "weight decay", "configs", "seeds",
                                                 f"val {metric}", f"test {metric}"])
        for _, row in rows.iterrows():
            table.add([row["cell"], row["setting"], text(row["lr"], ".3g"), text(row["weight_decay"], ".3g"),
                       str(row["configs"]), str(row["seeds"]), _value(row["val"]), _value(row["test"])])
        out.append(table)
    return out


def published_tables(result: Any) -> list[TableData]:
    """Measured task scores beside the published ones, for the run's cells that have the same
    layer as a published model (none: no table)."""
    if result.tasks.empty:
        return []
    mapped = [c for c in dict.fromkeys(result.tasks["cell"]) if c in SAME_LAYER]
    if not mapped:
        return []
    tasks = [t for t in TASK_COLUMNS if t in set(result.tasks["task"])]
    scores = dict(result.tasks.set_index(["cell", "task"])["score"])
    table = TableData("MAD · measured and published", _published_caption(tasks),
                      ["model", "source", *[f"{t} ↑" for t in tasks], "mean ↑"])
    for cell in mapped:
        values = [scores.get((cell, t), math.nan) for t in tasks]
        table.add([cell, "measured here", *[_value(v) for v in values], _value(_mean(values))])
        for source, models in PUBLISHED.items():
            if SAME_LAYER[cell] in models:
                row = published(source, SAME_LAYER[cell])
                values = [row[t] for t in tasks]
                table.add([SAME_LAYER[cell], source, *[_value(v) for v in values], _value(_mean(values))], dim=True)
    return [table]


def _published_caption(tasks: list[str]) -> str:
    return ("published: test accuracy averaged over MAD's own settings (lengths to 1024, vocabularies to 8192, "
            "12,800 training examples, 2 blocks of width 128 with SwiGLU, 200 epochs, cosine schedule), the best "
            "of 3 lr × 2 weight decays chosen on test; "
            f"'{PAPER}' are the MAD paper's numbers, the others re-runs; measured here: this run's settings, "
            "chosen on validation, so the two are comparable in ranking more than in level; mean: over the "
            f"{len(tasks)} task(s) shown")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if len(finite) == len(values) and finite else math.nan


def published_check(source: str, model: str) -> tuple[float, float]:
    """(the mean of a published row, the average its source prints), both in percent."""
    row = PUBLISHED[source][model]
    return sum(row) / len(row), PUBLISHED_AVERAGE[(source, model)]


__all__ = ["tables", "score_table", "setting_tables", "published_tables", "published", "PUBLISHED",
           "SAME_LAYER", "TASK_COLUMNS"]

