"""Statistics against known values."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain import stats


def test_wilson_interval_matches_textbook_values() -> None:
    # Newcombe (1998), example: 81 successes of 263 -> 0.2553 to 0.3662.
    ci = stats.wilson_interval(81, 263)
    assert ci is not None
    assert ci.low == pytest.approx(0.2553, abs=5e-4)
    assert ci.high == pytest.approx(0.3662, abs=5e-4)


def test_wilson_interval_at_the_edges_stays_inside_zero_one() -> None:
    all_pass = stats.wilson_interval(10, 10)
    none_pass = stats.wilson_interval(0, 10)
    assert all_pass is not None and none_pass is not None
    assert all_pass.high == 1.0 and all_pass.low == pytest.approx(0.7225, abs=5e-4)
    assert none_pass.low == 0.0 and none_pass.high == pytest.approx(0.2775, abs=5e-4)
    assert stats.wilson_interval(0, 0) is None


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="between 0 and n"):
        stats.wilson_interval(11, 10)


@given(st.integers(min_value=1, max_value=5000), st.data())
def test_wilson_interval_contains_the_point_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    ci = stats.wilson_interval(k, n)
    assert ci is not None
    assert 0.0 <= ci.low <= k / n + 1e-12
    assert k / n - 1e-12 <= ci.high <= 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = [0.0, 0.2, 0.5, 0.9, 1.0, 1.0, 0.3, 0.7]
    first = stats.bootstrap_mean_interval(values, seed=7)
    second = stats.bootstrap_mean_interval(values, seed=7)
    assert first == second
    assert first is not None
    m = sum(values) / len(values)
    assert first.low < m < first.high
    assert stats.bootstrap_mean_interval([]) is None
    single = stats.bootstrap_mean_interval([0.4])
    assert single is not None and single.low == single.high == 0.4


def test_bootstrap_of_large_samples_uses_the_normal_limit() -> None:
    values = [float(i % 2) for i in range(10_000)]
    ci = stats.bootstrap_mean_interval(values)
    assert ci is not None
    half = 1.96 * math.sqrt(0.25 / 10_000)
    assert ci.low == pytest.approx(0.5 - half, abs=1e-3)
    assert ci.high == pytest.approx(0.5 + half, abs=1e-3)


def test_percentiles_interpolate() -> None:
    data = sorted(float(x) for x in range(1, 101))
    assert stats.percentile(data, 50) == pytest.approx(50.5)
    assert stats.percentile(data, 99) == pytest.approx(99.01)
    summary = stats.latency_summary([5.0, 1.0, 3.0])
    assert summary["p50"] == 3.0 and summary["max"] == 5.0 and summary["avg"] == 3.0
    assert stats.latency_summary([]) == {}


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert stats.pass_at_k(10, 0, 1) == 0.0
    assert stats.pass_at_k(10, 10, 5) == 1.0
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,2)/C(10,2) = 1 - 21/45
    assert stats.pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 1, 4)


def test_flakiness() -> None:
    assert stats.is_flaky([True, False, True])
    assert not stats.is_flaky([True, True])
    assert not stats.is_flaky([False, False])
    assert stats.flakiness(5, 10) == 1.0
    assert stats.flakiness(10, 10) == 0.0
    assert stats.flakiness(0, 0) == 0.0


def test_the_normal_limit_is_drawn_at_the_requested_level() -> None:
    values = [float(i % 2) for i in range(10_000)]
    ci = stats.bootstrap_mean_interval(values, level=0.9)
    assert ci is not None and ci.level == 0.9
    half = 1.6448536 * math.sqrt(0.25 * 10_000 / 9_999 / 10_000)
    assert ci.low == pytest.approx(0.5 - half, rel=1e-6)
    assert ci.high == pytest.approx(0.5 + half, rel=1e-6)


def test_z_score_of_common_levels() -> None:
    assert stats.z_score(0.95) == pytest.approx(1.959963984540054, rel=1e-12)
    assert stats.z_score(0.99) == pytest.approx(2.5758293035489, rel=1e-9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stats.z_score(1.0)


def _choices_bootstrap(
    values: list[float], seed: int, resamples: int = 1000
) -> tuple[float, float]:
    """The interval as first written, with random.choices: what reports have always shown."""
    n = len(values)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    return means[math.floor(0.025 * (resamples - 1))], means[math.ceil(0.975 * (resamples - 1))]


@pytest.mark.parametrize("seed", range(40))
def test_the_bootstrap_interval_is_the_same_to_the_last_bit_as_with_random_choices(
    seed: int,
) -> None:
    rnd = random.Random(seed)
    n = rnd.randint(2, 120)
    levels = [0.0, 0.25, 0.5, 1.0, 1 / 3]
    values = [rnd.choice(levels) if seed % 2 else rnd.random() for _ in range(n)]
    interval = stats.bootstrap_mean_interval(values, seed=seed)
    assert interval is not None
    assert (interval.low, interval.high) == _choices_bootstrap(values, seed)


def test_identical_values_have_an_interval_of_their_mean() -> None:
    values = [0.1] * 17
    interval = stats.bootstrap_mean_interval(values)
    assert interval is not None
    assert interval.low == interval.high == sum(values) / 17 == _choices_bootstrap(values, 0)[0]
