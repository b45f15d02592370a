"""The provider SDKs' HTTP client, on an aiohttp session of our choosing when asked.

Both SDKs take an ``http_client``; their ``DefaultAioHttpClient`` puts httpx's interface over an
aiohttp transport. We give it the public ``httpx-aiohttp`` transport (not the copy the SDKs vendor
privately), which accepts the aiohttp session to send through. An llm agent
that names its own ``base_url`` gets a session from
:func:`aifactory.agents.http.guarded_session`, so its host is resolved, checked against the SSRF
guard and pinned at every connection, as an http agent's is; an address literal (a redirect to
one included) is checked as each request starts. Redirects go through the same session, at most
:data:`MAX_REDIRECTS` of them, and proxies from the environment are ignored (a proxy would
resolve the host beyond the guard).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import aiohttp
import httpx2
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.httpx2 import AiohttpTransport as Httpx2AiohttpTransport

SessionFactory = Callable[[], aiohttp.ClientSession]
"""Makes the session at the first request (aiohttp sessions need a running event loop)."""

MAX_REDIRECTS = 3


def aiohttp_client(sdk: ModuleType, session: SessionFactory | None = None) -> Any:
    """The SDK's ``DefaultAioHttpClient``, sending through ``session``'s sessions when given.

    Args:
        sdk: The SDK module (``anthropic`` or ``openai``).
        session: Makes the aiohttp session every request goes through; the client closes it.
    """
    if session is None:
        return sdk.DefaultAioHttpClient()
    # The SDKs' clients are built on httpx or on its successor httpx2; the transport must match.
    on_httpx2 = issubclass(sdk.DefaultAioHttpClient, httpx2.AsyncClient)
    transport = (Httpx2AiohttpTransport if on_httpx2 else AiohttpTransport)(client=session)
    return sdk.DefaultAioHttpClient(
        transport=transport, trust_env=False, max_redirects=MAX_REDIRECTS
    )
