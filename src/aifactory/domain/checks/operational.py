"""Checks on how the agent answered rather than what it said: time, cost and tool calls."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from aifactory.domain.checks.base import Check, CheckContext, Outcome, check
from aifactory.domain.checks.structured import json_equal
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import CheckError

NonNegative = Annotated[float, Field(ge=0)]


@check("latency")
def latency(max_ms: NonNegative) -> Check:
    """The agent answered within ``max_ms`` milliseconds."""

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        took = reply.latency_ms
        if took <= max_ms:
            return Outcome(1.0, True, f"answered in {took:.0f} ms (limit {max_ms:g} ms)")
        return Outcome(0.0, False, f"answered in {took:.0f} ms, over the limit of {max_ms:g} ms")

    return run


@check("cost")
def cost(max_usd: NonNegative) -> Check:
    """The agent's answer cost at most ``max_usd`` dollars; an unknown cost is an error."""

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        spent = reply.usage.cost_usd
        if spent is None:
            raise CheckError(
                "The answer's cost is unknown (the agent reported no cost and the model's price "
                "is not known), so the 'cost' check cannot decide; add the model's price or "
                "remove the check."
            )
        if spent <= max_usd:
            return Outcome(1.0, True, f"cost ${spent:.6f} (limit ${max_usd:g})")
        return Outcome(0.0, False, f"cost ${spent:.6f}, over the limit of ${max_usd:g}")

    return run


def _contains_args(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(key in actual and json_equal(actual[key], value) for key, value in wanted.items())


def _short(args: dict[str, Any]) -> str:
    text = json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@check("tool_called", across_turns=True)
def tool_called(name: str, args: dict[str, Any] | None = None) -> Check:
    """The agent called tool ``name``, with at least the arguments ``args`` when given.

    Each key of ``args`` must be in the call's arguments with an equal JSON value; the call
    may have other arguments too. In a conversation it looks across every reply (with
    ``scope: "each"``: every reply must call it).
    """
    wanted = args or {}

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        calls = [c for c in reply.tool_calls if c.name == name]
        if not calls:
            made = ", ".join(sorted({c.name for c in reply.tool_calls})) or "none"
            return Outcome(0.0, False, f"tool {name!r} was not called (tools called: {made})")
        for call in calls:
            if _contains_args(call.args, wanted):
                shown = f" with {_short(wanted)}" if wanted else ""
                return Outcome(1.0, True, f"tool {name!r} was called{shown}")
        return Outcome(
            0.0,
            False,
            f"tool {name!r} was called {len(calls)} time(s) but never with {_short(wanted)} "
            f"(first call: {_short(calls[0].args)})",
        )

    return run
