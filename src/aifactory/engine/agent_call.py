"""One call to an agent under the case's time limit, retried after a transient failure."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import AgentError, AgentHTTPError, AgentTimeout


class CallOptions(Protocol):
    """The parts of the case runner's options a call needs."""

    timeout_s: float
    retries: int
    retry_backoff_s: float


Respond = Callable[..., Awaitable[AgentReply]]
"""``agent.respond`` or ``session.respond``: ``(case, *, timeout) -> AgentReply``."""


def transient(exc: AgentError) -> bool:
    """Whether another attempt may succeed: a timeout, a 429 or 5xx, a dropped connection."""
    if isinstance(exc, AgentTimeout):
        return True
    if isinstance(exc, AgentHTTPError):
        return exc.status == 429 or exc.status >= 500
    return getattr(exc, "transient", False) is True


async def call_agent(respond: Respond, case: TestCase, options: CallOptions) -> AgentReply:
    """``respond(case)`` within ``options.timeout_s``, with ``options.retries`` more attempts
    after transient failures; the reply's latency is measured when the agent gave none.

    Raises:
        AgentError: the last attempt's failure (a timeout as :class:`AgentTimeout`).
    """
    attempt = 0
    while True:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(options.timeout_s):
                reply = await respond(case, timeout=options.timeout_s)
            break
        except TimeoutError as exc:
            error: AgentError = AgentTimeout(
                f"The agent did not answer within {options.timeout_s:g} s."
            )
            error.__cause__ = exc
        except AgentError as exc:
            error = exc
        if attempt >= options.retries or not transient(error):
            raise error
        attempt += 1
        delay = options.retry_backoff_s * (2 ** (attempt - 1))
        await asyncio.sleep(random.uniform(0, delay) + delay / 2)
    if reply.latency_ms <= 0:
        reply = reply.model_copy(update={"latency_ms": (time.perf_counter() - started) * 1000})
    return reply
