"""Run comparison statistics: McNemar's exact test, the paired bootstrap, effect sizes, verdicts."""

from __future__ import annotations

import math
import random

import pytest

from aifactory.domain.compare import (
    CaseOutcome,
    McNemar,
    ScoreDiff,
    cohens_d_paired,
    compare_outcomes,
    decide,
    mcnemar_exact,
    paired_bootstrap_interval,
)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (1, 9, 0.021484375),  # the textbook 0.0215: 2 * (1 + 10) / 2**10
        (9, 1, 0.021484375),  # two-sided: symmetric
        (0, 5, 0.0625),  # 2 / 2**5
        (2, 8, 0.109375),  # 2 * (1 + 10 + 45) / 2**10
        (3, 12, 0.03515625),  # 2 * (1 + 15 + 105 + 455) / 2**15
        (7, 7, 1.0),
        (0, 0, 1.0),
        (0, 1, 1.0),  # capped at 1
    ],
)
def test_mcnemar_exact_matches_known_p_values(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_handles_ten_thousand_discordant_pairs() -> None:
    # 4,800 vs 5,200: z = 400 / 100 = 4; the exact p agrees with the normal tail (continuity
    # corrected) and neither overflows nor underflows.
    p = mcnemar_exact(4800, 5200)
    approx = math.erfc((400 - 1) / 100 / math.sqrt(2))
    assert 0 < p < 1e-3
    assert p == pytest.approx(approx, rel=0.05)
    assert mcnemar_exact(5000, 5000) == 1.0


def test_mcnemar_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        mcnemar_exact(-1, 3)


def test_paired_bootstrap_is_seeded_and_brackets_the_true_mean() -> None:
    rng = random.Random(42)
    true_mean = -0.12
    diffs = [true_mean + rng.gauss(0, 0.2) for _ in range(300)]
    first = paired_bootstrap_interval(diffs, seed=7)
    again = paired_bootstrap_interval(diffs, seed=7)
    assert first == again
    assert first.method == "bootstrap"
    assert first.ci_low is not None and first.ci_high is not None
    assert first.ci_low < true_mean < first.ci_high
    assert first.ci_low < first.mean < first.ci_high  # type: ignore[operator]
    # Roughly the normal width 2 * 1.96 * 0.2 / sqrt(300) = 0.045.
    assert 0.03 < first.ci_high - first.ci_low < 0.06


def test_paired_bootstrap_narrows_with_more_pairs_and_uses_the_normal_limit_when_large() -> None:
    rng = random.Random(1)
    small = paired_bootstrap_interval([rng.gauss(0.1, 0.3) for _ in range(50)])
    large = paired_bootstrap_interval([rng.gauss(0.1, 0.3) for _ in range(5000)])
    assert large.method == "normal"
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 5  # type: ignore[operator]
    assert large.ci_low < 0.1 < large.ci_high  # type: ignore[operator]


def test_paired_bootstrap_of_nothing_or_constant_differences() -> None:
    assert paired_bootstrap_interval([]) == ScoreDiff(mean=None, ci_low=None, ci_high=None)
    constant = paired_bootstrap_interval([0.5, 0.5, 0.5])
    assert (constant.mean, constant.ci_low, constant.ci_high) == (0.5, 0.5, 0.5)


def test_cohens_d_on_paired_differences() -> None:
    # mean 2, sample sd of (1, 2, 3) is 1
    assert cohens_d_paired([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert cohens_d_paired([0.3, 0.3]) is None
    assert cohens_d_paired([0.3]) is None


@pytest.mark.parametrize(
    ("b", "c", "low", "high", "verdict"),
    [
        (9, 1, -0.1, 0.1, "regressed"),
        (1, 9, -0.1, 0.1, "improved"),
        (3, 4, -0.1, 0.1, "no significant change"),
        (0, 0, -0.3, -0.1, "regressed"),  # pass/fail unchanged, scores clearly lower
        (0, 0, 0.05, 0.2, "improved"),
        (0, 0, 0.0, 0.0, "no significant change"),
    ],
)
def test_verdicts(b: int, c: int, low: float, high: float, verdict: str) -> None:
    mcnemar = McNemar(b=b, c=c, p_value=mcnemar_exact(b, c))
    diff = ScoreDiff(mean=(low + high) / 2, ci_low=low, ci_high=high)
    assert decide(mcnemar, diff) == verdict


def outcome(name: str, status: str, score: float | None = None, repeat: int = 0) -> CaseOutcome:
    return CaseOutcome(
        name=name,
        repeat_index=repeat,
        status=status,  # type: ignore[arg-type]
        score=score if score is not None else (1.0 if status == "passed" else 0.0),
    )


def test_compare_pairs_by_name_and_repeat_and_lists_flips() -> None:
    base = [outcome(f"case {i}", "passed") for i in range(30)]
    head = [outcome(f"case {i}", "failed" if i < 10 else "passed") for i in range(30)]
    head[0] = outcome("case 0", "error")
    head.append(outcome("brand new", "passed"))
    base.append(outcome("retired", "failed"))
    result = compare_outcomes(reversed(base), head)  # order does not matter for pairing
    assert result.pairs == 30
    assert result.mcnemar.b == 10 and result.mcnemar.c == 0
    assert result.mcnemar.p_value == pytest.approx(2 / 2**10)
    assert result.verdict == "regressed"
    assert [f.name for f in result.regressions] == [f"case {i}" for i in range(10)]
    assert result.regressions[0].head_status == "error"
    assert result.improvements == []
    assert [k.name for k in result.only_in_head] == ["brand new"]
    assert [k.name for k in result.only_in_base] == ["retired"]
    assert result.effect_size.pass_rate_diff == pytest.approx(-10 / 30)
    assert result.score_diff.mean == pytest.approx(-10 / 30)
    assert result.score_diff.ci_high is not None and result.score_diff.ci_high < 0


def test_compare_pairs_repeats_and_duplicated_names_one_to_one() -> None:
    base = [outcome("a", "passed", repeat=0), outcome("a", "failed", repeat=1)]
    head = [outcome("a", "failed", repeat=1), outcome("a", "passed", repeat=0)]
    assert compare_outcomes(base, head).flips == []
    dup_base = [outcome("same", "passed"), outcome("same", "failed")]
    dup_head = [outcome("same", "passed"), outcome("same", "passed")]
    result = compare_outcomes(dup_base, dup_head)
    assert result.pairs == 2
    assert result.mcnemar.c == 1 and result.mcnemar.b == 0


def test_compare_of_identical_runs_is_no_change() -> None:
    runs = [outcome(f"c{i}", "passed" if i % 3 else "failed", score=i / 40) for i in range(40)]
    result = compare_outcomes(runs, runs)
    assert result.verdict == "no significant change"
    assert result.mcnemar.p_value == 1.0
    assert result.score_diff.mean == 0.0
    assert result.effect_size.cohens_d is None


def test_compare_of_disjoint_runs_has_no_pairs() -> None:
    result = compare_outcomes([outcome("x", "passed")], [outcome("y", "failed")])
    assert result.pairs == 0
    assert result.verdict == "no significant change"
    assert result.score_diff.mean is None
    assert result.effect_size.pass_rate_diff is None


def test_the_normal_limit_is_drawn_at_the_requested_level() -> None:
    rng = random.Random(3)
    diffs = [rng.gauss(0.1, 0.3) for _ in range(5000)]
    wide = paired_bootstrap_interval(diffs, level=0.95)
    narrow = paired_bootstrap_interval(diffs, level=0.80)
    assert wide.method == narrow.method == "normal"
    width_95 = wide.ci_high - wide.ci_low  # type: ignore[operator]
    width_80 = narrow.ci_high - narrow.ci_low  # type: ignore[operator]
    # z(0.80) / z(0.95) = 1.2816 / 1.9600
    assert width_80 / width_95 == pytest.approx(1.2815516 / 1.9599640, rel=1e-6)


def test_a_constant_shift_over_many_pairs_is_a_change() -> None:
    base = [outcome(f"case {i}", "passed", 0.6) for i in range(100)]
    up = [outcome(f"case {i}", "passed", 0.7) for i in range(100)]
    down = [outcome(f"case {i}", "passed", 0.5) for i in range(100)]
    assert compare_outcomes(base, up).verdict == "improved"
    assert compare_outcomes(base, down).verdict == "regressed"
    assert compare_outcomes(base, base).verdict == "no significant change"


@pytest.mark.parametrize(
    ("pairs", "verdict"),
    [(1, "no significant change"), (5, "no significant change"), (6, "improved")],
)
def test_a_constant_shift_is_decided_by_the_sign_test(pairs: int, verdict: str) -> None:
    # All n of one sign: p = 2 / 2**n; 2/32 = 0.0625 is not below 0.05, 2/64 = 0.03125 is.
    diff = ScoreDiff(mean=0.1, ci_low=0.1, ci_high=0.1)
    assert decide(McNemar(b=0, c=0, p_value=1.0), diff, pairs=pairs) == verdict
