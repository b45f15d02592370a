"""A local HTTP agent for tests and benchmarks, speaking the agent contract.

``start_mock_agent()`` serves on 127.0.0.1 (an ephemeral port) until the ``async with`` block
ends. By default every path answers the contract::

    {"output": "echo: <input>", "tool_calls": [], "usage": {...}}

where ``<input>`` is the request body's ``input`` (or ``message``) field. Per-path behaviours
(:class:`Behaviour`) make a path answer another shape, a status, a redirect, garbage, a huge
body, or hang, or keep conversations (``session_by``): by the ``session_id`` the client sends,
by a cookie the mock sets, or by an id the mock issues in its first reply. Every request is
recorded, and the server tracks how many requests are in flight at once and the peak of that,
which is how tests prove a concurrency limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    """How one path answers.

    Attributes:
        status: HTTP status of the answer.
        output: Contract ``output``; None echoes the input.
        tool_calls: Contract ``tool_calls``.
        usage: Contract ``usage``.
        json_body: Answer exactly this JSON instead of the contract (for ``output_path`` shapes).
        text: Answer this raw text instead (garbage, HTML error pages).
        latency_s: Wait this long before answering (added to the server's latency).
        hang: Never answer (until the client gives up).
        redirect_to: Answer a redirect to this path or absolute URL.
        redirect_status: The redirect's status.
        huge_bytes: Stream a body of this many bytes.
        headers: Extra response headers.
        session_by: Keep a conversation per session and answer
            ``"turn N: <input> (earlier: a | b)"``: ``"id"`` by the body's ``session_id`` (or
            the ``X-Session-ID`` header), ``"cookie"`` by a ``sid`` cookie the mock sets,
            ``"issued"`` by an id the mock answers as ``{"session": {"id": ...}}`` the first time
            and expects back as the body's ``session_id`` (an unknown one is a 409).
    """

    status: int = 200
    output: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(
        default_factory=lambda: {"input_tokens": 3, "output_tokens": 5, "cost_usd": 0.0001}
    )
    json_body: Any = None
    text: str | None = None
    latency_s: float = 0.0
    hang: bool = False
    redirect_to: str | None = None
    redirect_status: int = 302
    huge_bytes: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    session_by: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """A request the mock received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    """The JSON body, or the raw text when it is not JSON, or None when empty."""


class MockAgent:
    """The running mock: its URL, the requests it saw and its concurrency figures."""

    def __init__(self, *, latency_s: float, behaviours: dict[str, Behaviour]) -> None:
        self.url = ""
        self.latency_s = latency_s
        self.behaviours = dict(behaviours)
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.conversations: dict[str, list[str]] = {}
        """What each session said so far (sessions kept by ``session_by`` behaviours)."""
        self._issued = 0

    def behave(self, path: str, behaviour: Behaviour) -> None:
        """Make ``path`` (e.g. ``"/slow"``) answer as ``behaviour``."""
        self.behaviours[path] = behaviour

    def reset(self) -> None:
        """Forget recorded requests and the peak."""
        self.requests.clear()
        self.peak_in_flight = self.in_flight

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            raw = await request.text()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=dict(request.headers),
                    body=body,
                )
            )
            behaviour = self.behaviours.get(request.path, Behaviour())
            delay = self.latency_s + behaviour.latency_s
            if delay > 0:
                await asyncio.sleep(delay)
            if behaviour.hang:
                await asyncio.Event().wait()
            return await self._answer(request, behaviour, body)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, request: web.Request, behaviour: Behaviour, body: Any
    ) -> web.StreamResponse:
        if behaviour.redirect_to is not None:
            return web.Response(
                status=behaviour.redirect_status, headers={"Location": behaviour.redirect_to}
            )
        if behaviour.huge_bytes is not None:
            response = web.StreamResponse(status=behaviour.status, headers=behaviour.headers)
            response.content_type = "application/json"
            await response.prepare(request)
            chunk = b"x" * 65536
            left = behaviour.huge_bytes
            while left > 0:
                await response.write(chunk[:left])
                left -= len(chunk)
            await response.write_eof()
            return response
        if behaviour.text is not None:
            return web.Response(
                status=behaviour.status, text=behaviour.text, headers=behaviour.headers
            )
        if behaviour.session_by is not None:
            return self._converse(request, behaviour, body)
        if behaviour.json_body is not None:
            payload = behaviour.json_body
        else:
            payload = {
                "output": behaviour.output
                if behaviour.output is not None
                else f"echo: {_input_of(body)}",
                "tool_calls": behaviour.tool_calls,
                "usage": behaviour.usage,
            }
        return web.json_response(payload, status=behaviour.status, headers=behaviour.headers)

    def _converse(self, request: web.Request, behaviour: Behaviour, body: Any) -> web.Response:
        said = _input_of(body)
        sent_id = body.get("session_id") if isinstance(body, dict) else None
        sent_id = sent_id or request.headers.get("X-Session-ID")
        payload: dict[str, Any] = {}
        new_cookie: str | None = None
        if behaviour.session_by == "id":
            key = f"id:{sent_id}"
        elif behaviour.session_by == "cookie":
            sid = request.cookies.get("sid")
            if sid is None:
                self._issued += 1
                sid = new_cookie = f"c{self._issued}"
            key = f"cookie:{sid}"
        else:
            if f"issued:{sent_id}" in self.conversations:
                key = f"issued:{sent_id}"
            elif str(sent_id).startswith("agent-"):
                return web.json_response({"error": "unknown session"}, status=409)
            else:
                self._issued += 1
                key = f"issued:agent-{self._issued}"
                payload["session"] = {"id": f"agent-{self._issued}"}
        earlier = self.conversations.setdefault(key, [])
        output = f"turn {len(earlier) + 1}: {said}"
        if earlier:
            output += f" (earlier: {' | '.join(earlier)})"
        earlier.append(said)
        payload |= {"output": output, "tool_calls": behaviour.tool_calls, "usage": behaviour.usage}
        response = web.json_response(payload, status=behaviour.status, headers=behaviour.headers)
        if new_cookie is not None:
            response.set_cookie("sid", new_cookie)
        return response


def _input_of(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("input", "message", "prompt"):
            if key in body:
                return str(body[key])
    return "" if body is None else str(body)


@asynccontextmanager
async def start_mock_agent(
    *,
    latency_s: float = 0.0,
    behaviours: dict[str, Behaviour] | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[MockAgent]:
    """Serve a :class:`MockAgent` on ``host`` (an ephemeral port) for the block's duration.

    Args:
        latency_s: Delay before every answer.
        behaviours: Per-path behaviours; other paths echo through the agent contract.
        host: Loopback address to bind (127.0.0.1; 127.0.0.2 for a second, "other" host).
    """
    mock = MockAgent(latency_s=latency_s, behaviours=behaviours or {})
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", mock._handle)
    # handler_cancellation: a client that gives up on a hanging path frees its handler, so
    # the in-flight count stays true and shutdown does not wait for it.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    mock.url = f"http://{host}:{port}"
    try:
        yield mock
    finally:
        await runner.cleanup()
