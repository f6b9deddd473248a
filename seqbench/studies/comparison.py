"""``seqbench compare``: two or more runs (or speed runs) side by side, the way ``asv compare``
and ``pytest-benchmark compare`` put two commits side by side.

Rows are matched by cell × task × length (a speed run: cell × length), plus the trial options
that vary within a run (a sweep's axes: lr, hidden or params, layers, batch, dropout, clip, cell
and task options), so that a sweep is matched configuration by configuration. Options that are
the same within each run but differ between runs (``--lr``, ``--steps``, ...) do not split rows:
they are what is being compared, and ``frame.attrs["differences"]`` names them. Rows found in
some runs only are listed apart (``frame.attrs["unmatched"]``); when nothing is compared at all,
``compare`` raises UsageError.

Per matched row and metric: each run's value, and for every later run the difference and the
ratio to the first run's, each with its 95 % interval (``seqbench.studies.significance``).
One metric per task is tested (the task's primary metric; a speed run's throughputs): paired
t-test on the seed-matched differences when both runs hold the same seeds, Welch's t-test
otherwise, Fisher's exact test for the solved rate; the p-values of the whole family of tested
comparisons (every row × later run) are corrected by Holm's step-down (or Benjamini–Hochberg)
and a verdict is ``better`` or ``worse`` only when the corrected p < 0.05. Other verdicts: ``not
distinguishable``; ``no difference`` (identical samples); ``differs (no spread)`` (both samples
constant but different: no p-value, only the difference); ``inconclusive`` (fewer than 3 seeds
a side). Other metrics are shown with their effect sizes, not tested (verdict ""). A speed
run's throughputs are judged by non-overlapping interquartile bands (a band per run spans every
seed's median ± half its IQR), outside the family: they are measurements, not seed samples.

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
VERDICTS = ("better", "worse", "not distinguishable", "no difference", "differs (no spread)", "inconclusive", "")
RUN_TIMINGS = {"train_tok_s": ("train_iqr", True), "infer_tok_s": ("infer_iqr", True)}
SPEED_TIMINGS = {"train_tok_s": ("train_iqr", True), "infer_tok_s": ("infer_iqr", True),
                 "gen_ms_per_tok": ("gen_iqr", False)}
THROUGHPUT = ("train_tok_s", "infer_tok_s", "gen_ms_per_tok")


def compare(runs: Iterable[Any], correction: str = "holm", tested: Optional[str] = None) -> Any:
    """Compare run directories (the first is the baseline); one row per matched key × metric.

    Columns: the key (``cell``, ``task``, ``length``, then each option a run varies, e.g.
    ``lr``), ``metric``, ``higher_is_better``, ``kind`` (quality or timing), ``primary`` (the
    tested metric: the task's primary metric, or ``tested`` when given, e.g. ``"solved"``; a
    speed run's throughputs), then per run label L: ``L`` (mean over seeds, or median for
    timings), ``L_n`` (seeds); for every run after the first: ``diff_L`` (L minus the baseline)
    with ``diff_lo_L``/``diff_hi_L`` (its 95 % interval), ``ratio_L`` (L over the baseline) with
    ``ratio_lo_L``/``ratio_hi_L``, ``test_L`` (``paired t``, ``Welch``, ``Fisher``, ``IQR bands``
    or ""), ``status_L`` (``tested``, ``identical``, ``no spread``, ``too few``, ``bands apart``,
    ``bands overlap``, ``no bands``: an IQR is missing), ``p_L`` (uncorrected, every quality
    metric), ``p_adj_L`` (corrected over the family; tested rows only) and ``verdict_L`` (see
    the module). ``correction``: ``holm``
    or ``bh``. ``attrs``: ``runs`` (labels), ``keys``, ``options`` (the option keys),
    ``differences`` (per later run: the options that differ from the first run's, as ``[name,
    first, this]``), ``unmatched`` (label and key of each row not in every run), ``kind``,
    ``correction``, ``family`` (the number of corrected p-values), ``alpha``. UsageError when
    no row or no metric is in every run, or for an unknown correction.
    """
    import pandas as pd

    from seqbench.runs.info import load_run_info
    from seqbench.studies.significance import CORRECTIONS

    if correction not in CORRECTIONS:
        raise UsageError(f"unknown correction '{correction}'; use {' or '.join(CORRECTIONS)}")
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
    base_keys = ["cell", "length"] if speed else ["cell", "task", "length"]
    differences = _differences(infos, frames, labels, speed)
    frames, options = ([f.copy() for f in frames], []) if speed else _option_keys(frames, base_keys)
    keys = base_keys + options
    metrics = _metrics(infos, speed)
    grouped = [{k: g for k, g in f.groupby(keys, sort=False)} for f in frames]
    every = list(dict.fromkeys(k for g in grouped for k in g))
    matched = [k for k in every if all(k in g for g in grouped)]
    unmatched = [(label, dict(zip(keys, k))) for k in every if k not in matched
                 for label, g in zip(labels, grouped) if k in g]
    records = []
    for key in matched:
        groups = [g[key] for g in grouped]
        primary = "" if speed else tested or primary_metric(infos[0].tasks, key[keys.index("task")],
                                                            key[keys.index("length")])[0]
        for metric, (higher, timing) in metrics.items():
            if not all(metric in g and g[metric].notna().any() for g in groups):
                continue
            record: dict[str, Any] = dict(zip(keys, key))
            record.update(metric=metric, higher_is_better=higher, kind="timing" if timing else "quality",
                          primary=metric in THROUGHPUT if speed else metric == primary)
            _fill(record, groups, labels, metric, higher, timing, speed)
            records.append(record)
    if not records:
        why = (f"no {' × '.join(keys)} is in every run ({_contents(frames, labels, speed)})" if not matched
               else f"the {len(matched)} rows in every run share no metric")
        raise UsageError(f"nothing to compare: {why}; {'; '.join(header_lines(labels, differences))}")
    frame = pd.DataFrame(records)
    family = _verdicts(frame, labels, correction)
    frame.attrs.update(runs=labels, unmatched=unmatched, kind="speed" if speed else "run", keys=keys,
                       options=options, differences=differences, correction=correction, family=family,
                       alpha=ALPHA)
    return frame


def _contents(frames: list[Any], labels: list[str], speed: bool, most: int = 3) -> str:
    """``A: adding T=20, copy T=40; B: copy T=80`` (at most ``most`` per run)."""
    parts = []
    for label, frame in zip(labels, frames):
        tasks = [""] * len(frame) if speed else [f"{t} " for t in frame["task"]]
        pairs = list(dict.fromkeys(f"{t}T={n}" for t, n in zip(tasks, frame["length"])))
        parts.append(f"{label}: " + ", ".join(pairs[:most]) + (", …" if len(pairs) > most else ""))
    return "; ".join(parts)


# the columns of results.csv that hold a trial's options; params_budget stands for hidden when set
ROW_OPTIONS = ("lr", "params_budget", "hidden", "layers", "batch", "dropout", "clip")
ROW_OPTION_SETS = {"cell_opts": "cell.", "task_opts": "task."}
NOT_OPTIONS = ("cells", "tasks", "lengths", "description")  # config.json entries that are rows, not options


def _option_keys(frames: list[Any], base_keys: list[str]) -> tuple[list[Any], list[str]]:
    """Each frame with its trial options as text columns (``lr``, ``params``, ``cell.NAME``, ...)
    and the options that vary within some cell × task × length of some run, in which rows are
    then matched too. Where a run's configurations (the ``config`` hash) are still not told
    apart by those options, ``config`` joins them."""
    out = [_with_options(f) for f in frames]
    names = list(dict.fromkeys(c for f, _ in out for c in f))
    frames = [f for _, f in out]
    varying = [n for n in names if any(_varies(f, base_keys, n) for f in frames)]
    for frame in frames:
        for name in varying:
            if name not in frame:
                frame[name] = ""
    if all("config" in f for f in frames) and any(_varies(f, base_keys + varying, "config") for f in frames):
        varying.append("config")
    return frames, varying


def _with_options(frame: Any) -> tuple[list[str], Any]:
    import json

    frame = frame.copy()
    names = []
    budget = frame["params_budget"].map(_text) if "params_budget" in frame else None
    for column in ROW_OPTIONS:
        if column not in frame:
            continue
        values = frame[column].map(_text)
        if column == "hidden" and budget is not None:
            values = values.where(budget == "", "")  # a budget's width is derived, not chosen
        name = "params" if column == "params_budget" else column
        frame[name] = values
        names.append(name)
    for column, prefix in ROW_OPTION_SETS.items():
        if column not in frame:
            continue
        parsed = [json.loads(v) if isinstance(v, str) and v.strip() else {} for v in frame[column]]
        for option in dict.fromkeys(k for p in parsed for k in p):
            frame[prefix + option] = [_text(p.get(option)) if option in p else "" for p in parsed]
            names.append(prefix + option)
    return names, frame


def _varies(frame: Any, keys: list[str], name: str) -> bool:
    if name not in frame or frame.empty:
        return False
    return bool((frame.groupby(keys, sort=False)[name].nunique(dropna=False) > 1).any())


def _text(value: Any) -> str:
    """An option's value as text, the same for ``3``, ``3.0`` and ``"3"``; "" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)) or (isinstance(value, str) and _is_number(value)):
        number = float(value)
        if math.isnan(number):
            return ""
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("true", "false")


