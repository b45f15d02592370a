"""Statistics for runs: intervals on pass rates and scores, percentiles, flakiness, pass@k.

Pure Python on purpose: these run on every summary and must not pull numpy into the domain.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

from aifactory.domain.models import Interval

Z95 = 1.959963984540054
BOOTSTRAP_MAX_N = 500
"""Above this many values the bootstrap of the mean is replaced by its normal limit."""


def z_score(level: float) -> float:
    """The two-sided standard normal quantile of a confidence ``level`` (1.96 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"A confidence level must be between 0 and 1, got {level}.")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> Interval | None:
    """Wilson score interval for a binomial proportion (None when ``n`` is 0)."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}), got {successes}.")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low=low, high=high)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, None when empty."""
    return sum(values) / len(values) if values else None


def bootstrap_mean_interval(
    values: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    unit: bool = True,
) -> Interval | None:
    """Percentile bootstrap interval of the mean (seeded, so reports are reproducible).

    Beyond :data:`BOOTSTRAP_MAX_N` values the sampling distribution of the mean is normal to
    well within the bootstrap's own noise, so the normal interval at the same ``level`` is used
    instead (kept within [0, 1] for ``unit`` values such as scores, unbounded otherwise).
    """
    n = len(values)
    if n == 0:
        return None
    m = sum(values) / n
    if n == 1:
        return Interval(low=m, high=m, level=level)
    if n > BOOTSTRAP_MAX_N:
        var = sum((v - m) ** 2 for v in values) / (n - 1)
        half = z_score(level) * math.sqrt(var / n)
        if not unit:
            return Interval(low=m - half, high=m + half, level=level)
        return Interval(low=max(0.0, m - half), high=min(1.0, m + half), level=level)
    data = list(values)
    if min(data) == max(data):
        # Every resample is the values themselves, in the same order: its mean is m, exactly.
        return Interval(low=m, high=m, level=level)
    # random.Random(seed).choices(data, k=n) resample by resample, without its per-call cost:
    # the same draws in the same order, so the same interval to the last bit.
    draw = random.Random(seed).random
    pick = data.__getitem__
    scale = float(n)
    floor = math.floor
    means = sorted(
        sum([pick(floor(draw() * scale)) for _ in range(n)]) / n for _ in range(resamples)
    )
    alpha = (1 - level) / 2
    low = means[math.floor(alpha * (resamples - 1))]
    high = means[math.ceil((1 - alpha) * (resamples - 1))]
    return Interval(low=low, high=high, level=level)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    rank = (q / 100) * (len(sorted_values) - 1)
    lo = math.floor(rank)
    hi = math.ceil(rank)
    frac = rank - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """avg, p50, p95, p99 and max of latencies (empty dict when there are none)."""
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "avg": sum(ordered) / len(ordered),
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": float(ordered[-1]),
    }


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one case with ``n`` attempts of which ``c`` passed (Chen et al.)."""
    if not 0 < k <= n:
        raise ValueError(f"k must be between 1 and n ({n}), got {k}.")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def is_flaky(outcomes: Sequence[bool]) -> bool:
    """A case is flaky when the same input both passed and failed."""
    return any(outcomes) and not all(outcomes)


def flakiness(passes: int, n: int) -> float:
    """How far from stable a case's repeats are: 0 (always the same) to 1 (half and half)."""
    if n == 0:
        return 0.0
    p = passes / n
    return 1.0 - abs(2 * p - 1)
