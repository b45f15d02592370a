"""Pure ASGI middleware: request ids, access logs and metrics, and the body-size limit.

Written against ASGI directly rather than ``BaseHTTPMiddleware`` so each costs microseconds
and streams bodies instead of buffering them.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aifactory.api.errors import error_body

access_log = logging.getLogger("aifactory.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Observer = Callable[[str, str, int, float], None]
"""Called with method, route template, status and seconds after each request."""


_ids = random.Random()  # seeded from the OS, and again in each forked worker
os.register_at_fork(after_in_child=_ids.seed)


def _new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``, from a PRNG: an id needs to be unique, not
    unguessable, and reading the OS's randomness costs a system call a request."""
    return f"{_ids.getrandbits(128):032x}"


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-ID``), times it, logs it and counts it."""

    def __init__(self, app: ASGIApp, *, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if self.observe is not None:
                self.observe(scope["method"], template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses bodies above ``max_bytes`` with 413, chunked ones too, never reading them whole.

    A declared ``Content-Length`` above the limit is refused before a byte is read; otherwise
    the bytes are counted as the application reads them and the request is cut off at the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"The request body is larger than the limit of {self.max_bytes} bytes.",
                {"max_bytes": self.max_bytes},
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
                break
        seen = 0
        started = False
        overflowed = False

        async def counting_receive() -> Message:
            nonlocal seen, overflowed
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    overflowed = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflowed:
                # The application caught our signal and answers something else (a 400 for an
                # unreadable body, say): the client gets the 413 it deserves instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception as exc:
            if (overflowed or _caused_by_too_large(exc)) and not started:
                await self._refuse(send)
                return
            raise


def _caused_by_too_large(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _TooLarge):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    group: Any = exc
    return any(_caused_by_too_large(e) for e in getattr(group, "exceptions", ()))
