"""How a cost grows with sequence length: the exponent b of a power law t ≈ c·T^b.

Fitted by least squares on log t against log T, with the fit's R² and the standard error of
the exponent (both need at least 3 lengths). b ≈ 1 means linear in T (a recurrent cell's
training step), b → 2 quadratic (attention, once it dominates at long lengths). A single
exponent over a wide range of lengths averages regimes, so ``local_exponent`` also gives the
slope between the two longest lengths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class PowerFit:
    exponent: float  # b in t ≈ c·T^b
    coefficient: float  # c
    r2: float  # coefficient of determination of the log-log fit (NaN below 3 points)
    stderr: float  # standard error of b (NaN below 3 points)
    points: int


NAN_FIT = PowerFit(math.nan, math.nan, math.nan, math.nan, 0)


def fit_power_law(lengths: Sequence[float], times: Sequence[float]) -> PowerFit:
    """Least-squares fit of log t = log c + b·log T over the pairs with T > 0 and finite t > 0."""
    pairs = [(math.log(T), math.log(t)) for T, t in zip(lengths, times)
             if T and T > 0 and t is not None and math.isfinite(t) and t > 0]
    n = len(pairs)
    if n < 2 or len({x for x, _ in pairs}) < 2:
        return PowerFit(math.nan, math.nan, math.nan, math.nan, n)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    b = sxy / sxx
    a = my - b * mx
    if n < 3:
        return PowerFit(b, math.exp(a), math.nan, math.nan, n)
    ss_res = sum((y - a - b * x) ** 2 for x, y in pairs)
    ss_tot = sum((y - my) ** 2 for _, y in pairs)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    stderr = math.sqrt(ss_res / (n - 2) / sxx)
    return PowerFit(b, math.exp(a), r2, stderr, n)


def local_exponent(lengths: Sequence[float], times: Sequence[float]) -> float:
    """Slope of log t against log T between the two longest lengths with a valid time."""
    pairs = sorted((T, t) for T, t in zip(lengths, times)
                   if T and T > 0 and t is not None and math.isfinite(t) and t > 0)
    if len(pairs) < 2 or pairs[-1][0] == pairs[-2][0]:
        return math.nan
    (T1, t1), (T2, t2) = pairs[-2], pairs[-1]
    return math.log(t2 / t1) / math.log(T2 / T1)
