"""Fake Anthropic and OpenAI servers that speak the real wire protocols, for tests.

One :class:`FakeLLMServer` listens on ``127.0.0.1`` (an ephemeral port) and answers both
``POST /v1/messages`` (Anthropic Messages API) and ``POST /v1/chat/completions`` (OpenAI Chat
Completions), so the real SDKs can be pointed at it through their ``base_url``.

What it answers is scripted: :meth:`FakeLLMServer.script` queues behaviours that are used one
per request, in order; when the queue is empty the ``responder`` callable decides, from the
request JSON (so a reply can depend on the system prompt). Behaviours:

- :class:`Reply`: a normal answer (text, structured output, tool calls, usage);
- :class:`Status`: an error status with the provider's error JSON and headers (``retry-after``);
- :class:`Hang`: wait before answering (the client is meant to time out first);
- :class:`Garbage`: a 200 whose body is not the provider's JSON;
- :class:`Reset`: drop the connection without an answer.

:class:`SleepRecorder` stands in for the retry policy's sleep, and :func:`fake_llm_settings`
builds settings pointing both providers at a server.

Every request is recorded (:attr:`FakeLLMServer.requests`) and the peak number of requests in
flight at once is kept (:attr:`FakeLLMServer.peak_in_flight`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiohttp import web

from aifactory.settings import Settings, load_settings


@dataclass(frozen=True)
class Reply:
    """A successful answer.

    ``structured`` becomes the forced tool's input (Anthropic, when the request forces a tool)
    or the JSON message content (OpenAI, or Anthropic without tools). ``tool_calls`` are
    ``{"name", "args"}`` dicts reported as tool use. Token counts default to a word count.
    """

    text: str = ""
    structured: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Status:
    """An error answer with the provider's error body; ``body`` overrides it."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Scripted error."
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Hang:
    """Wait ``seconds`` before answering with ``then`` (or give up when the server stops)."""

    seconds: float
    then: Reply = field(default_factory=lambda: Reply(text="late"))


@dataclass(frozen=True)
class Garbage:
    """A 200 answer whose body is not the provider's JSON."""

    body: bytes = b"<html>upstream proxy error</html>"
    content_type: str = "application/json"


@dataclass(frozen=True)
class Reset:
    """Close the connection without answering."""


