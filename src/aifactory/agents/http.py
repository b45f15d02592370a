"""An agent behind an HTTP endpoint, called through aiohttp behind the SSRF guard.

Per call the agent fills the configured body from the test case, reads ``${env:NAME}`` in the
URL, headers and body (only names the :class:`EnvPolicy` allows; a refused one stops the call
before anything is sent), checks the host against the :class:`AddressPolicy`, sends the
request, follows at most three redirects by hand (checking each hop the same way) and reads the
answer: the agent contract, or the value at ``output_path``.

In a conversation (:meth:`HTTPAgent.session`) every turn goes through the same path, so the guard
holds at every turn. The session sends the conversation's ``{{session_id}}`` (or, once
``session_path`` has read it from the agent's first reply, the agent's own), keeps the cookies
the agent sets for that conversation only, and, without a body template, sends the contract
body ``{"input", "messages", "session_id"}``. Single-turn cases send ``{"input"}`` as always.

No request is ever sent to a refused address: the session's connector resolves names through
:class:`GuardedResolver`, which checks the addresses it returns, so aiohttp connects only to
addresses that passed the guard (a DNS answer that changes between check and connect cannot
slip through). Address literals never reach a resolver, so :func:`guarded_session` checks them
as each request starts (the agent checks them too, and sends the canonical spelling). The llm
provider clients use the same session for an agent-chosen ``base_url``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from aifactory.agents.env import EnvPolicy
from aifactory.agents.responses import extract, parse_reply
from aifactory.agents.ssrf import AddressPolicy, parse_ip_literal
from aifactory.agents.templating import (
    CaseValues,
    fill,
    fill_header,
    fill_string,
    has_placeholders,
)
from aifactory.domain.agent_config import HTTPAgentConfig
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import (
    AgentError,
    AgentHTTPError,
    AgentResponseError,
    AgentTimeout,
)

MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_EXCERPT = 200
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
CONTRACT_BODY: dict[str, str] = {
    "input": "{{input}}",
    "messages": "{{messages}}",
    "session_id": "{{session_id}}",
}
"""What a conversation's turn sends when the agent's config gives no body template (built
directly, as this template would fill)."""


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns only addresses the policy allows.

    A name with any refused address raises :class:`BlockedAddressError` through aiohttp, so the
    connection is never opened.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and check every address."""
        return [
            ResolveResult(
                hostname=host,
                host=address.host,
                port=address.port,
                family=address.family,
                proto=0,
                flags=_NUMERIC_FLAGS,
            )
            for address in await self._policy.resolve_checked(host, port, family)
        ]

    async def close(self) -> None:
        """Nothing to release."""


def _literal_guard(policy: AddressPolicy) -> aiohttp.TraceConfig:
    """Checks a request's host when it is an address literal, which no resolver ever sees."""

    # A host's verdict never changes under one policy: remember the hosts that passed.
    passed: set[str] = set()

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        host = params.url.host
        if not host or host in passed:
            return
        literal = parse_ip_literal(host)
        if literal is not None:
            policy.check_ip(host, literal)
        if len(passed) < 256:
            passed.add(host)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


