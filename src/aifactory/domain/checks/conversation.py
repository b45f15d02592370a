"""Checks on a conversation as a whole: its length, its tool trajectory, whether the goal was met.

They read the transcript from :attr:`CheckContext.transcript` (the conversation so far, when
run on a scripted turn); on a single-turn case the transcript is that one exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from aifactory.domain.checks.base import Check, CheckContext, JudgeRequest, Outcome, check
from aifactory.domain.checks.model_graded import require_judge
from aifactory.domain.checks.similarity import Threshold
from aifactory.domain.checks.text import Text
from aifactory.domain.conversations import render, replies, single_exchange
from aifactory.domain.models import AgentReply, TestCase, TranscriptEntry
from aifactory.errors import CheckError, CheckSpecError, JudgeError

Count = Annotated[int, Field(ge=0)]
Names = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


def transcript_of(
    reply: AgentReply, case: TestCase, ctx: CheckContext
) -> Sequence[TranscriptEntry]:
    """The conversation the check reads: the context's, or the single exchange."""
    if ctx.transcript is not None:
        return ctx.transcript
    return single_exchange(case, reply)


@check("turn_count", whole_conversation=True)
def turn_count(min: Count | None = None, max: Count | None = None) -> Check:
    """The agent replied at least ``min`` and at most ``max`` times in the conversation."""
    low, high = min, max
    if low is None and high is None:
        raise CheckSpecError("Check 'turn_count' needs 'min', 'max' or both.", field="min")
    if low is not None and high is not None and low > high:
        raise CheckSpecError(
            f"Check 'turn_count': 'min' ({low}) is above 'max' ({high}).", field="min"
        )

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        n = len(replies(transcript_of(reply, case, ctx)))
        said = f"the agent replied {n} time{'s' if n != 1 else ''}"
        if low is not None and n < low:
            return Outcome(0.0, False, f"{said}, fewer than {low}")
        if high is not None and n > high:
            return Outcome(0.0, False, f"{said}, more than {high}")
        return Outcome(1.0, True, said)

    return run


def _in_order(calls: list[str], names: list[str]) -> int:
    """How many of ``names`` appear in ``calls`` in that order (others may interleave)."""
    found = 0
    for call in calls:
        if found < len(names) and call == names[found]:
            found += 1
    return found


@check("tool_sequence", whole_conversation=True)
def tool_sequence(names: Names, strict: bool = False) -> Check:
    """The agent called the tools ``names`` in that order across the conversation.

    Other calls may come before, between and after them; with ``strict`` the calls must be
    exactly ``names``, in order, and nothing else. The score is the share of ``names`` found
    in order.
    """
    wanted = list(names)
    shown = " → ".join(wanted)

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        calls = [
            call.name
            for entry in replies(transcript_of(reply, case, ctx))
            for call in entry.tool_calls
        ]
        made = " → ".join(calls) or "none"
        if strict:
            if calls == wanted:
                return Outcome(1.0, True, f"the tools called were exactly {shown}")
            matched = 0
            for got, want in zip(calls, wanted, strict=False):
                if got != want:
                    break
                matched += 1
            return Outcome(
                matched / len(wanted),
                False,
                f"the tools called were {made}, not exactly {shown}",
                details={"calls": calls},
            )
        found = _in_order(calls, wanted)
        if found == len(wanted):
            return Outcome(1.0, True, f"the tools {shown} were called in that order")
        return Outcome(
            found / len(wanted),
            False,
            f"the tools {shown} were not called in that order: {wanted[found]!r} is missing "
            f"after {found} of them (tools called: {made})",
            details={"calls": calls},
        )

    return run


@check("goal_completed", io_bound=True, whole_conversation=True)
def goal_completed(goal: Text | None = None, threshold: Threshold = 0.5) -> Check:
    """A judge reads the conversation and decides whether the user's ``goal`` was met.

    The goal defaults to the simulated user's; it passes at ``threshold``.
    """
    if goal is not None and not goal.strip():
        raise CheckSpecError(
            "Check 'goal_completed': 'goal' is empty; say what the user wants.", field="goal"
        )

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        wanted = goal
        if wanted is None and case.simulated_user is not None:
            wanted = case.simulated_user.goal
        if not wanted:
            raise CheckError(
                "Check 'goal_completed' has no goal: give it a 'goal', or give the case's "
                "simulated_user a 'goal'."
            )
        judge = require_judge(ctx, "goal_completed")
        transcript = transcript_of(reply, case, ctx)
        last = replies(transcript)
        verdict = await judge.grade(
            JudgeRequest(
                kind="goal",
                criteria=wanted,
                input="",
                output=last[-1].content if last else "",
                conversation=render(transcript),
            )
        )
        if verdict.score != verdict.score:  # NaN
            raise JudgeError("The judge returned a score that is not a number.")
        score = min(1.0, max(0.0, verdict.score))
        passed = score >= threshold
        reason = verdict.reasoning.strip() or (
            f"judge scored {score:.2f} for the goal (threshold {threshold:g})"
        )
        return Outcome(
            score=score,
            passed=passed,
            reason=reason,
            details={
                "score": score,
                "threshold": threshold,
                "judge_passed": verdict.passed,
                "cached": verdict.cached,
            },
            usage=verdict.usage,
        )

    return run
