"""The rows of ``aifactory run``'s table of cases that did not pass, and the conversations counted
while a run is in progress."""

from __future__ import annotations

from typing import NamedTuple

from aifactory.domain.models import TestResult
from aifactory.domain.turn_failures import failing_turn
from aifactory.engine.runner import ResultSink


class Failure(NamedTuple):
    """A case that did not pass: its name, status, the turn that failed and why."""

    name: str
    status: str
    reason: str
    turn: str = ""
    """For a conversation: the failing turn(s) (``2``, ``1, 3``), ``all`` when the
    conversation as a whole failed; empty for a single-turn case."""


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
