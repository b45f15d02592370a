"""The one port every system under test implements."""

from __future__ import annotations

from typing import Protocol

from aifactory.domain.models import AgentReply, TestCase


class Agent(Protocol):
    """A system under test: answers one test case."""

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Answer ``case`` within ``timeout`` seconds or raise an :class:`AgentError`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