def _differences(infos: list[Any], frames: list[Any], labels: list[str], speed: bool) -> dict[str, list[list[str]]]:
    """Per run after the first: ``[name, first run's value, this run's value]`` for each option
    (config.json's, or the results' option columns where a run has no config.json) that differs."""
    settings = [_settings(info, frame, speed) for info, frame in zip(infos, frames)]
    out = {}
    for label, other in zip(labels[1:], settings[1:]):
        names = list(dict.fromkeys([*settings[0], *other]))
        out[label] = [[n, settings[0].get(n, "–"), other.get(n, "–")] for n in names
                      if settings[0].get(n, "–") != other.get(n, "–")]
    return out


def _settings(info: Any, frame: Any, speed: bool) -> dict[str, str]:
    """A run's options as name → text (a suite's several entries joined by `` / ``)."""
    config = info.config or {}
    entries = [config["config"]] if speed and isinstance(config.get("config"), dict) else config.get("configs") or []
    if entries:
        out: dict[str, list[str]] = {}
        for entry in entries:
            for name, value in entry.items():
                if name not in NOT_OPTIONS:
                    out.setdefault(name, [])
                    if _shown(value) not in out[name]:
                        out[name].append(_shown(value))
        return {name: " / ".join(values) for name, values in out.items()}
    names, frame = _with_options(frame)
    out = {}
    for name in names:
        values = sorted(set(frame[name]) - {""}, key=_order)
        out[name] = values[0] if len(values) == 1 else ("[" + ", ".join(values) + "]" if values else "none")
    return out


