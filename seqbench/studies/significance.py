"""The tests behind ``seqbench compare``: one run's seeds against another's for one metric.

``two_samples`` picks the test and returns the effect size with its 95 % interval:

- fewer than ``MIN_SEEDS`` values on a side: no test (``inconclusive``), only the difference;
- identical samples (seed by seed when paired, else as multisets): ``identical``, p = 1;
- a rate (``binary``, e.g. solved): Fisher's exact test on the 2 × 2 table, the difference of
  rates with Newcombe's hybrid score interval (from Wilson's);
- both samples constant but different: no p-value (a t statistic would be infinite),
  ``no spread``, only the difference;
- seeds shared by both runs (the same set, once each) and seed-matched differences that vary:
  the paired t-test on those differences;
- otherwise Welch's t-test (unequal variances).

The ratio of means gets a delta-method interval on the log scale (so it stays positive), with
the t test's degrees of freedom; NaN where either mean is not positive. ``adjust`` corrects a
family of p-values (Holm's step-down, or Benjamini–Hochberg)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

MIN_SEEDS = 3  # fewer seeds a side: the comparison is inconclusive, never better or worse
CORRECTIONS = ("holm", "bh")
_TOL = 1e-12  # relative: values this close count as equal (floating-point noise of a CSV round trip)

NAN = math.nan


@dataclass
class TwoSamples:
    """One comparison of ``b`` against ``a``: ``test`` (``paired t``, ``Welch``, ``Fisher``, or
    ``""`` when none was run), ``status`` (``tested``, ``identical``, ``no spread``, ``too few``),
    ``p`` (two-sided, uncorrected), ``diff`` = mean(b) − mean(a) and its 95 % interval, ``ratio`` =
    mean(b) / mean(a) and its 95 % interval."""

    test: str
    status: str
    p: float = NAN
    diff: float = NAN
    diff_lo: float = NAN
    diff_hi: float = NAN
    ratio: float = NAN
    ratio_lo: float = NAN
    ratio_hi: float = NAN


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else NAN


def _var(xs: Sequence[float]) -> float:
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else NAN


def _constant(xs: Sequence[float]) -> bool:
    return max(xs) - min(xs) <= _TOL * max(abs(x) for x in xs)


def _same(xs: Sequence[float], ys: Sequence[float]) -> bool:
    return len(xs) == len(ys) and all(abs(x - y) <= _TOL * max(abs(x), abs(y)) for x, y in zip(xs, ys))


def _ratio(a: list[float], b: list[float]) -> float:
    ma, mb = _mean(a), _mean(b)
    return mb / ma if ma else NAN


def two_samples(a: Sequence[float], b: Sequence[float], seeds_a: Optional[Sequence[int]] = None,
                seeds_b: Optional[Sequence[int]] = None, binary: bool = False) -> TwoSamples:
    """Compare sample ``b`` with sample ``a`` (NaNs dropped, with their seeds); ``seeds_*`` pair
    the values when both runs hold the same seeds once each; ``binary``: values are 0/1 (a rate)."""
    pairs_a = _finite_pairs(a, seeds_a)
    pairs_b = _finite_pairs(b, seeds_b)
    xs, ys = [v for _, v in pairs_a], [v for _, v in pairs_b]
    out = TwoSamples("", "too few", diff=_mean(ys) - _mean(xs) if xs and ys else NAN, ratio=_ratio(xs, ys))
    if len(xs) < MIN_SEEDS or len(ys) < MIN_SEEDS:
        return out
    paired = _paired(pairs_a, pairs_b)
    if paired is not None:
        xs, ys = paired
    if _same(sorted(xs), sorted(ys)) if paired is None else _same(xs, ys):
        one = 1.0 if out.ratio == out.ratio else NAN
        return TwoSamples("", "identical", 1.0, 0.0, 0.0, 0.0, one, one, one)
    if binary:
        return _fisher(xs, ys, out)
    if _constant(xs) and _constant(ys):
        out.status = "no spread"
        return out
    diffs = [y - x for x, y in zip(xs, ys)] if paired is not None else None
    if diffs is not None and not _constant(diffs):
        return _paired_t(xs, ys, diffs, out)
    return _welch(xs, ys, out)


def _finite_pairs(values: Sequence[float], seeds: Optional[Sequence[int]]) -> list[tuple[Optional[int], float]]:
    seeds = list(seeds) if seeds is not None else [None] * len(values)
    return [(s, float(v)) for s, v in zip(seeds, values) if v is not None and not math.isnan(float(v))]


def _paired(pairs_a: list, pairs_b: list) -> Optional[tuple[list[float], list[float]]]:
    """Both samples ordered by seed when they hold the same seeds once each; else None."""
    seeds_a, seeds_b = [s for s, _ in pairs_a], [s for s, _ in pairs_b]
    if None in seeds_a or None in seeds_b or len(set(seeds_a)) != len(seeds_a) or set(seeds_a) != set(seeds_b) \
            or len(set(seeds_b)) != len(seeds_b):
        return None
    by_a, by_b = dict(pairs_a), dict(pairs_b)
    order = sorted(by_a)
    return [by_a[s] for s in order], [by_b[s] for s in order]


def _paired_t(xs: list[float], ys: list[float], diffs: list[float], out: TwoSamples) -> TwoSamples:
    from scipy import stats

    from seqbench.stats import t95

    n = len(diffs)
    half = t95(n - 1) * math.sqrt(_var(diffs) / n)
    mx, my = _mean(xs), _mean(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (n - 1)
    log_var = (_var(ys) / my ** 2 + _var(xs) / mx ** 2 - 2 * cov / (mx * my)) / n if mx > 0 and my > 0 else NAN
    out.test, out.status = "paired t", "tested"
    out.p = float(stats.ttest_rel(ys, xs).pvalue)
    out.diff = _mean(diffs)
    out.diff_lo, out.diff_hi = out.diff - half, out.diff + half
    out.ratio_lo, out.ratio_hi = _log_interval(out.ratio, log_var, n - 1)
    return out


def _welch(xs: list[float], ys: list[float], out: TwoSamples) -> TwoSamples:
    from scipy import stats

    from seqbench.stats import t95

    va, vb = _var(xs) / len(xs), _var(ys) / len(ys)
    df = _satterthwaite(va, len(xs), vb, len(ys))
    half = t95(df) * math.sqrt(va + vb)
    out.test, out.status = "Welch", "tested"
    out.p = float(stats.ttest_ind(ys, xs, equal_var=False).pvalue)
    out.diff_lo, out.diff_hi = out.diff - half, out.diff + half
    mx, my = _mean(xs), _mean(ys)
    if mx > 0 and my > 0:
        la, lb = va / mx ** 2, vb / my ** 2
        out.ratio_lo, out.ratio_hi = _log_interval(out.ratio, la + lb, _satterthwaite(la, len(xs), lb, len(ys)))
    return out


def _satterthwaite(va: float, na: int, vb: float, nb: int) -> float:
    """Welch–Satterthwaite degrees of freedom of ``va + vb`` (each a variance of a mean)."""
    denominator = va ** 2 / (na - 1) + vb ** 2 / (nb - 1)
    return (va + vb) ** 2 / denominator if denominator > 0 else float(na + nb - 2)


def _log_interval(ratio: float, log_var: float, df: float) -> tuple[float, float]:
    from seqbench.stats import t95

    if not (ratio > 0) or not (log_var >= 0):
        return NAN, NAN
    half = t95(df) * math.sqrt(log_var)
    return ratio * math.exp(-half), ratio * math.exp(half)


def _fisher(xs: list[float], ys: list[float], out: TwoSamples) -> TwoSamples:
    sa, sb = sum(x >= 0.5 for x in xs), sum(y >= 0.5 for y in ys)
    out.test, out.status = "Fisher", "tested"
    out.p = fisher_p(sa, len(xs), sb, len(ys))
    out.diff_lo, out.diff_hi = newcombe(sa, len(xs), sb, len(ys))
    return out


def fisher_p(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided p of Fisher's exact test: ``successes_a`` of ``n_a`` against ``successes_b`` of ``n_b``."""
    from scipy import stats

    table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
    return float(stats.fisher_exact(table).pvalue)


def newcombe(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """95 % interval of the difference of rates b − a: Newcombe's hybrid score interval (his method
    10), from each rate's Wilson interval; it stays inside [−1, 1]."""
    from seqbench.stats import wilson

    pa, pb = successes_a / n_a, successes_b / n_b
    la, ua = wilson(successes_a, n_a)
    lb, ub = wilson(successes_b, n_b)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def adjust(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    """The family's p-values corrected for multiplicity, in input order: ``holm`` (Holm's
    step-down, controls the family-wise error rate) or ``bh`` (Benjamini–Hochberg, the false
    discovery rate). NaNs are not members of the family and stay NaN."""
    if method not in CORRECTIONS:
        from seqbench.errors import UsageError

        raise UsageError(f"unknown correction '{method}'; use {' or '.join(CORRECTIONS)}")
    members = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(members)
    out = [NAN] * len(pvalues)
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(sorted(members, key=lambda i: pvalues[i])):
            running = max(running, min(1.0, (m - rank) * pvalues[i]))
            out[i] = running
    else:
        running = 1.0
        for rank, i in reversed(list(enumerate(sorted(members, key=lambda i: pvalues[i]), start=1))):
            running = min(running, m / rank * pvalues[i])
            out[i] = running
    return out
