"""The one port every system under test implements, and its conversations.

An agent answers one test case at a time. A conversation sends several turns to the same agent
in one **session**: an :class:`AgentSession` keeps what belongs to that conversation (the session
id, an http agent's cookies and the agent's own session id) and answers each turn, whose case
carries the history so far as its input. Agents that keep nothing per conversation (``llm``,
``scripted``) need no sessions of their own: :func:`open_session` wraps them.
"""

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


class AgentSession(Protocol):
    """One conversation with an agent; its turns are answered in order."""

    session_id: str

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Answer a turn: ``case.input`` is the conversation so far, ending with the user's
        new message. Raise an :class:`AgentError` as :meth:`Agent.respond` does."""
        ...

    async def aclose(self) -> None:
        """Forget the conversation (the agent itself stays open)."""
        ...


class _Stateless:
    """The session of an agent that keeps nothing per conversation."""

    __slots__ = ("_agent", "session_id")

    def __init__(self, agent: Agent, session_id: str) -> None:
        self._agent = agent
        self.session_id = session_id

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        return await self._agent.respond(case, timeout=timeout)

    async def aclose(self) -> None:
        return None


def open_session(agent: Agent, session_id: str) -> AgentSession:
    """A session of ``agent`` for one conversation, identified by ``session_id`` (a UUID).

    An agent that keeps state per conversation offers ``session(session_id)``; any other agent
    is wrapped, so every turn is simply a call to ``respond``.
    """
    start = getattr(agent, "session", None)
    if callable(start):
        session: AgentSession = start(session_id)
        return session
    return _Stateless(agent, session_id)
