"""Model-graded checks: a judge model scores the output and writes the feedback.

The judge comes from the :class:`CheckContext` (the ``grader`` role, bound at run time), so
these checks know nothing of providers. A missing judge or a judge that fails after its
retries is an ``error`` result, never a pass. The judge's usage is always reported on the
outcome (``Usage()`` at least): grading finds judge feedback by it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from typing import Annotated, Any

from pydantic import Field

from aifactory.domain.checks.base import (
    Check,
    CheckContext,
    Judge,
    JudgeRequest,
    JudgeVerdict,
    Outcome,
    check,
)
from aifactory.domain.checks.similarity import Threshold
from aifactory.domain.checks.text import Text
from aifactory.domain.conversations import render
from aifactory.domain.models import AgentReply, TestCase, Usage
from aifactory.errors import CheckError, CheckSpecError, JudgeError

MAX_SAMPLES = 9
Samples = Annotated[int, Field(ge=1, le=MAX_SAMPLES)]


def require_judge(ctx: CheckContext, check_type: str) -> Judge:
    """The context's judge.

    Raises:
        CheckError: no judge is configured.
    """
    if ctx.judge is None:
        raise CheckError(
            "No judge is configured: set ANTHROPIC_API_KEY or AIFACTORY_JUDGE_MODEL (with the "
            f"provider's key) to run model-graded checks such as {check_type!r}."
        )
    return ctx.judge


async def _ask(judge: Judge, requests: list[JudgeRequest]) -> list[JudgeVerdict]:
    """Ask every request at once; the first failure cancels the others and is raised."""
    if len(requests) == 1:
        return [await judge.grade(requests[0])]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(judge.grade(r)) for r in requests]
    except BaseExceptionGroup as failures:
        # Unwrap, so a JudgeError stays a CheckError for run_check (an error result).
        raise failures.exceptions[0] from None
    return [t.result() for t in tasks]


def _score(verdict: JudgeVerdict) -> float:
    if not math.isfinite(verdict.score):
        raise JudgeError(f"The judge returned a score that is not a number ({verdict.score}).")
    return min(1.0, max(0.0, verdict.score))


def _total_usage(verdicts: list[JudgeVerdict]) -> Usage:
    total = Usage()
    for verdict in verdicts:
        total = total + verdict.usage
    return total


@check("llm_rubric", io_bound=True)
def llm_rubric(
    rubric: Text,
    threshold: Threshold = 0.5,
    samples: Samples = 1,
) -> Check:
    """A judge scores the output against ``rubric``; it passes at ``threshold``.

    With ``scope: "conversation"`` the judge grades the whole transcript instead.

    With ``samples`` > 1 the judge is asked that many times at once; the score is the median
    and the spread (min, max, standard deviation) is reported.
    """
    if not rubric.strip():
        raise CheckSpecError(
            "Check 'llm_rubric': 'rubric' is empty; say what a good answer does.", field="rubric"
        )

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        judge = require_judge(ctx, "llm_rubric")
        # With a transcript (scope "conversation") the judge reads the conversation instead.
        conversation = render(ctx.transcript) if ctx.transcript is not None else None
        requests = [
            JudgeRequest(
                kind="rubric",
                criteria=rubric,
                input=case.input_text() if conversation is None else "",
                output=reply.output if conversation is None else "",
                expected=case.expected,
                sample=i,
                conversation=conversation,
            )
            for i in range(samples)
        ]
        verdicts = await _ask(judge, requests)
        scores = [_score(v) for v in verdicts]
        median = statistics.median(scores)
        passed = median >= threshold
        # The feedback shown is the reasoning of the sample nearest the median.
        nearest = min(range(len(scores)), key=lambda i: abs(scores[i] - median))
        details: dict[str, Any] = {
            "score": median,
            "threshold": threshold,
            "judge_passed": verdicts[nearest].passed,
            "cached": all(v.cached for v in verdicts),
        }
        reason = verdicts[nearest].reasoning.strip()
        if samples > 1:
            spread = {
                "min": min(scores),
                "max": max(scores),
                "stdev": statistics.stdev(scores),
            }
            details |= {"samples": scores, **spread}
            summary = (
                f"median {median:.2f} of {samples} samples (min {spread['min']:.2f}, "
                f"max {spread['max']:.2f}, stdev {spread['stdev']:.2f})"
            )
            reason = f"{summary}: {reason}" if reason else summary
        elif not reason:
            reason = f"judge scored {median:.2f} (threshold {threshold:g})"
        return Outcome(
            score=median,
            passed=passed,
            reason=reason,
            details=details,
            usage=_total_usage(verdicts),
        )

    return run


@check("factuality", io_bound=True)
def factuality(value: Text | None = None) -> Check:
    """A judge decides whether the output agrees with ``value`` (default: ``expected``)."""

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        reference = value if value is not None else case.expected
        if reference is None:
            raise CheckError(
                "Check 'factuality' has no reference answer: give it a 'value' or give the "
                "case an 'expected' answer."
            )
        judge = require_judge(ctx, "factuality")
        (verdict,) = await _ask(
            judge,
            [
                JudgeRequest(
                    kind="factuality",
                    criteria=reference,
                    input=case.input_text(),
                    output=reply.output,
                    expected=reference,
                )
            ],
        )
        score = _score(verdict)
        reason = verdict.reasoning.strip() or (
            "the judge found the output consistent with the reference"
            if verdict.passed
            else "the judge found the output inconsistent with the reference"
        )
        return Outcome(
            score=score,
            passed=verdict.passed,
            reason=reason,
            details={"score": score, "judge_passed": verdict.passed, "cached": verdict.cached},
            usage=_total_usage([verdict]),
        )

    return run
