"""The rows of ``aifactory run``'s table of cases that did not pass, and the conversations counted
while a run is in progress."""

from __future__ import annotations

from typing import NamedTuple

from aifactory.domain.checks import resolve_type
from aifactory.domain.conversations import failing_turns
from aifactory.domain.models import CheckSpec, TestResult
from aifactory.engine.runner import ResultSink
from aifactory.errors import CheckSpecError


class Failure(NamedTuple):
    """A case that did not pass: its name, status, the turn that failed and why."""

    name: str
    status: str
    reason: str
    turn: str = ""
    """For a conversation: the failing turn(s) (``2``, ``1, 3``), ``all`` when the
    conversation as a whole failed; empty for a single-turn case."""


def failing_turn(result: TestResult) -> str:
    """Which turn of a conversation failed: a turn's own checks, a case check of the last reply
    or of each reply, or the turn at which the agent failed. ``all`` when only checks of the
    whole conversation failed; empty for a single-turn case."""
    if result.transcript is None:
        return ""
    if result.stop_reason in (None, "agent_error"):
        # It ended early, at the turn the agent (or the simulated user) could not answer.
        return str((result.turns or 0) + 1)
    turns = set(failing_turns(result))
    specs = result.test_case.checks
    for index, check in enumerate(result.checks):
        if check.passed:
            continue
        scope = _scope(specs[index]) if index < len(specs) else "last"
        if scope == "last" and result.turns:
            turns.add(result.turns)
        elif scope == "each" and check.details:
            turns.update(t for t in check.details.get("failed_turns", ()) if isinstance(t, int))
    if turns:
        return ", ".join(str(t) for t in sorted(turns))
    return "all"


def _scope(spec: CheckSpec) -> str:
    """What the check judged: checks of the whole conversation read it whatever their scope."""
    try:
        check_type, _negated = resolve_type(spec.type)
    except CheckSpecError:
        return spec.scope
    if check_type.whole_conversation or (check_type.across_turns and spec.scope == "last"):
        return "conversation"
    return spec.scope


def failure_of(result: TestResult) -> Failure:
    """The table row of a result that did not pass."""
    reason = result.error if result.status == "error" else result.feedback
    return Failure(result.test_case.name, result.status, reason or "", failing_turn(result))


class ConversationCounter:
    """A sink in front of another that counts the conversations finished and passed."""

    def __init__(self, sink: ResultSink) -> None:
        self._sink = sink
        self.done = 0
        self.passed = 0

    async def write(self, result: TestResult) -> None:
        if result.transcript is not None:
            self.done += 1
            self.passed += result.passed
        await self._sink.write(result)
