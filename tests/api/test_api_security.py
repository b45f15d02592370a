"""SSRF through the API: stored HTTP agents whose calls would reach private addresses.

The service here allows only ``example.invalid`` besides public addresses, so every loopback
address is refused: a hostname that resolves to one passes registration (it is no literal) and
must be refused when it is called, before any byte is sent. A redirect from an allowed address
to a private one must not be followed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.fakes.mock_agent import Behaviour, start_mock_agent
from tests.fakes.service import Service

from aifactory.client import APIStatusError

CASE = {"name": "hello", "input": "hello", "checks": [{"type": "contains", "value": "hello"}]}


@pytest.fixture
def service_env() -> dict[str, Any]:
    return {"AIFACTORY_ALLOWED_AGENT_HOSTS": "example.invalid"}


def http_agent(agent_id: str, url: str) -> dict[str, Any]:
    return {"id": agent_id, "kind": "http", "config": {"url": url, "timeout_s": 5}}


async def wait_finished(service: Service, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        status = (await service.http.get(f"/api/v1/test/status/{run_id}")).json()
        if status["status"] not in ("queued", "running"):
            return dict(status)
        await asyncio.sleep(0.05)
    pytest.fail(f"run {run_id} did not finish")


async def test_a_hostname_resolving_to_loopback_is_refused_at_call_time(service: Service) -> None:
    async with start_mock_agent() as mock:
        port = mock.url.rsplit(":", 1)[1]
        created = await service.client.create_agent(
            http_agent("via-localhost", f"http://localhost:{port}/agent")
        )
        assert created.version == 1

        result = await service.client.run_test(CASE, agent_id="via-localhost")
        assert result.status == "error"
        assert result.error is not None
        assert "127.0.0.1" in result.error or "::1" in result.error, result.error

        accepted = await service.client.submit_batch(
            agent_id="via-localhost", test_cases=[CASE, CASE | {"name": "again"}]
        )
        status = await wait_finished(service, accepted.run_id)
        assert (status["status"], status["errored"], status["passed"]) == ("completed", 2, 0)
        page = await service.client.run_results(accepted.run_id)
        assert all(r.error and "localhost" in r.error for r in page.items)

    assert mock.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/agent",
        "http://2130706433:{port}/agent",
        "http://[::ffff:127.0.0.1]:{port}/agent",
        "http://10.1.2.3:{port}/agent",
    ],
)
async def test_a_refused_literal_is_a_422_on_create_patch_and_inline(
    service: Service, url: str
) -> None:
    target = url.format(port=9)
    with pytest.raises(APIStatusError) as created:
        await service.client.create_agent(http_agent("literal", target))
    assert (created.value.status, created.value.code) == (422, "invalid_request")
    assert [d["field"] for d in created.value.details] == ["config.url"]
    assert "AIFACTORY_ALLOWED_AGENT_HOSTS" in created.value.message

    await service.client.create_agent(http_agent("patched", "http://example.invalid/agent"))
    with pytest.raises(APIStatusError) as patched:
        await service.client.update_agent("patched", config={"url": target})
    assert patched.value.status == 422
    assert (await service.client.get_agent("patched")).version == 1

    inline = await service.http.post(
        "/api/v1/test/run",
        json={"agent": {"kind": "http", "config": {"url": target}}, "test_case": CASE},
    )
    assert inline.status_code == 422, inline.text


@pytest.mark.parametrize("service_env", [{"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1"}])
async def test_a_redirect_to_a_private_address_is_not_followed(service: Service) -> None:
    async with (
        start_mock_agent(host="127.0.0.2") as canary,
        start_mock_agent() as allowed,
    ):
        allowed.behave("/agent", Behaviour(redirect_to=f"{canary.url}/stolen", redirect_status=307))
        allowed.behave("/fine", Behaviour(output="hello from the allowed host"))
        await service.client.create_agent(http_agent("redirector", f"{allowed.url}/agent"))
        await service.client.create_agent(http_agent("direct", f"{allowed.url}/fine"))

        refused = await service.client.run_test(CASE, agent_id="redirector")
        # The allowed address itself still works: the refusal is about the redirect target.
        direct = await service.client.run_test(CASE, agent_id="direct")

    assert refused.status == "error"
    assert refused.error is not None and "127.0.0.2" in refused.error, refused.error
    assert direct.status == "passed"
    assert [r.path for r in allowed.requests] == ["/agent", "/fine"]
    assert canary.requests == []


async def test_values_the_database_cannot_store_are_a_422_that_leaks_nothing(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-SECRET123"
    agent = http_agent("too-fast", "http://example.invalid/agent")
    agent["config"]["headers"] = {"Authorization": f"Bearer {secret}"}
    answers = [
        # Beyond a 64-bit integer on SQLite, beyond 32 bits on PostgreSQL.
        await service.http.post("/api/v1/agents", json=agent | {"rate_limit_per_minute": 2**64}),
        await service.http.get("/api/v1/agents", params={"offset": 2**63}),
        await service.http.get("/api/v1/suites", params={"offset": 2**70}),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_request"
        assert secret not in answer.text
    assert secret not in caplog.text

    # PostgreSQL refuses NUL characters in text; SQLite stores them. Either way, no 500.
    suite = {"name": "nul\u0000name", "test_cases": [{"name": "a", "input": "x\u0000y"}]}
    stored = await service.http.post("/api/v1/suites", json=suite)
    assert stored.status_code in (201, 422), stored.text
