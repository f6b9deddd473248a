"""Statistics over seeds, from scipy: mean, sample std, 95 % intervals (Student's t;
Wilson for a success rate; a logit-scale t interval for a bounded metric such as accuracy,
so neither leaves [0, 1]) and Welch's t-test between two runs' seeds."""
from __future__ import annotations

import functools
import math
from typing import Sequence

BOUNDED = ("accuracy", "solved")  # metrics that live in [0, 1]
_EPS = 1e-6  # logit clipping: a value of exactly 0 or 1 stays finite


def is_bounded(name: str) -> bool:
    """Whether metric ``name`` lives in [0, 1] (accuracy, solved rate, ``*_accuracy``)."""
    return name in BOUNDED or name.endswith("accuracy")


@functools.lru_cache(maxsize=None)
def t95(df: float) -> float:
    """Two-sided 95 % critical value of Student's t with ``df`` degrees of freedom."""
    if not df >= 1:
        return math.nan
    from scipy.special import stdtrit  # not scipy.stats: a third of its import time

    return float(stdtrit(df, 0.975))


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_std_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95 % CI of the mean); NaN where undefined."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(xs) / n
    if n == 1:
        return mean, math.nan, math.nan
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return mean, std, t95(n - 1) * std / math.sqrt(n)


def ranks_with_ties(means: Sequence[float], half_widths: Sequence[float], higher_is_better: bool) -> list[str]:
    """Rank labels in input order: '1', '2', … by mean; a rank gets '≈' when its 95 % interval
    overlaps that of the entry ranked just above it (the data do not separate the two)."""
    order = sorted((i for i, m in enumerate(means) if not math.isnan(m)),
                   key=lambda i: -means[i] if higher_is_better else means[i])
    labels = ["–"] * len(means)
    for position, i in enumerate(order):
        label = str(position + 1)
        if position:
            j = order[position - 1]
            hw_i = 0.0 if math.isnan(half_widths[i]) else half_widths[i]
            hw_j = 0.0 if math.isnan(half_widths[j]) else half_widths[j]
            unknown = math.isnan(half_widths[i]) or math.isnan(half_widths[j])
            if not unknown and abs(means[i] - means[j]) <= hw_i + hw_j:
                label += " ≈"
        labels[i] = label
    return labels


def interval95(values: Sequence[float], name: str = "") -> tuple[float, float]:
    """The 95 % interval of the mean of ``values``: Student's t, or for a bounded metric
    (``is_bounded(name)``) Wilson's score interval (``solved``: successes of n) or a t interval
    on the logit scale, mapped back; (nan, nan) where undefined."""
    xs = _finite(values)
    n = len(xs)
    if n < 2:
        return math.nan, math.nan
    if name != "solved" and max(xs) == min(xs):  # no spread: the value itself (not its logit clipped to ε)
        return xs[0], xs[0]
    if name == "solved":
        return wilson(sum(x >= 0.5 for x in xs), n)
    mean, std, hw = mean_std_ci(xs)
    if not is_bounded(name):
        return mean - hw, mean + hw
    logits = [math.log(p / (1 - p)) for p in (min(max(x, _EPS), 1 - _EPS) for x in xs)]
    m, _, h = mean_std_ci(logits)
    return _expit(m - h), _expit(m + h)


def _expit(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval (95 %) of a success rate ``successes / n``."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


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
