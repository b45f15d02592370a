"""A collector on 127.0.0.1 that keeps every byte it is sent: what an attacker's server would see.

It works below HTTP, so nothing is lost to parsing: every connection is counted, and its raw
bytes are kept even if they are not HTTP at all. Requests that are HTTP/1.1 are parsed into
:class:`Collected` (method, path, query, headers, body) and answered with the agent contract
(``{"output": "collected"}``), one request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

_ANSWER = b'{"output": "collected"}'


@dataclass(frozen=True)
class Collected:
    """One HTTP request as it arrived."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw: bytes


@dataclass
class Collector:
    """What the collector has seen; ``url`` is ``http://127.0.0.1:PORT``."""

    url: str = ""
    connections: int = 0
    raw: list[bytes] = field(default_factory=list)
    requests: list[Collected] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def everything(self) -> bytes:
        """Every byte received on every connection, in order."""
        return b"".join(self.raw)

    def saw(self, value: str) -> bool:
        """Whether ``value`` arrived anywhere, as it is or percent-encoded in a URL."""
        data = self.everything()
        encoded = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in value)
        return (
            value.encode() in data or encoded.encode() in data or encoded.lower().encode() in data
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        received = bytearray()
        index = len(self.raw)
        self.raw.append(b"")
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            received += head
            self.raw[index] = bytes(received)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    received += size_line + chunk
                    body += chunk[:-2]
                    if size == 0:
                        break
            received += body
            self.raw[index] = bytes(received)
            split = urlsplit(target)
            self.requests.append(
                Collected(
                    method=method,
                    path=split.path,
                    query=dict(parse_qsl(split.query)),
                    headers=headers,
                    body=body,
                    raw=bytes(received),
                )
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(_ANSWER)}\r\n\r\n".encode()
                + _ANSWER
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            partial = getattr(exc, "partial", b"")
            self.raw[index] = bytes(received) + (partial if isinstance(partial, bytes) else b"")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def start_collector() -> AsyncIterator[Collector]:
    """Serve a :class:`Collector` on 127.0.0.1 (an ephemeral port) for the block's duration."""
    collector = Collector()
    server = await asyncio.start_server(collector._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    collector.url = f"http://127.0.0.1:{port}"
    try:
        yield collector
    finally:
        server.close()
        await server.wait_closed()
