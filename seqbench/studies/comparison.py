"""``seqbench compare``: two or more runs (or speed runs) side by side, the way ``asv compare``
and ``pytest-benchmark compare`` put two commits side by side.

Rows are matched by cell × task × length (a speed run: cell × length), and by the ``config``
column where every run has one. Per matched row and metric: each run's value, its ratio to
the first run's, and a verdict — ``better``, ``worse`` or ``not distinguishable`` — from
Welch's t-test over seeds (p < 0.05) for quality metrics, and from non-overlapping
interquartile bands for timings (a band per run spans every seed's median ± half its IQR).
Rows found in some runs only are listed apart (``frame.attrs["unmatched"]``).

(Not ``compare.py``: importing a submodule ``seqbench.compare`` would replace the function
``seqbench.compare``.)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Optional

from seqbench.errors import UsageError
from seqbench.runs.info import solved_flags
from seqbench.tasks.base import primary_metric

ALPHA = 0.05
VERDICTS = ("better", "worse", "not distinguishable")
RUN_TIMINGS = {"train_tok_s": ("train_iqr", True), "infer_tok_s": ("infer_iqr", True)}
SPEED_TIMINGS = {"train_tok_s": ("train_iqr", True), "infer_tok_s": ("infer_iqr", True),
                 "gen_ms_per_tok": ("gen_iqr", False)}
THROUGHPUT = ("train_tok_s", "infer_tok_s", "gen_ms_per_tok")


def compare(runs: Iterable[Any]) -> Any:
    """Compare run directories (the first is the baseline); one row per matched key × metric.

    Columns: the key (``cell``, ``task``, ``length``, and ``config`` when every run has it),
    ``metric``, ``higher_is_better``, ``kind`` (quality or timing), ``primary`` (the task's
    primary metric, or a throughput), then per run label L: ``L`` (mean over seeds, or median
    for timings), ``L_n`` (seeds); for every run after the first ``ratio_L`` (L over the
    baseline), ``p_L`` (Welch's p; NaN for timings) and ``verdict_L``. ``attrs``: ``runs``
    (labels), ``unmatched`` (label and key of each row not in every run), ``kind``.
    """
    import pandas as pd

    from seqbench.runs.info import load_run_info

    paths = [str(p) for p in runs]
    if len(paths) < 2:
        raise UsageError("compare needs at least two run directories")
    infos = []
    for path in paths:
        if not Path(path).is_dir():
            raise UsageError(f"{path} is not a run directory")
        info = load_run_info(path)
        if info.results is None or info.results.empty:
            raise UsageError(f"{path} has no finished trials")
        infos.append(info)
    kinds = {info.is_speed for info in infos}
    if len(kinds) > 1:
        raise UsageError("compare runs of one kind: all seqbench run or all seqbench speed directories")
    speed = kinds.pop()
    labels = _labels(paths)
    frames = [info.results[info.results["status"] == "ok"] for info in infos]
    keys = ["cell", "length"] if speed else ["cell", "task", "length"]
    if all("config" in f for f in frames):
        keys.append("config")
    metrics = _metrics(infos, speed)
    grouped = [{k: g for k, g in f.groupby(keys, sort=False)} for f in frames]
    every = list(dict.fromkeys(k for g in grouped for k in g))
    matched = [k for k in every if all(k in g for g in grouped)]
    unmatched = [(label, dict(zip(keys, k))) for k in every if k not in matched
                 for label, g in zip(labels, grouped) if k in g]
    records = []
    for key in matched:
        groups = [g[key] for g in grouped]
        primary = "" if speed else primary_metric(infos[0].tasks, key[keys.index("task")], key[keys.index("length")])[0]
        for metric, (higher, timing) in metrics.items():
            if not all(metric in g and g[metric].notna().any() for g in groups):
                continue
            record: dict[str, Any] = dict(zip(keys, key))
            record.update(metric=metric, higher_is_better=higher, kind="timing" if timing else "quality",
                          primary=metric == primary or metric in THROUGHPUT)
            _fill(record, groups, labels, metric, higher, timing, speed)
            records.append(record)
    frame = pd.DataFrame(records)
    frame.attrs.update(runs=labels, unmatched=unmatched, kind="speed" if speed else "run", keys=keys)
    return frame


def _labels(paths: list[str]) -> list[str]:
    """A short, unique label per run: its directory name (``#2`` etc. on a repeat)."""
    out: list[str] = []
    for path in paths:
        name = Path(path).name or str(path)
        label, n = name, 2
        while label in out:
            label, n = f"{name}#{n}", n + 1
        out.append(label)
    return out


def _metrics(infos: list[Any], speed: bool) -> dict[str, tuple[bool, bool]]:
    """Compared columns: name → (higher is better, is a timing)."""
    if speed:
        return {name: (higher, True) for name, (_, higher) in SPEED_TIMINGS.items()}
    from seqbench.tasks.metrics import DIRECTIONS

    out = {name: (bool(higher), False) for name, higher in {**DIRECTIONS, **infos[0].metrics}.items()}
    out["solved"] = (True, False)
    out.update({name: (higher, True) for name, (_, higher) in RUN_TIMINGS.items()})
    return out


def _values(group: Any, metric: str) -> list[float]:
    import pandas as pd

    if metric == "solved":
        return solved_flags(group[metric]).astype(float).tolist()
    return pd.to_numeric(group[metric], errors="coerce").dropna().astype(float).tolist()


def _band(group: Any, metric: str, speed: bool) -> tuple[float, float, float]:
    """(median, low, high): the timing's median over seeds and the band spanned by every
    seed's median ± half its interquartile range (relative IQR); low and high are NaN, so
    nothing is distinguished, when an IQR is missing (fewer than 4 timed calls)."""
    import statistics

    import pandas as pd

    iqr_col = (SPEED_TIMINGS if speed else RUN_TIMINGS)[metric][0]
    values = pd.to_numeric(group[metric], errors="coerce")
    iqrs = pd.to_numeric(group.get(iqr_col, pd.Series(math.nan, index=group.index)), errors="coerce")
    pairs = [(v, q) for v, q in zip(values, iqrs) if not math.isnan(v)]
    if not pairs:
        return math.nan, math.nan, math.nan
    if any(math.isnan(q) for _, q in pairs):
        return statistics.median(v for v, _ in pairs), math.nan, math.nan
    return (statistics.median(v for v, _ in pairs), min(v * (1 - q / 2) for v, q in pairs),
            max(v * (1 + q / 2) for v, q in pairs))


def _fill(record: dict, groups: list, labels: list[str], metric: str, higher: bool, timing: bool,
          speed: bool) -> None:
    from seqbench.stats import welch_p

    base_values = _values(groups[0], metric)
    base_band = _band(groups[0], metric, speed) if timing else None
    for n, (label, group) in enumerate(zip(labels, groups)):
        values = _values(group, metric)
        if timing:
            centre, low, high = _band(group, metric, speed)
        else:
            centre = sum(values) / len(values) if values else math.nan
        record[label], record[f"{label}_n"] = centre, len(values)
        if n == 0:
            base = centre
            continue
        record[f"ratio_{label}"] = centre / base if base else math.nan
        if timing:
            record[f"p_{label}"] = math.nan
            separated = high < base_band[1] or low > base_band[2]
        else:
            p = welch_p(base_values, values)
            record[f"p_{label}"] = p
            separated = not math.isnan(p) and p < ALPHA
        if not separated or centre == base:
            record[f"verdict_{label}"] = "not distinguishable"
        else:
            record[f"verdict_{label}"] = "better" if (centre > base) == higher else "worse"


def worse(frame: Any, pct: float) -> list[dict[str, Any]]:
    """Each primary metric or throughput that is worse, significantly, by more than ``pct``
    percent in some run compared with the first: ``where`` (the key), ``metric``, ``change`` (%),
    ``run`` and ``baseline`` (labels), ``value`` and ``base``."""
    out: list[dict[str, Any]] = []
    if frame.empty:
        return out
    keys, labels = frame.attrs.get("keys", []), frame.attrs.get("runs", [])
    base_label = labels[0] if labels else ""
    for _, row in frame[frame["primary"]].iterrows():
        base = row[base_label]
        for label in labels[1:]:
            value = row[label]
            if row[f"verdict_{label}"] != "worse" or not base:
                continue
            change = 100 * (base - value) / abs(base) if row["higher_is_better"] else 100 * (value - base) / abs(base)
            if change > pct:
                out.append({"where": {k: row[k] for k in keys}, "metric": row["metric"], "change": change,
                            "run": label, "baseline": base_label, "value": value, "base": base})
    return out


def check_pct(value: Optional[str]) -> Optional[float]:
    """``--fail-on-regression PCT`` as a number (a trailing % allowed); UsageError otherwise."""
    if value is None:
        return None
    try:
        pct = float(str(value).rstrip("%"))
    except ValueError:
        raise UsageError(f"--fail-on-regression takes a percentage, e.g. 5, not '{value}'") from None
    if not pct >= 0:
        raise UsageError(f"--fail-on-regression must be 0 or more, not {value}")
    return pct