def _order(text: str) -> tuple:
    return (0, float(text), "") if _is_number(text) else (1, 0.0, text)


def _shown(value: Any) -> str:
    """An option's value for the header: ``0.003``, ``1e-06``, ``[0.001, 0.003]``, ``none``."""
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return _text(value) or "none"


def header_lines(labels: list[str], differences: dict[str, list[list[str]]]) -> list[str]:
    """``A vs B differ in: lr 0.003 → 1e-06, steps 40 → 2`` per run after the first."""
    out = []
    for label in labels[1:]:
        found = differences.get(label, [])
        if found:
            out.append(f"{labels[0]} vs {label} differ in: " + ", ".join(f"{n} {a} → {b}" for n, a, b in found))
        else:
            out.append(f"{labels[0]} vs {label}: same options")
    return out


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
    """Each run's centre and seed count; per later run the difference, ratio, test and uncorrected
    p (``significance.two_samples``; timings: IQR bands, speed runs only). Verdicts come later,
    from the corrected p-values (``_verdicts``)."""
    from seqbench.studies.significance import two_samples

    base_values, base_seeds = _values(groups[0], metric), _seeds(groups[0], metric)
    base_band = _band(groups[0], metric, speed) if timing else None
    base = math.nan
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
        if timing:
            found = {"test": "IQR bands" if speed else "", "status": "bands", "p": math.nan, "diff": centre - base,
                     "diff_lo": math.nan, "diff_hi": math.nan, "ratio": centre / base if base else math.nan,
                     "ratio_lo": math.nan, "ratio_hi": math.nan}
            separated = high < base_band[1] or low > base_band[2]
            unknown = any(math.isnan(v) for v in (low, high, *base_band[1:]))
            found["status"] = ("no bands" if unknown else "bands apart" if separated and centre != base
                               else "bands overlap")
        else:
            found = vars(two_samples(base_values, values, base_seeds, _seeds(group, metric), binary=metric == "solved"))
        for name in ("diff", "diff_lo", "diff_hi", "ratio", "ratio_lo", "ratio_hi", "test", "status", "p"):
            record[f"{name}_{label}"] = found[name]


