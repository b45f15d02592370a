"""The reflection loop's pure decisions: the holdout split, prompt diffs, and acceptance."""

from __future__ import annotations

from collections import Counter

import pytest

from aifactory.domain.compare import CaseOutcome, PairedComparison, compare_outcomes
from aifactory.domain.reflection import (
    corrected_alpha,
    judge_candidate,
    prompt_diff,
    split_holdout,
)


def test_the_split_is_stratified_by_tag_and_reproducible() -> None:
    tags = [["billing"]] * 30 + [["shipping"]] * 10 + [[]] * 10
    train, holdout = split_holdout(tags, 0.3)
    assert len(holdout) == 15 and len(train) == 35
    assert sorted(train + holdout) == list(range(50))
    per_stratum = Counter(",".join(tags[i]) for i in holdout)
    assert per_stratum == {"billing": 9, "shipping": 3, "": 3}
    assert split_holdout(tags, 0.3) == (train, holdout)
    # Another seed draws other cases in the same proportions.
    _, other_holdout = split_holdout(tags, 0.3, seed=7)
    assert other_holdout != holdout
    assert Counter(",".join(tags[i]) for i in other_holdout) == per_stratum


def test_small_strata_share_the_rounding_and_neither_part_is_ever_empty() -> None:
    tags = [["a"], ["b"], ["c"], ["d"], ["e"]]
    train, holdout = split_holdout(tags, 0.3)
    assert (len(train), len(holdout)) == (3, 2)
    assert [len(part) for part in split_holdout([["x"]] * 2, 0.01)] == [1, 1]
    assert [len(part) for part in split_holdout([[]] * 2, 0.99)] == [1, 1]
    with pytest.raises(ValueError, match="at least two cases"):
        split_holdout([["a"]], 0.5)


def test_a_prompt_diff_is_a_unified_diff_against_the_parent() -> None:
    diff = prompt_diff(
        "Be brief.\nAnswer in English.",
        "Be brief.\nCite the policy.",
        parent_version=3,
        child_version=5,
    )
    assert diff.splitlines() == [
        "--- v3",
        "+++ v5",
        "@@ -1,2 +1,2 @@",
        " Be brief.",
        "-Answer in English.",
        "+Cite the policy.",
    ]
    assert prompt_diff("same", "same", parent_version=1, child_version=2) == ""


def outcomes(statuses: str, prefix: str = "c") -> list[CaseOutcome]:
    """One outcome per letter: ``p`` passed, ``f`` failed."""
    return [
        CaseOutcome(
            name=f"{prefix}{i}",
            repeat_index=0,
            status="passed" if s == "p" else "failed",
            score=1.0 if s == "p" else 0.0,
        )
        for i, s in enumerate(statuses)
    ]


def paired(base: str, head: str, prefix: str = "c") -> PairedComparison:
    return compare_outcomes(outcomes(base, prefix), outcomes(head, prefix))


def test_a_significant_holdout_gain_without_regressions_is_accepted() -> None:
    holdout = paired("f" * 10, "p" * 10)
    verdict = judge_candidate(holdout, {"a": holdout}, holdout, alpha=corrected_alpha(3))
    assert verdict.accepted and verdict.p_value == pytest.approx(2 / 1024)
    assert "improved significantly" in verdict.reason


def test_a_gain_too_small_to_be_real_is_rejected() -> None:
    holdout = paired("ffffpppp", "ppppffpp")  # 4 improved, 2 regressed
    verdict = judge_candidate(holdout, {}, holdout, alpha=0.05)
    assert not verdict.accepted and "not significant" in verdict.reason
    # Five clean flips pass at 0.05 but not after the correction for three iterations.
    five = paired("fffff", "ppppp")
    assert judge_candidate(five, {}, five, alpha=0.05).accepted is False  # p = 0.0625
    six = paired("ffffff", "pppppp")
    assert judge_candidate(six, {}, six, alpha=0.05).accepted
    assert not judge_candidate(six, {}, six, alpha=corrected_alpha(3)).accepted


def test_a_tag_that_regresses_significantly_vetoes_the_candidate() -> None:
    holdout = paired("f" * 10, "p" * 10)
    billing = paired("p" * 8, "f" * 8, prefix="b")
    verdict = judge_candidate(holdout, {"billing": billing, "other": holdout}, holdout, alpha=0.05)
    assert not verdict.accepted
    assert "'billing' regressed significantly" in verdict.reason
    overall = paired("p" * 12 + "f" * 2, "f" * 12 + "p" * 2)
    verdict = judge_candidate(holdout, {}, overall, alpha=0.05)
    assert not verdict.accepted and "whole suite regressed" in verdict.reason


def test_the_alpha_is_split_over_the_iterations() -> None:
    assert corrected_alpha(1) == 0.05
    assert corrected_alpha(4) == pytest.approx(0.0125)
