"""A case-level check of a conversation, run in its scope.

- ``last`` (the default): the agent's last reply;
- ``conversation``: the whole transcript, as one reply whose output is the transcript as text,
  whose tool calls are every call in order (judges read the transcript itself);
- ``each``: every reply must pass; the score is the mean, the reason names the failing turns.

Checks that judge the conversation as a whole (``goal_completed``, ``turn_count``,
``tool_sequence``) always read it, and ``tool_called`` looks across every reply unless its
scope is ``each``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from aifactory.domain.checks.base import BuiltCheck, CheckContext, run_check
from aifactory.domain.conversations import as_reply, whole
from aifactory.domain.models import CheckResult, TestCase, TranscriptEntry, Usage

_SHOWN_FAILURES = 3


def reply_cases(case: TestCase, transcript: Sequence[TranscriptEntry]) -> list[TestCase]:
    """For each reply, ``case`` seen as the single message the reply answered.

    Checks of one reply read the user's message that came before it as the input (a judge is
    shown it), and keep the case's ``expected`` and ``vars``.
    """
    cases: list[TestCase] = []
    said = ""
    for entry in transcript:
        if entry.role == "user":
            said = entry.content
        elif entry.role == "assistant":
            cases.append(
                case.model_copy(update={"input": said, "turns": None, "simulated_user": None})
            )
    return cases


async def run_in_scope(
    built: BuiltCheck,
    case: TestCase,
    transcript: Sequence[TranscriptEntry],
    ctx: CheckContext,
) -> CheckResult:
    """Run ``built`` on the conversation ``transcript`` of ``case`` in the check's scope."""
    scope = built.scope
    if scope == "conversation":
        with_transcript = dataclasses.replace(ctx, transcript=transcript)
        return await run_check(built, whole(transcript), case, with_transcript)
    entries = [e for e in transcript if e.role == "assistant"]
    if not entries:
        return CheckResult(
            type=built.spec.type,
            status="failed",
            passed=False,
            score=0.0,
            weight=built.spec.weight,
            reason="the agent never replied, so there is no reply to check",
        )
    cases = reply_cases(case, transcript)
    if scope == "last":
        return await run_check(built, as_reply(entries[-1]), cases[-1], ctx)
    if built.io_bound:
        results = list(
            await asyncio.gather(
                *(
                    run_check(built, as_reply(e), c, ctx)
                    for e, c in zip(entries, cases, strict=True)
                )
            )
        )
    else:
        results = [
            await run_check(built, as_reply(e), c, ctx) for e, c in zip(entries, cases, strict=True)
        ]
    turns = [e.turn or i for i, e in enumerate(entries, 1)]
    return combine_each(built, results, turns)


def combine_each(built: BuiltCheck, results: list[CheckResult], turns: list[int]) -> CheckResult:
    """One result for a check of every reply: passed when each passed, the mean score."""
    spec = built.spec
    score = sum(r.score for r in results) / len(results)
    errored = [(t, r) for t, r in zip(turns, results, strict=True) if r.status == "error"]
    failing = [(t, r) for t, r in zip(turns, results, strict=True) if not r.passed]
    usage: Usage | None = None
    for r in results:
        if r.usage is not None:
            usage = r.usage if usage is None else usage + r.usage
    details: dict[str, Any] = {
        "turns": [
            {"turn": t, "passed": r.passed, "score": r.score, "reason": r.reason}
            for t, r in zip(turns, results, strict=True)
        ],
        "failed_turns": [t for t, _ in failing],
    }
    if not failing:
        reason = f"each of the {len(results)} replies passed"
        return CheckResult(
            type=spec.type,
            status="passed",
            passed=True,
            score=score,
            weight=spec.weight,
            reason=reason,
            details=details,
            usage=usage,
        )
    shown = "; ".join(f"turn {t}: {r.reason}" for t, r in failing[:_SHOWN_FAILURES])
    more = len(failing) - _SHOWN_FAILURES
    if more > 0:
        shown += f"; and {more} more"
    return CheckResult(
        type=spec.type,
        status="error" if errored else "failed",
        passed=False,
        score=score,
        weight=spec.weight,
        reason=f"{len(failing)} of {len(results)} replies did not pass ({shown})",
        details=details,
        usage=usage,
    )
