"""Read an http agent's answer: the agent contract, or the value at an ``output_path``."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aifactory.domain.models import AgentReply, ToolCall, Usage
from aifactory.errors import AgentResponseError

_EXCERPT = 120
_SEGMENT = re.compile(r"\[\s*(?:'([^']*)'|\"([^\"]*)\"|(-?\d+))\s*\]|([^.\[\]]+)")


class _ContractToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class _ContractUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class _Contract(BaseModel):
    """``{"output": "...", "tool_calls": [{"name", "args"}], "usage": {...}}``; extras ignored."""

    model_config = ConfigDict(extra="ignore")

    output: str
    tool_calls: list[_ContractToolCall] | None = None
    usage: _ContractUsage | None = None


def _excerpt(raw: bytes) -> str:
    text = raw[:_EXCERPT].decode("utf-8", "replace")
    return text + ("…" if len(raw) > _EXCERPT else "")


def _load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise AgentResponseError(
            f"The agent's answer is not JSON ({_excerpt(raw)!r}); {what}."
        ) from exc


def parse_path(path: str) -> list[str | int]:
    """Split ``reply.text``, ``choices.0.message.content`` or ``$.data[0].text`` into keys.

    Bracketed numbers are list indices; a bare number is an index on a list and a key on an
    object (decided when walking).
    """
    text = path.strip()
    text = text.removeprefix("$").lstrip(".")
    segments: list[str | int] = []
    for quoted1, quoted2, index, plain in _SEGMENT.findall(text):
        if index:
            segments.append(int(index))
        else:
            segments.append(quoted1 or quoted2 or plain)
    return segments


def extract(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``; raise :class:`AgentResponseError` when missing."""
    value = document
    walked = "$"
    for segment in parse_path(path):
        found = False
        if isinstance(value, list):
            try:
                position = int(segment)
                value = value[position]
                found = True
            except (ValueError, IndexError):
                pass
        elif isinstance(value, dict) and str(segment) in value:
            value = value[str(segment)]
            found = True
        if not found:
            raise AgentResponseError(
                f"The agent's answer has nothing at output_path {path!r}: {walked} has no "
                f"{segment!r}; fix the output_path or the agent."
            )
        walked = f"{walked}.{segment}"
    return value


def _loose_usage(document: Any) -> Usage:
    """Token counts from a ``usage`` object in the contract's or OpenAI's names, if any."""
    usage = document.get("usage") if isinstance(document, dict) else None
    if not isinstance(usage, dict):
        return Usage()

    def count(*names: str) -> int:
        for name in names:
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
        return 0

    cost = usage.get("cost_usd")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        cost = None
    return Usage(
        input_tokens=count("input_tokens", "prompt_tokens"),
        output_tokens=count("output_tokens", "completion_tokens"),
        cost_usd=None if cost is None else float(cost),
    )


def parse_reply(raw: bytes, output_path: str | None, *, latency_ms: float) -> AgentReply:
    """Turn the body of a 2xx answer into an :class:`AgentReply`.

    With ``output_path`` the output is the value there (JSON-encoded when not a string), and a
    ``usage`` object beside it is read when present. Without it the body must be the agent
    contract.

    Raises:
        AgentResponseError: The body is not JSON, has nothing at the path, or breaks the contract.
    """
    if output_path:
        document = _load_json(raw, f"output_path {output_path!r} needs a JSON answer")
        value = extract(document, output_path)
        output = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return AgentReply(output=output, usage=_loose_usage(document), latency_ms=latency_ms)
    document = _load_json(
        raw, 'an agent without output_path must answer {"output": "..."} (the agent contract)'
    )
    try:
        reply = _Contract.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        raise AgentResponseError(
            f"The agent's answer breaks the agent contract at {where}: {first['msg']}. Answer "
            '{"output": "...", "tool_calls": [{"name": ..., "args": {...}}], "usage": {...}}, '
            "or set output_path."
        ) from exc
    usage = reply.usage
    return AgentReply(
        output=reply.output,
        tool_calls=[ToolCall.model_validate(call.model_dump()) for call in reply.tool_calls or []],
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
        )
        if usage is not None
        else Usage(),
        latency_ms=latency_ms,
    )
