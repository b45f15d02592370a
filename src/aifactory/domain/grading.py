"""How a case's check results make its status, score and feedback."""

from __future__ import annotations

from collections.abc import Sequence

from aifactory.domain.models import CaseStatus, CheckResult, TestCase, Usage


def grade(case: TestCase, results: Sequence[CheckResult]) -> tuple[CaseStatus, bool, float, str]:
    """Return ``(status, passed, score, feedback)`` for a case whose checks gave ``results``.

    The score is the weighted mean of the checks' scores (1.0 with no checks). A case passes
    when every check passes, or, when it gives a ``threshold``, when its score reaches it. Any
    errored check makes the case an ``error``.
    """
    total_weight = sum(r.weight for r in results)
    if not results:
        score = 1.0
    elif total_weight > 0:
        score = sum(r.score * r.weight for r in results) / total_weight
    else:
        score = sum(r.score for r in results) / len(results)
    score = min(1.0, max(0.0, score))
    errored = [r for r in results if r.status == "error"]
    if case.threshold is not None:
        passed = score >= case.threshold - 1e-12
    else:
        passed = all(r.passed for r in results)
    failing = [r for r in results if not r.passed and r.reason]
    if failing:
        feedback = "; ".join(f"{r.type}: {r.reason}" for r in failing)
    else:
        judged = [r.reason for r in results if r.usage is not None and r.reason]
        feedback = "; ".join(judged)
    if errored:
        return "error", False, score, feedback
    return ("passed" if passed else "failed"), passed, score, feedback


def judge_usage(results: Sequence[CheckResult]) -> Usage:
    """The judge's tokens and cost summed over a case's checks."""
    total = Usage()
    for r in results:
        if r.usage is not None:
            total = total + r.usage
    return total
