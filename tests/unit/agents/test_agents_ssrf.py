"""The SSRF guard: refused addresses in every spelling, at registration and at call time."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from tests.fakes.mock_agent import Behaviour, MockAgent, start_mock_agent

from aifactory.agents.http import HTTPAgent
from aifactory.agents.ssrf import AddressPolicy, is_blocked_ip, parse_ip_literal
from aifactory.domain.agent_config import HTTPAgentConfig
from aifactory.domain.models import TestCase
from aifactory.errors import BlockedAddressError, ConfigError
from aifactory.settings import load_settings

CASE = TestCase(name="c", input="hello")


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fd12:3456::1",
        "fc00::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
    ],
)
def test_blocked_addresses(ip: str) -> None:
    assert is_blocked_ip(ip)


@pytest.mark.parametrize(
    "ip", ["8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(ip: str) -> None:
    assert not is_blocked_ip(ip)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("08.0.0.1", None),
        ("256.0.0.1", None),
    ],
)
def test_literals_are_read_like_browsers(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (parsed.compressed if parsed else None) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/agent",
        "http://localhost.@127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::1]:9000/",
        "http://[fd00::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[::ffff:127.0.0.1]/",
        "https://user:pw@192.168.0.1/",
    ],
)
def test_literal_refused_at_registration(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="AIFACTORY_ALLOWED_AGENT_HOSTS"):
        AddressPolicy().check_literal_url(url)


def test_registration_message_names_the_reason() -> None:
    with pytest.raises(BlockedAddressError, match=r"'2130706433' \(127\.0\.0\.1\) is a loopback"):
        AddressPolicy().check_literal_url("http://2130706433/")


def test_hostnames_and_public_literals_pass_registration() -> None:
    policy = AddressPolicy()
    policy.check_literal_url("https://agents.example.com/v1")
    policy.check_literal_url("http://8.8.8.8/")


def test_backslash_authority_refused_at_registration() -> None:
    with pytest.raises(ConfigError, match="backslash"):
        AddressPolicy().check_literal_url("http://127.0.0.1\\@example.com/")


def test_allowlist_by_ip_cidr_and_host_at_registration() -> None:
    policy = AddressPolicy(["10.0.0.5", "192.168.0.0/16", "agents.internal", "*.corp.test"])
    policy.check_literal_url("http://10.0.0.5/")
    policy.check_literal_url("http://192.168.44.1/")
    with pytest.raises(BlockedAddressError):
        policy.check_literal_url("http://10.0.0.6/")
    assert policy.host_allowed("agents.internal")
    assert policy.host_allowed("AGENTS.INTERNAL.")
    assert policy.host_allowed("bot.corp.test")
    assert not policy.host_allowed("corp.test.evil.com")


def test_policy_from_settings() -> None:
    settings = load_settings({"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1, 10.0.0.0/8"})
    policy = AddressPolicy.from_settings(settings)
    policy.check_literal_url("http://127.0.0.1/")
    policy.check_literal_url("http://10.9.9.9/")
    with pytest.raises(BlockedAddressError):
        policy.check_literal_url("http://127.0.0.2/")


def test_malformed_cidr_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid network"):
        AddressPolicy(["10.0.0.0/99"])


async def test_hostname_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(BlockedAddressError, match="'localhost'"):
        await AddressPolicy().resolve_and_check("localhost", 80)


async def test_hostname_allowed_by_name_resolves() -> None:
    addresses = await AddressPolicy(["localhost"]).resolve_and_check("localhost", 80)
    assert addresses
    assert all(is_blocked_ip(a) for a in addresses)


async def test_literal_allowed_by_cidr_resolves_without_dns() -> None:
    assert await AddressPolicy(["127.0.0.0/8"]).resolve_and_check("127.1", 80) == ["127.0.0.1"]


# --- call time: no request ever reaches a refused address --------------------------------


@pytest.fixture
async def mock() -> AsyncIterator[MockAgent]:
    async with start_mock_agent() as server:
        yield server


def http_agent(url: str, policy: AddressPolicy) -> HTTPAgent:
    return HTTPAgent(HTTPAgentConfig(url=url, timeout_s=5), policy=policy)


async def call(url: str, policy: AddressPolicy) -> None:
    agent = http_agent(url, policy)
    try:
        await agent.respond(CASE, timeout=5)
    finally:
        await agent.aclose()


async def test_loopback_mock_receives_nothing_when_not_allowed(mock: MockAgent) -> None:
    port = mock.url.rsplit(":", 1)[1]
    spellings = [
        mock.url,
        f"http://2130706433:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://127.1:{port}/",
        f"http://localhost:{port}/",
    ]
    for url in spellings:
        with pytest.raises(BlockedAddressError):
            await call(url, AddressPolicy())
    assert len(mock.requests) == 0


async def test_decimal_literal_reaches_mock_when_allowed(mock: MockAgent) -> None:
    port = mock.url.rsplit(":", 1)[1]
    await call(f"http://2130706433:{port}/", AddressPolicy(["127.0.0.1"]))
    assert len(mock.requests) == 1


@pytest.mark.parametrize("entry", ["127.0.0.1", "127.0.0.0/8", "localhost"])
async def test_allowlist_lets_the_call_through(mock: MockAgent, entry: str) -> None:
    url = mock.url if entry != "localhost" else mock.url.replace("127.0.0.1", "localhost")
    await call(url, AddressPolicy([entry]))
    assert len(mock.requests) == 1


def _can_bind(host: str) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


async def test_redirect_to_refused_address_is_refused_and_canary_untouched(
    mock: MockAgent,
) -> None:
    # The canary plays an internal service on another loopback address than the allowed one.
    canary_host = "127.0.0.2" if _can_bind("127.0.0.2") else "::1"
    async with start_mock_agent(host=canary_host) as canary:
        mock.behave("/hop", Behaviour(redirect_to=f"{canary.url}/secret"))
        with pytest.raises(BlockedAddressError):
            await call(f"{mock.url}/hop", AddressPolicy(["127.0.0.1"]))
        assert [r.path for r in mock.requests] == ["/hop"]
        assert canary.requests == []


def fake_dns(answers: dict[str, list[str]]) -> Callable[..., Awaitable[list[tuple[Any, ...]]]]:
    """A getaddrinfo that answers from ``answers``, like a DNS server an attacker controls."""

    async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[Any, ...]]:
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answers[host]
        ]

    return getaddrinfo


async def test_any_refused_address_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(
        loop, "getaddrinfo", fake_dns({"mixed.test": ["93.184.216.34", "10.0.0.1"]})
    )
    with pytest.raises(BlockedAddressError, match=r"'mixed\.test' \(10\.0\.0\.1\) is a private"):
        await AddressPolicy().resolve_and_check("mixed.test", 443)


async def test_agent_connects_to_the_checked_address_of_a_name(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_dns({"agent.test": ["127.0.0.1"]}))
    port = mock.url.rsplit(":", 1)[1]
    await call(f"http://agent.test:{port}/", AddressPolicy(["127.0.0.1"]))
    assert [r.headers["Host"] for r in mock.requests] == [f"agent.test:{port}"]


async def test_name_resolving_to_internal_address_sends_nothing(
    mock: MockAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_dns({"rebind.test": ["127.0.0.1"]}))
    port = mock.url.rsplit(":", 1)[1]
    with pytest.raises(BlockedAddressError, match="loopback"):
        await call(f"http://rebind.test:{port}/", AddressPolicy())
    assert mock.requests == []
