"""The ask-for-JSON loop the judge and the reflector share: re-asking, giving up, usage, errors."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.models import Message, Usage
from aifactory.errors import LLMError
from aifactory.llm.base import LLMRequest, LLMResponse
from aifactory.llm.json_ask import Unusable, ask_json, reply_object

AGAIN = "\n\nNot usable: {problem} Again."


class ScriptedClient:
    """Answers each request with the next reply of its script, and keeps the requests."""

    def __init__(self, *replies: LLMResponse | LLMError) -> None:
        self.replies = list(replies)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, LLMError):
            raise reply
        return reply

    async def aclose(self) -> None:
        return None


class Refused(Exception):
    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage


def send(content: str) -> LLMRequest:
    return LLMRequest(model="m", messages=[Message(role="user", content=content)])


def answer(data: dict[str, Any] | None = None, text: str = "", tokens: int = 1) -> LLMResponse:
    return LLMResponse(
        text=text, structured=data, usage=Usage(input_tokens=tokens, output_tokens=tokens)
    )


def number(response: LLMResponse) -> int:
    value = reply_object(response, "answer").get("n")
    if not isinstance(value, int):
        raise Unusable(f"'n' must be a number, not {value!r}.")
    return value


def unreachable(exc: LLMError, usage: Usage) -> Refused:
    return Refused(f"unreachable: {exc}", usage)


def unusable(problem: str, usage: Usage) -> Refused:
    return Refused(f"gave up: {problem}", usage)


async def ask(client: ScriptedClient, attempts: int = 2) -> tuple[int, Usage]:
    return await ask_json(
        client,
        "Give n.",
        send,
        number,
        again=AGAIN,
        unreachable=unreachable,
        unusable=unusable,
        attempts=attempts,
    )


def prompts(client: ScriptedClient) -> list[str]:
    return [r.messages[0].content for r in client.requests]


async def test_a_usable_first_reply_is_asked_once() -> None:
    client = ScriptedClient(answer({"n": 3}))
    assert await ask(client) == (3, Usage(input_tokens=1, output_tokens=1))
    assert prompts(client) == ["Give n."]


async def test_garbage_is_asked_again_with_the_reason_then_used() -> None:
    client = ScriptedClient(
        answer(text="no json here", tokens=2), answer(text='```json\n{"n": 5}\n```', tokens=3)
    )
    assert await ask(client) == (5, Usage(input_tokens=5, output_tokens=5))
    assert prompts(client) == [
        "Give n.",
        "Give n.\n\nNot usable: it held no structured answer: 'no json here'. Again.",
    ]


async def test_after_the_last_attempt_the_callers_error_is_raised() -> None:
    client = ScriptedClient(answer(text=""), answer({"n": "x"}), answer({"n": None}))
    with pytest.raises(Refused, match=r"^gave up: 'n' must be a number, not None\.$") as caught:
        await ask(client, attempts=3)
    assert caught.value.usage == Usage(input_tokens=3, output_tokens=3)
    assert prompts(client) == [
        "Give n.",
        "Give n.\n\nNot usable: it held no structured answer: '(an empty reply)'. Again.",
        "Give n.\n\nNot usable: 'n' must be a number, not 'x'. Again.",
    ]


async def test_a_provider_failure_is_the_callers_error_with_the_usage_so_far() -> None:
    down = LLMError("down")
    client = ScriptedClient(answer(text="?"), down)
    with pytest.raises(Refused, match=r"^unreachable: down$") as caught:
        await ask(client)
    assert caught.value.__cause__ is down
    assert caught.value.usage == Usage(input_tokens=1, output_tokens=1)
    assert len(client.requests) == 2
