"""A TCP proxy of the tests' own, to take a server away and give it back.

``TcpProxy`` listens on 127.0.0.1 (an ephemeral port, kept across cuts) and forwards every
connection to a target such as PostgreSQL on 127.0.0.1:5432. :meth:`TcpProxy.cut` closes every
forwarded connection and stops listening, so new connections are refused at once, as when the
database host goes away; :meth:`TcpProxy.restore` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CHUNK = 65536


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port`` until cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def cut_off(self) -> bool:
        return self._server is None

    async def start(self) -> None:
        """Listen (on the same port as before, after a cut)."""
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        """Accept connections again."""
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._server is None:
            client_w.transport.abort()
            return
        self.accepted += 1
        try:
            upstream_r, upstream_w = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, upstream_w))
        pipes = [
            asyncio.create_task(self._pipe(client_r, upstream_w)),
            asyncio.create_task(self._pipe(upstream_r, client_w)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_w, upstream_w):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One direction ended: end the other too, as a dropped connection would.
            with contextlib.suppress(OSError):
                writer.transport.abort()


@asynccontextmanager
async def tcp_proxy(target_host: str, target_port: int) -> AsyncIterator[TcpProxy]:
    """A started :class:`TcpProxy`, closed when the block ends."""
    proxy = TcpProxy(target_host, target_port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
