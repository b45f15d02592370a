"""Failed authentication is throttled per client address, and valid keys are never held back."""

from __future__ import annotations

import re

import httpx
from tests.fakes.service import ADMIN_KEY, Service

from aifactory.service.throttle import FailureThrottle, client_bucket

WRONG_KEYS = [f"afk_guess-{i:04d}-0123456789abcdefghijklmnop" for i in range(100)]


def client_at(service: Service, address: str, key: str | None = None) -> httpx.AsyncClient:
    """HTTP to the app as seen from ``address`` (what uvicorn reports as the client)."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    transport = httpx.ASGITransport(service.app, client=(address, 40000))
    return httpx.AsyncClient(base_url="http://test", transport=transport, headers=headers)


async def fail_until_blocked(http: httpx.AsyncClient, limit: int) -> httpx.Response:
    """Send wrong keys: ``limit`` answers 401, the next one is returned."""
    for key in WRONG_KEYS[:limit]:
        answer = await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 401, answer.text
    return await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {WRONG_KEYS[-1]}"})


async def test_wrong_keys_are_throttled_but_a_valid_key_keeps_working(service: Service) -> None:
    limit = service.settings.auth_failures_per_minute
    assert limit == 20  # the default
    async with client_at(service, "203.0.113.7") as http:
        working = await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert working.status_code == 200
        blocked = await fail_until_blocked(http, limit)
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        # Nor does a missing key get through to a 401 now.
        assert (await http.get("/api/v1/agents")).status_code == 429
        # The key that was working from this address goes on working, every time.
        for _ in range(30):
            answer = await http.get(
                "/api/v1/agents", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            assert answer.status_code == 200, answer.text
    # Other addresses are not affected.
    async with client_at(service, "198.51.100.4", WRONG_KEYS[0]) as elsewhere:
        assert (await elsewhere.get("/api/v1/agents")).status_code == 401


async def test_a_blocked_address_gets_no_answer_about_its_guesses(service: Service) -> None:
    created = await service.client.create_key("ci", scopes=["read"])
    async with client_at(service, "203.0.113.8") as http:
        assert (await fail_until_blocked(http, 20)).status_code == 429
        # Even a right key that this process has not verified yet is not checked while the
        # address is blocked: checking it would tell a guesser that it guessed right.
        fresh = await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {created.key}"})
        assert fresh.status_code == 429
    async with client_at(service, "198.51.100.9", created.key) as other:
        assert (await other.get("/api/v1/agents")).status_code == 200


async def test_failed_dashboard_sign_ins_count_too(service: Service) -> None:
    async with client_at(service, "203.0.113.9") as http:
        page = await http.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        statuses = []
        for key in WRONG_KEYS[:21]:
            answer = await http.post("/signin", data={"api_key": key, "csrf_token": token[1]})
            statuses.append(answer.status_code)
        assert statuses == [401] * 20 + [429]
        assert int(answer.headers["retry-after"]) >= 1
        assert "Too many failed authentications" in answer.text
        # The API from the same address is held back as well.
        api = await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {WRONG_KEYS[0]}"})
        assert api.status_code == 429
        # A key already verified here still signs in.
        await http.get("/api/v1/agents", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    async with client_at(service, "198.51.100.10", ADMIN_KEY) as warm:
        assert (await warm.get("/api/v1/agents")).status_code == 200
    async with client_at(service, "203.0.113.9") as http:
        page = await http.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = await http.post("/signin", data={"api_key": ADMIN_KEY, "csrf_token": token[1]})
        assert signed_in.status_code == 303


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_block_ends_with_its_minute() -> None:
    clock = Clock()
    throttle = FailureThrottle(3, clock=clock)
    for _ in range(3):
        assert throttle.blocked_for("192.0.2.1") == 0
        throttle.failed("192.0.2.1")
    assert throttle.blocked_for("192.0.2.1") == 60
    clock.now += 45
    assert throttle.blocked_for("192.0.2.1") == 15
    assert throttle.blocked_for("192.0.2.2") == 0
    clock.now += 15
    assert throttle.blocked_for("192.0.2.1") == 0
    throttle.failed("192.0.2.1")
    assert throttle.blocked_for("192.0.2.1") == 0


def test_the_table_of_addresses_is_bounded() -> None:
    throttle = FailureThrottle(1, max_addresses=100, clock=Clock())
    for i in range(10_000):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(throttle) == 100
    # The most recent failures are the ones remembered.
    assert throttle.blocked_for("10.0.39.15") > 0
    assert throttle.blocked_for("10.0.0.1") == 0


def test_an_ipv6_host_is_counted_by_its_64_network() -> None:
    throttle = FailureThrottle(2, clock=Clock())
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2:ffff::9")
    assert throttle.blocked_for("2001:db8:1:2:aaaa::5") > 0
    assert throttle.blocked_for("2001:db8:1:3::1") == 0
    assert client_bucket("::ffff:192.0.2.5") == "192.0.2.5"
    assert client_bucket(None) == ""


def test_zero_turns_the_throttle_off() -> None:
    throttle = FailureThrottle(0, clock=Clock())
    for _ in range(100):
        throttle.failed("192.0.2.1")
    assert throttle.blocked_for("192.0.2.1") == 0
    assert len(throttle) == 0
