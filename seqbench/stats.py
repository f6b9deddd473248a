"""Statistics over seeds, from scipy: mean, sample std, 95 % intervals of the mean that stay in
the metric's domain and contain the mean a table shows, ranks with ties read off those
intervals, and Welch's t-test between two runs' seeds.

The interval of a metric depends on its domain (``domain``):
- ``[0, 1]`` (accuracy, ``*_accuracy``): a t interval on the logit scale centred on logit(mean),
  by the delta method (standard error of the mean / (mean·(1 − mean))), mapped back;
- ``solved`` (a rate of seeds): Wilson's score interval, a diverged seed counted unsolved;
- ``(0, ∞)`` (loss, perplexity, bits per token, MSE, speeds, memory): a t interval on the log
  scale centred on log(mean), by the delta method (coefficient of variation / √n), mapped back:
  mean ×/÷ exp(t·CV/√n). It is an interval of the arithmetic mean (the number the tables show),
  not of the geometric mean: a t interval of the log values is one of the geometric mean and can
  miss the arithmetic mean (nine losses 1e-4 and one 0.17: mean 0.0171, log-value interval
  [3.9e-5, 1.1e-3]). A zero value is fine (only the mean is logged); an all-zero sample has the
  interval [0, 0];
- any other metric: Student's t.
Each contains the mean and stays in its domain. With fewer than ``MIN_SEEDS`` values there is no
interval: the bounds are NaN and ``Interval.note`` says "n too small" (a 2-seed t interval
multiplies the spread by t₁ = 12.7)."""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional, Sequence

MIN_SEEDS = 3  # fewer values: "n too small", no interval
BOUNDED = ("accuracy", "solved")  # metrics that live in [0, 1]
# metrics and harness columns that live in [0, ∞): a loss, its exponent and rescalings, speeds, sizes
POSITIVE = ("loss", "perplexity", "bits_per_token", "bits_per_char", "mse", "train_tok_s", "infer_tok_s",
            "peak_mem_mb", "train_mem_mb", "steps", "steps_to_solve", "params", "hidden", "gen_ms_per_tok")
_POSITIVE_SUFFIXES = ("loss", "perplexity", "bits_per_token", "bits_per_char", "mse")
TOO_SMALL = "n too small"


class Interval(NamedTuple):
    """A 95 % interval of the mean: its bounds (NaN where there is none) and a ``note``: how it
    was computed or, with NaN bounds, why there is none (starting "n too small" below 3 values)."""

    lo: float
    hi: float
    note: str


def is_bounded(name: str) -> bool:
    """Whether metric ``name`` lives in [0, 1] (accuracy, solved rate, ``*_accuracy``)."""
    return name in BOUNDED or name.endswith("accuracy")


def is_positive(name: str) -> bool:
    """Whether metric ``name`` lives in [0, ∞) (a loss, perplexity, bits per token, MSE, a speed or size)."""
    return name in POSITIVE or name.endswith(_POSITIVE_SUFFIXES)


def domain(name: str) -> str:
    """``"solved"``, ``"unit"`` ([0, 1]), ``"positive"`` ([0, ∞)) or ``"real"``."""
    if name == "solved":
        return "solved"
    return "unit" if is_bounded(name) else "positive" if is_positive(name) else "real"


METHODS = {
    "solved": "Wilson score interval of the rate (a diverged seed counts unsolved)",
    "unit": "t interval on the logit scale centred on the mean (delta method), inside [0, 1]",
    "positive": "t interval on the log scale centred on the mean (delta method: mean ×/÷ exp(t·CV/√n)), above 0",
    "real": "Student's t interval",
}


def method(name: str) -> str:
    """How the 95 % interval of metric ``name`` is computed, for a caption."""
    return METHODS[domain(name)]


# scipy.special.stdtrit(df, 0.975) for df = 1..30, to the last bit (tests/test_intervals.py checks):
# a run's tables need no scipy import (0.3-0.8 s of a small run's fixed cost)
T95_TABLE = (12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
             2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
             2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
             2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
             2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
             2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378)