def guarded_session(policy: AddressPolicy, *, limit: int = 100) -> aiohttp.ClientSession:
    """A client session whose connections go only to addresses ``policy`` allows.

    Names are resolved and checked by :class:`GuardedResolver` for every new connection, and
    connected to only at the checked addresses; an address literal is checked as its request
    starts. A refused address raises :class:`BlockedAddressError` before anything is sent.

    Must be called with an event loop running. ``limit`` bounds open connections; keep-alive
    reuses them across calls.
    """
    connector = aiohttp.TCPConnector(
        limit=limit,
        resolver=GuardedResolver(policy),
        # Every new connection resolves (and checks) again instead of trusting a cached answer.
        use_dns_cache=False,
        keepalive_timeout=30.0,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        trust_env=False,
        auto_decompress=True,
        trace_configs=[_literal_guard(policy)],
        # Cookies belong to one conversation (or one call), never to every case of the agent.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _is_guarded(session: aiohttp.ClientSession) -> bool:
    return isinstance(getattr(session.connector, "_resolver", None), GuardedResolver)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def _display(url: URL) -> str:
    """A URL for messages: no credentials, no query (either may carry a secret)."""
    return str(url.with_user(None).with_query(None).with_fragment(None))


class _Conversation:
    """What one conversation keeps: the session id it sends, and the agent's cookies."""

    __slots__ = ("jar", "session_id", "session_read")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.session_read = False
        self.jar: aiohttp.CookieJar | None = None


class HTTPSession:
    """One conversation with an :class:`HTTPAgent` (its turns in order)."""

    __slots__ = ("_agent", "_state", "session_id")

    def __init__(self, agent: HTTPAgent, session_id: str) -> None:
        self._agent = agent
        self._state = _Conversation(session_id)
        self.session_id = session_id

    @property
    def sent_session_id(self) -> str:
        """The session id the next turn sends (the agent's own, once read)."""
        return self._state.session_id

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Send this turn (``case.input`` holds the conversation so far) and read the answer."""
        return await self._agent._respond(case, timeout, self._state)

    async def aclose(self) -> None:
        """Forget the conversation's cookies."""
        self._state.jar = None


class HTTPAgent:
    """Calls an HTTP endpoint for every test case.

    Args:
        config: URL, method, headers, body template, ``output_path`` and time limit.
        policy: The SSRF guard's policy.
        env: Which ``${env:NAME}`` the config may read (default: none).
        session: A session to share; it should come from :func:`guarded_session`. A session
            without the guarded resolver still works: then every hostname is resolved and
            checked before each request (weaker against DNS rebinding). The agent closes only
            a session it made itself.
        max_connections: Connection limit of the session the agent makes.
    """

    def __init__(
        self,
        config: HTTPAgentConfig,
        *,
        policy: AddressPolicy,
        env: EnvPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
    ) -> None:
        self._config = config
        self._policy = policy
        self._env = env or EnvPolicy()
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._templated_body = has_placeholders(config.body)
        self._templated_url = has_placeholders(config.url)
        # Without a body of its own, a conversation's turn sends the contract body.
        self._contract_body = "body" not in config.model_fields_set
        self._literals_ok: dict[str, str] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = guarded_session(self._policy, limit=self._max_connections)
        return self._session

    def session(self, session_id: str) -> HTTPSession:
        """A session for one conversation: its session id, its cookies, its turns in order."""
        return HTTPSession(self, session_id)

    def _build(
        self, case: TestCase, secrets: list[str], state: _Conversation | None
    ) -> tuple[URL, dict[str, str], Any]:
        config = self._config
        values = CaseValues(case, state.session_id if state is not None else None)
        url_text = config.url
        if self._templated_url:
            url_text = str(fill_string(url_text, values, secrets, self._env, url=True))
        try:
            url = URL(url_text, encoded=False)
        except ValueError as exc:
            raise AgentError(
                f"The agent URL {config.url!r} is not a valid URL once filled in; check it."
            ) from exc
        headers = {
            name: fill_header(name, value, values, secrets, self._env)
            for name, value in config.headers.items()
        }
        if state is not None and self._contract_body:
            body: Any = {
                "input": values.lookup("input"),
                "messages": values.lookup("messages"),
                "session_id": values.session_id,
            }
        elif self._templated_body:
            body = fill(config.body, values, secrets, self._env)
        else:
            body = config.body
        return url, headers, body

    async def _check(self, url: URL, session: aiohttp.ClientSession) -> URL:
        """Check ``url``'s host; return the URL with an address literal in canonical form."""
        if url.scheme not in ("http", "https") or not url.host:
            raise AgentResponseError(
                f"The agent sent the request to {_display(url)!r}, which is not an http(s) URL "
                "with a host."
            )
        host = url.host
        canonical = self._literals_ok.get(host)
        if canonical is not None:
            # An address literal's verdict never changes for this agent's policy.
            return url if canonical == host else url.with_host(canonical)
        literal = parse_ip_literal(host)
        if literal is not None:
            self._policy.check_ip(host, literal)
            if len(self._literals_ok) < 64:
                self._literals_ok[host] = literal.compressed if literal.version == 4 else host
            if literal.version == 4 and host != literal.compressed:
                # aiohttp refuses legacy spellings (127.1); send the canonical form instead.
                url = url.with_host(literal.compressed)
        elif not _is_guarded(session):
            await self._policy.resolve_checked(host, url.port or 0)
        return url

    async def respond(self, case: TestCase, *, timeout: float) -> AgentReply:
        """Send ``case`` to the endpoint and read its answer.

        Raises:
            AgentTimeout: No full answer within the smaller of ``timeout`` and ``timeout_s``.
            BlockedAddressError: The host, or a redirect's host, is refused.
            AgentHTTPError: The endpoint answered a non-2xx status.
            AgentResponseError: Too many redirects, a body too large, or not understood.
            AgentError: The endpoint could not be reached or the config cannot be filled.
        """
        return await self._respond(case, timeout, None)

    async def _respond(
        self, case: TestCase, timeout: float, state: _Conversation | None
    ) -> AgentReply:
        limit = min(timeout, self._config.timeout_s)
        secrets: list[str] = []
        start = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                status, raw = await self._exchange(case, secrets, state)
        except TimeoutError as exc:
            raise AgentTimeout(
                f"The agent at {self._config.url!r} did not answer within {limit:g} s."
            ) from exc
        except aiohttp.ClientError as exc:
            error = AgentError(
                f"The agent at {self._config.url!r} could not be reached: "
                f"{_redact(f'{type(exc).__name__}: {exc}', secrets)}."
            )
            # A dropped or refused connection is worth another attempt (the case runner's
            # retries); a malformed answer is not.
            setattr(error, "transient", isinstance(exc, aiohttp.ClientConnectionError))  # noqa: B010
            raise error from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        if not 200 <= status < 300:
            excerpt = _redact(raw[:_EXCERPT].decode("utf-8", "replace"), secrets)
            raise AgentHTTPError(
                f"The agent at {self._config.url!r} answered HTTP {status}: {excerpt!r}.",
                status=status,
            )
        reply = parse_reply(raw, self._config.output_path, latency_ms=latency_ms)
        if state is not None and not state.session_read and self._config.session_path:
            state.session_id = self._agent_session_id(raw)
            state.session_read = True
        return reply

    def _agent_session_id(self, raw: bytes) -> str:
        """The agent's own session id, at ``session_path`` in its first reply."""
        path = self._config.session_path
        assert path is not None
        try:
            value = extract(json.loads(raw), path)
        except (ValueError, AgentResponseError) as exc:
            raise AgentResponseError(
                f"The agent's first reply has no session id at session_path {path!r}; fix the "
                "session_path or make the agent answer one."
            ) from exc
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise AgentResponseError(
                f"The agent's session id at session_path {path!r} is {value!r}, not a string "
                "or a number."
            )
        return str(value)

    async def _exchange(
        self, case: TestCase, secrets: list[str], state: _Conversation | None
    ) -> tuple[int, bytes]:
        session = self._get_session()
        url, headers, body = self._build(case, secrets, state)
        jar = state.jar if state is not None else None
        method = self._config.method
        origin = url.origin()
        for hop in range(MAX_REDIRECTS + 1):
            url = await self._check(url, session)
            kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
            if method != "GET" and body is not None:
                if isinstance(body, str):
                    kwargs["data"] = body.encode()
                else:
                    kwargs["data"] = json.dumps(body, ensure_ascii=False).encode()
                    kwargs["headers"] = {"Content-Type": "application/json", **headers}
            if jar is not None:
                cookies = jar.filter_cookies(url)
                if cookies:
                    kwargs["cookies"] = cookies
            async with session.request(method, url, **kwargs) as response:
                if response.cookies:
                    if jar is None:
                        # Kept for the redirects of this call, or for the conversation.
                        jar = aiohttp.CookieJar(unsafe=True)
                        if state is not None:
                            state.jar = jar
                    jar.update_cookies(response.cookies, response.url)
                location = response.headers.get("Location")
                if response.status not in _REDIRECTS or location is None:
                    if 200 <= response.status < 300:
                        return response.status, await _read_capped(response)
                    return response.status, await response.content.read(_EXCERPT * 4)
            if hop == MAX_REDIRECTS:
                break
            try:
                url = url.join(URL(location))
            except ValueError as exc:
                raise AgentResponseError(
                    f"The agent redirected to a URL that cannot be read: {location[:100]!r}."
                ) from exc
            if response.status == 303 or (response.status in (301, 302) and method != "GET"):
                method, body = "GET", None
            if url.origin() != origin:
                # Configured headers may hold credentials; never hand them to another origin.
                headers = {}
        raise AgentResponseError(
            f"The agent at {self._config.url!r} redirected more than {MAX_REDIRECTS} times; "
            "point the agent's URL at the final address."
        )

    async def aclose(self) -> None:
        """Close the session if the agent made it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None and length > MAX_RESPONSE_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> AgentResponseError:
    return AgentResponseError(
        f"The agent's answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; "
        "answer with less."
    )
