"""Statistics over seeds: mean, sample std, 95 % confidence intervals (Student's t)."""
from __future__ import annotations

import math
from typing import Sequence

# two-sided 95 % critical values of Student's t by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000,
        120: 1.980}
_Z95 = 1.960


def t95(df: int) -> float:
    """Two-sided 95 % critical value of Student's t with ``df`` degrees of freedom
    (tabulated; linear in 1/df between table entries, accurate to about 1e-3)."""
    if df < 1:
        return math.nan
    if df in _T95:
        return _T95[df]
    keys = sorted(_T95)
    if df > keys[-1]:
        lo_df, lo_t, hi_inv, hi_t = keys[-1], _T95[keys[-1]], 0.0, _Z95
    else:
        lo_df = max(k for k in keys if k < df)
        hi_df = min(k for k in keys if k > df)
        lo_t, hi_inv, hi_t = _T95[lo_df], 1.0 / hi_df, _T95[hi_df]
    lo_inv = 1.0 / lo_df
    return hi_t + (lo_t - hi_t) * (1.0 / df - hi_inv) / (lo_inv - hi_inv)


def mean_std_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, sample std, half-width of the 95 % CI of the mean); NaN where undefined."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
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