@functools.lru_cache(maxsize=None)
def t95(df: float) -> float:
    """Two-sided 95 % critical value of Student's t with ``df`` degrees of freedom."""
    if not df >= 1:
        return math.nan
    if df == int(df) and df <= len(T95_TABLE):
        return T95_TABLE[int(df) - 1]
    from scipy.special import stdtrit  # not scipy.stats: a third of its import time

    return float(stdtrit(df, 0.975))


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_std_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the plain Student's t 95 % CI of the mean); NaN where
    undefined. Tables show ``interval`` instead (in the metric's domain, none below 3 values)."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(xs) / n
    if n == 1:
        return mean, math.nan, math.nan
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return mean, std, t95(n - 1) * std / math.sqrt(n)


def interval(values: Sequence[float], name: str = "") -> Interval:
    """The 95 % interval of the mean of ``values`` for metric ``name``, in its domain and
    containing the mean (see the module's docstring); NaN bounds with a ``note`` saying why
    where there is none (NaN values are left out first; fewer than ``MIN_SEEDS`` remain, an
    infinite value, a value outside the domain)."""
    xs = _finite(values)
    n = len(xs)
    kind = domain(name)
    if n < MIN_SEEDS:
        return Interval(math.nan, math.nan, f"{TOO_SMALL} ({n} value{'s' * (n != 1)}; an interval needs {MIN_SEEDS})")
    if not all(math.isfinite(x) for x in xs):
        return Interval(math.nan, math.nan, "no interval: an infinite value")
    if kind in ("unit", "solved") and not all(0.0 <= x <= 1.0 for x in xs):
        return Interval(math.nan, math.nan, "no interval: a value outside [0, 1]")
    if kind == "positive" and min(xs) < 0:
        return Interval(math.nan, math.nan, "no interval: a negative value of a metric that cannot be negative")
    if kind == "solved":
        lo, hi = wilson(sum(x >= 0.5 for x in xs), n)
        return Interval(lo, hi, METHODS[kind])
    if max(xs) == min(xs):  # no spread: the value itself (its float mean may lie an ulp off it)
        return Interval(xs[0], xs[0], "no spread over the seeds")
    mean, std, _ = mean_std_ci(xs)
    se, t = std / math.sqrt(n), t95(n - 1)
    if kind == "positive":  # mean > 0: some value is above 0
        h = t * se / mean
        return Interval(mean * math.exp(-h), mean * math.exp(h), METHODS[kind])
    if kind == "unit":  # 0 < mean < 1: the values differ within [0, 1]
        centre, h = math.log(mean / (1 - mean)), t * se / (mean * (1 - mean))
        return Interval(_expit(centre - h), _expit(centre + h), METHODS[kind])
    return Interval(mean - t * se, mean + t * se, METHODS[kind])


def interval95(values: Sequence[float], name: str = "") -> tuple[float, float]:
    """``(lo, hi)`` of ``interval(values, name)``: (nan, nan) where there is none."""
    lo, hi, _ = interval(values, name)
    return lo, hi


def _expit(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval (95 %) of a success rate ``successes / n`` (it always holds the rate)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def overlap(a: tuple[float, float], b: tuple[float, float]) -> Optional[bool]:
    """Whether intervals ``a`` and ``b`` share a point; None when either is unknown (NaN)."""
    if any(math.isnan(x) for x in (*a, *b)):
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def ranks_from_intervals(means: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                         higher_is_better: bool) -> list[str]:
    """Rank labels in input order: '1', '2', … by mean ('–': no mean); a rank gets '≈' when its
    interval ``[lows[i], highs[i]]`` overlaps that of the entry ranked just above it (the shown
    intervals do not separate the two). Where either interval is unknown no tie is marked."""
    order = sorted((i for i, m in enumerate(means) if not math.isnan(m)),
                   key=lambda i: -means[i] if higher_is_better else means[i])
    labels = ["–"] * len(means)
    for position, i in enumerate(order):
        label = str(position + 1)
        if position:
            j = order[position - 1]
            if overlap((lows[i], highs[i]), (lows[j], highs[j])):
                label += " ≈"
        labels[i] = label
    return labels


def ranks_with_ties(means: Sequence[float], half_widths: Sequence[float], higher_is_better: bool) -> list[str]:
    """``ranks_from_intervals`` of the symmetric intervals mean ± half-width (a NaN half-width:
    unknown). Tables rank from the intervals they show: ``ranks_from_intervals``."""
    lows = [m - h for m, h in zip(means, half_widths)]
    highs = [m + h for m, h in zip(means, half_widths)]
    return ranks_from_intervals(means, lows, highs, higher_is_better)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) between samples ``a`` and
    ``b``; nan with fewer than two values on a side, 1.0 or 0.0 when both have no spread."""
    xs, ys = _finite(a), _finite(b)
    if len(xs) < 2 or len(ys) < 2:
        return math.nan
    if max(xs) == min(xs) and max(ys) == min(ys):
        return 1.0 if xs[0] == ys[0] else 0.0
    from scipy import stats

    return float(stats.ttest_ind(xs, ys, equal_var=False).pvalue)