Behaviour: TypeAlias = Reply | Status | Hang | Garbage | Reset
Responder: TypeAlias = Callable[[dict[str, Any]], "Behaviour | str"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the fake received."""

    provider: str
    """``"anthropic"`` or ``"openai"``."""
    path: str
    headers: dict[str, str]
    """Lower-cased header names."""
    json: dict[str, Any]

    def system_prompt(self) -> str:
        """The system prompt, whichever protocol carried it."""
        return system_prompt(self.json)

    def api_key(self) -> str | None:
        """The credential sent: ``x-api-key``, or the bearer token (newer SDKs send that)."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None


def system_prompt(body: dict[str, Any]) -> str:
    """The system prompt of a request body of either protocol (for responders)."""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "".join(b.get("text", "") for b in system if isinstance(b, dict))
    parts = [
        m.get("content", "")
        for m in body.get("messages", [])
        if m.get("role") in ("system", "developer") and isinstance(m.get("content"), str)
    ]
    return "\n".join(parts)


def last_user_text(body: dict[str, Any]) -> str:
    """The last user turn's text of a request body of either protocol (for responders)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _default_responder(body: dict[str, Any]) -> Behaviour | str:
    return Reply(text="ok")


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def _word_count(value: Any) -> int:
    return len(json.dumps(value).split()) if value else 0


class FakeLLMServer:
    """An aiohttp server on 127.0.0.1 answering as Anthropic and OpenAI would.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or _default_responder
        self.requests: list[ReceivedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._queue: deque[Behaviour | str] = deque()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeLLMServer:
        """Bind 127.0.0.1 on an ephemeral port and start answering."""
        app = web.Application()
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/chat/completions", self._openai)
        # Cancelling the handler when the client goes away keeps ``in_flight`` honest.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self._port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop answering; hanging requests are released first."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- what tests use ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Anthropic SDK's ``base_url``)."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` for the Anthropic SDK."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for the OpenAI SDK (it includes ``/v1``)."""
        return f"{self.url}/v1"

    def script(self, *behaviours: Behaviour | str) -> None:
        """Queue behaviours for the next requests, one each, in order (a str is a text reply)."""
        self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not used yet."""
        return len(self._queue)

    # -- handlers -----------------------------------------------------------------------------

    async def _next(self, provider: str, request: web.Request) -> tuple[Behaviour, dict[str, Any]]:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        self.requests.append(
            ReceivedRequest(
                provider=provider,
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
            )
        )
        behaviour = self._queue.popleft() if self._queue else self.responder(body)
        if isinstance(behaviour, str):
            behaviour = Reply(text=behaviour)
        return behaviour, body

    async def _handle(self, provider: str, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            behaviour, body = await self._next(provider, request)
            if isinstance(behaviour, Hang):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), behaviour.seconds)
                behaviour = behaviour.then
            if isinstance(behaviour, Reset):
                transport = request.transport
                assert transport is not None
                transport.abort()
                # A handler must still return something; nobody will receive it.
                return web.Response(status=500)
            if isinstance(behaviour, Garbage):
                return web.Response(
                    status=200, body=behaviour.body, content_type=behaviour.content_type
                )
            if isinstance(behaviour, Status):
                return self._error(provider, behaviour)
            assert isinstance(behaviour, Reply)
            if provider == "anthropic":
                return web.json_response(
                    self._anthropic_body(behaviour, body),
                    headers={"request-id": f"req_{next(self._ids)}"},
                )
            return web.json_response(
                self._openai_body(behaviour, body),
                headers={"x-request-id": f"req_{next(self._ids)}"},
            )
        finally:
            self.in_flight -= 1

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._handle("anthropic", request)

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle("openai", request)

    def _error(self, provider: str, status: Status) -> web.Response:
        if status.body is not None:
            payload = status.body
        elif provider == "anthropic":
            kind = _ANTHROPIC_ERROR_TYPES.get(
                status.code, "api_error" if status.code >= 500 else "invalid_request_error"
            )
            payload = {
                "type": "error",
                "error": {"type": kind, "message": status.message},
                "request_id": f"req_{next(self._ids)}",
            }
        else:
            kind, code = _OPENAI_ERROR_TYPES.get(
                status.code,
                ("server_error" if status.code >= 500 else "invalid_request_error", None),
            )
            payload = {
                "error": {"message": status.message, "type": kind, "param": None, "code": code}
            }
        return web.json_response(payload, status=status.code, headers=status.headers)

    def _anthropic_body(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        forced = (body.get("tool_choice") or {}).get("name")
        if reply.structured is not None:
            if forced:
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_{next(self._ids):08d}",
                        "name": forced,
                        "input": reply.structured,
                    }
                )
            else:
                content.append({"type": "text", "text": json.dumps(reply.structured)})
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(self._ids):08d}",
                    "name": call["name"],
                    "input": call.get("args", {}),
                }
            )
        uses_tools = any(block["type"] == "tool_use" for block in content)
        return {
            "id": f"msg_{next(self._ids):08d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model", "claude-fake"),
            "content": content,
            "stop_reason": reply.stop_reason or ("tool_use" if uses_tools else "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._tokens(
                    reply.input_tokens, body.get("messages"), body.get("system")
                ),
                "output_tokens": self._tokens(reply.output_tokens, content),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _openai_body(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        text = reply.text
        if reply.structured is not None:
            text = json.dumps(reply.structured)
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids):08d}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": json.dumps(call.get("args", {})),
                    },
                }
                for call in reply.tool_calls
            ]
        prompt = self._tokens(reply.input_tokens, body.get("messages"))
        completion = self._tokens(reply.output_tokens, message)
        return {
            "id": f"chatcmpl-{next(self._ids):08d}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": reply.model or body.get("model", "gpt-fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.stop_reason
                    or ("tool_calls" if reply.tool_calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    @staticmethod
    def _tokens(explicit: int | None, *values: Any) -> int:
        if explicit is not None:
            return explicit
        return sum(_word_count(v) for v in values)


class SleepRecorder:
    """A stand-in for ``asyncio.sleep`` that records how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)  # still yield, as a real sleep would

    @property
    def total(self) -> float:
        """Seconds asked for in all."""
        return sum(self.calls)


def fake_llm_settings(server: FakeLLMServer, **overrides: object) -> Settings:
    """Settings (from an empty environment) pointing both providers at ``server``."""
    values: dict[str, object] = {
        "anthropic_api_key": "sk-ant-test",
        "anthropic_base_url": server.anthropic_base_url,
        "openai_api_key": "sk-test",
        "openai_base_url": server.openai_base_url,
        "judge_model": "anthropic:claude-haiku-4-5",
        "llm_max_attempts": 3,
        "llm_backoff_base_s": 0.01,
        "llm_backoff_max_s": 5.0,
        "llm_timeout_s": 5.0,
    }
    values.update(overrides)
    return load_settings({}, **values)