def _seeds(group: Any, metric: str) -> Optional[list[int]]:
    """The seed of each value ``_values`` returns (None when the rows have no seed column)."""
    import pandas as pd

    if "seed" not in group:
        return None
    if metric != "solved":
        group = group[pd.to_numeric(group[metric], errors="coerce").notna()]
    seeds = pd.to_numeric(group["seed"], errors="coerce")
    return None if seeds.isna().any() else [int(s) for s in seeds]


def _verdicts(frame: Any, labels: list[str], correction: str) -> int:
    """Set ``p_adj_L`` and ``verdict_L`` for every later run; returns the family's size. The
    family: every tested (primary) quality comparison with a p-value, over all rows and runs."""
    from seqbench.studies.significance import adjust

    later = labels[1:]
    tested = (frame["primary"] & (frame["kind"] == "quality")).tolist()
    cells = [(i, label) for label in later for i in range(len(frame))
             if tested[i] and frame.at[i, f"status_{label}"] in ("tested", "identical")]
    adjusted = adjust([float(frame.at[i, f"p_{label}"]) for i, label in cells], correction)
    for label in later:
        frame[f"p_adj_{label}"] = math.nan
        frame[f"verdict_{label}"] = ""
    for (i, label), p in zip(cells, adjusted):
        frame.at[i, f"p_adj_{label}"] = p
    for label in later:
        frame[f"verdict_{label}"] = [_verdict(frame.loc[i], label, tested[i]) for i in range(len(frame))]
    return sum(not math.isnan(p) for p in adjusted)


def _verdict(row: Any, label: str, tested: bool) -> str:
    status = row[f"status_{label}"]
    if status in ("bands apart", "bands overlap", "no bands"):
        if not row["primary"]:
            return ""
        if status != "bands apart":
            return "not distinguishable"
        return "better" if (row[f"diff_{label}"] > 0) == bool(row["higher_is_better"]) else "worse"
    if not tested:
        return ""
    if status == "too few":
        return "inconclusive"
    if status == "identical":
        return "no difference"
    if status == "no spread":
        return "differs (no spread)"
    p = row[f"p_adj_{label}"]
    if not p < ALPHA or row[f"diff_{label}"] == 0:
        return "not distinguishable"
    return "better" if (row[f"diff_{label}"] > 0) == bool(row["higher_is_better"]) else "worse"


def worse(frame: Any, pct: float) -> list[dict[str, Any]]:
    """Each tested metric (the task's primary metric; a speed run's throughputs) that is worse,
    significantly after the family's correction, by more than ``pct`` percent in some run compared
    with the first: ``where`` (the key), ``metric``, ``change`` (%), ``run`` and ``baseline``
    (labels), ``value`` and ``base``. UsageError when no tested metric was compared (a gate that
    compared nothing never passes)."""
    out: list[dict[str, Any]] = []
    if frame.empty or not frame["primary"].any():
        raise UsageError("nothing to check for regressions: no primary metric or throughput is in every run")
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


UNDECIDED = ("inconclusive", "differs (no spread)")  # verdicts no test could decide


def undecided(frame: Any) -> Optional[str]:
    """Why no tested comparison of ``frame`` could be decided (each one inconclusive, under 3 seeds
    a side, or constant samples with no spread), or None when at least one was: a regression gate
    that could decide nothing must not pass."""
    labels = frame.attrs.get("runs", [])[1:]
    if frame.empty or not frame["primary"].any() or not labels:
        return None
    verdicts = [v for label in labels for v in frame.loc[frame["primary"], f"verdict_{label}"] if v]
    if not verdicts or any(v not in UNDECIDED for v in verdicts):
        return None
    if all(v == "inconclusive" for v in verdicts):
        return "every tested comparison is inconclusive: fewer than 3 seeds a side (rerun with --seeds 3 or more)"
    return "no tested comparison could be decided: fewer than 3 seeds a side, or samples with no spread"


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
