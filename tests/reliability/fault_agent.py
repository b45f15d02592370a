"""An HTTP agent that misbehaves on purpose, one fault per path, counting every request.

Paths (all speak the agent contract when they answer at all):

- ``/ok``: answers ``echo: <input>`` at once;
- ``/status500``: answers HTTP 500 with an HTML page;
- ``/garbage``: answers 200 with a body that is not JSON;
- ``/reset``: drops the connection without answering;
- ``/hang``: never answers;
- ``/drip...``: answers correctly, one byte every ``drip_s`` seconds;
- ``/flaky``: answers 503 to the first request for each input, then correctly.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


class FaultAgent:
    """The running server: its URL and how many requests each path received."""

    def __init__(self, drip_s: float) -> None:
        self.url = ""
        self.drip_s = drip_s
        self.requests: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests[request.path] += 1
        try:
            body: Any = await request.json()
        except ValueError:
            body = {}
        text = str(body.get("input", "")) if isinstance(body, dict) else ""
        payload = json.dumps(
            {"output": f"echo: {text}", "tool_calls": [], "usage": {"input_tokens": 1}}
        ).encode()
        path = request.path
        if path == "/status500":
            return web.Response(status=500, text="<html>Internal Server Error</html>")
        if path == "/garbage":
            return web.Response(status=200, text="<html>{not json", content_type="application/json")
        if path == "/reset":
            assert request.transport is not None
            request.transport.abort()
            await asyncio.Event().wait()
        if path == "/hang":
            await asyncio.Event().wait()
        if path == "/flaky":
            self._seen[text] += 1
            if self._seen[text] == 1:
                return web.Response(status=503, text="busy")
        if path.startswith("/drip"):
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.content_length = len(payload)
            await response.prepare(request)
            for byte in payload:
                await response.write(bytes([byte]))
                await asyncio.sleep(self.drip_s)
            await response.write_eof()
            return response
        return web.Response(body=payload, content_type="application/json")


@asynccontextmanager
async def start_fault_agent(*, drip_s: float = 0.01) -> AsyncIterator[FaultAgent]:
    """Serve a :class:`FaultAgent` on 127.0.0.1 (an ephemeral port) for the block."""
    agent = FaultAgent(drip_s)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", agent.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    agent.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield agent
    finally:
        await runner.cleanup()
