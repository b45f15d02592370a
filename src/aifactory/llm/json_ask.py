"""Asking a model for a JSON object, and asking again when its reply cannot be used.

The judge and the reflector both ask for structured output: a reply the caller cannot use is
asked for again with the reason appended to the prompt, a few times, then the caller's own
error is raised; so is a provider that stays down after the retry policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aifactory.domain.models import Usage
from aifactory.errors import LLMError
from aifactory.llm.base import LLMClient, LLMRequest, LLMResponse
from aifactory.llm.jsontext import extract_json_object

T = TypeVar("T")


class Unusable(Exception):
    """A reply that cannot be used; the message says why, and is shown to the model."""


def reply_object(response: LLMResponse, what: str) -> dict[str, Any]:
    """The JSON object of a reply: its structured output, or the object in its text.

    Raises:
        Unusable: there is none (``what`` names what was asked for in the message).
    """
    data = response.structured
    if data is None:
        data = extract_json_object(response.text)
    if data is None:
        excerpt = response.text.strip()[:200] or "(an empty reply)"
        raise Unusable(f"it held no structured {what}: {excerpt!r}.")
    return data


async def ask_json(
    client: LLMClient,
    prompt: str,
    request: Callable[[str], LLMRequest],
    parse: Callable[[LLMResponse], T],
    *,
    again: str,
    unreachable: Callable[[LLMError, Usage], Exception],
    unusable: Callable[[str, Usage], Exception],
    attempts: int = 2,
) -> tuple[T, Usage]:
    """What ``parse`` makes of the model's answer to ``prompt``, and the usage of every attempt.

    Args:
        client: the provider client.
        prompt: the user turn.
        request: the request that sends a user turn.
        parse: the caller's validation, raising :class:`Unusable` for a reply it cannot use.
        again: appended to the prompt after an unusable reply; ``{problem}`` is its reason.
        unreachable: the caller's error for a provider that failed (chained to it), given
            the usage of the attempts before.
        unusable: the caller's error after ``attempts`` unusable replies, given the last
            reason and the usage of every attempt.
        attempts: how many replies are asked for at most.
    """
    usage = Usage()
    problem = ""
    for attempt in range(attempts):
        content = prompt if attempt == 0 else prompt + again.format(problem=problem)
        try:
            response = await client.complete(request(content))
        except LLMError as exc:
            raise unreachable(exc, usage) from exc
        usage = usage + response.usage
        try:
            return parse(response), usage
        except Unusable as exc:
            problem = str(exc)
    raise unusable(problem, usage)
