"""A deterministic agent for demos, tests and benchmarks: canned answers chosen by rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import regex
from pydantic import ValidationError

from aifactory.domain.agent_config import ScriptedAgentConfig
from aifactory.domain.models import AgentReply, TestCase, ToolCall, Usage
from aifactory.errors import AgentError, AgentTimeout, ConfigError

# A scripted rule is our own configuration, but a pattern can still backtrack without end;
# this bounds one match so a bad rule costs an error result, not a stuck worker.
_REGEX_TIMEOUT_S = 1.0
_FREE = Usage(cost_usd=0.0)


class _Rule:
    __slots__ = ("matches", "output", "tool_calls", "turn")

    def __init__(
        self,
        matches: Callable[[str, str], bool],
        output: str,
        tool_calls: list[ToolCall],
        turn: int | None,
    ) -> None:
        self.matches = matches
        self.output = output
        self.tool_calls = tool_calls
        self.turn = turn


def _substring(needle: str) -> Callable[[str, str], bool]:
    folded = needle.casefold()
    return lambda _text, folded_text: folded in folded_text


def _pattern(source: str) -> Callable[[str, str], bool]:
    try:
        compiled = regex.compile(source, regex.IGNORECASE)
    except regex.error as exc:
        raise ConfigError(f"Scripted rule pattern {source!r} does not compile: {exc}.") from exc

    def matches(text: str, _folded: str) -> bool:
        try:
            return compiled.search(text, timeout=_REGEX_TIMEOUT_S) is not None
        except TimeoutError as exc:
            raise AgentError(
                f"Scripted rule pattern {source!r} ran past {_REGEX_TIMEOUT_S:g} s; "
                "simplify the pattern."
            ) from exc

    return matches


class ScriptedAgent:
    """Answers with the output of the first rule whose ``match`` is in the input.

    Matching is a case-insensitive substring test on :meth:`TestCase.input_text`, or a
    case-insensitive search when the rule sets ``regex: true``. A rule with ``turn: N`` is
    considered only at the N-th turn of a conversation (the number of user messages so far;
    a single message is turn 1). With no matching rule the agent answers ``default``.
    ``latency_ms`` makes every answer take that long.

    Args:
        config: The rules, the default answer and the simulated latency.

    Raises:
        ConfigError: A pattern does not compile or a tool call has no name.
    """

    def __init__(self, config: ScriptedAgentConfig) -> None:
        self._rules: list[_Rule] = []
        for rule in config.responses:
            try:
                tool_calls = [ToolCall.model_validate(call) for call in rule.tool_calls]
            except ValidationError as exc:
                raise ConfigError(
                    f"Scripted rule {rule.match!r} has a tool call without a valid 'name' "
                    "and 'args'; write tool calls as {'name': ..., 'args': {...}}."
                ) from exc
            matches = _pattern(rule.match) if rule.regex else _substring(rule.match)
            self._rules.append(_Rule(matches, rule.output, tool_calls, rule.turn))
        self._default = config.default
        self._latency_s = config.latency_ms / 1000.0
        self._by_turn = any(rule.turn is not None for rule in self._rules)

    def _answer(self, text: str, turn: int) -> tuple[str, list[ToolCall]]:
        folded = text.casefold()
        for rule in self._rules:
            if rule.turn is not None and rule.turn != turn:
                continue
            if rule.matches(text, folded):
                return rule.output, rule.tool_calls
        return self._default, []

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Answer ``case`` from the rules; raise :class:`AgentTimeout` if latency exceeds it."""
        start = time.perf_counter()
        turn = _turn(case) if self._by_turn else 1
        output, tool_calls = self._answer(case.input_text(), turn)
        if self._latency_s > 0:
            if self._latency_s > timeout:
                await asyncio.sleep(timeout)
                raise AgentTimeout(
                    f"The scripted agent takes {self._latency_s * 1000:g} ms, longer than the "
                    f"{timeout:g} s time limit."
                )
            await asyncio.sleep(self._latency_s)
        return AgentReply(
            output=output,
            tool_calls=list(tool_calls),
            usage=_FREE,
            latency_ms=(time.perf_counter() - start) * 1000.0,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


def _turn(case: TestCase) -> int:
    """Which turn ``case`` is: the number of user messages in it (at least 1)."""
    if isinstance(case.input, list):
        return max(1, sum(1 for m in case.input if m.role == "user"))
    return 1
