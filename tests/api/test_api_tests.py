"""The seed run endpoints: one case now, batches in the background, status, idempotency, cancel."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from tests.fakes.service import Service

from aifactory.client import APIStatusError

AGENT = {
    "id": "support-bot",
    "kind": "scripted",
    "config": {
        "responses": [{"match": "refund", "output": "Refunds are possible within 30 days."}],
        "default": "I can only help with refunds.",
    },
}


def cases(n: int) -> list[dict[str, object]]:
    return [
        {
            "name": f"case {i}",
            "input": "refund please" if i % 2 == 0 else "weather?",
            "checks": [{"type": "contains", "value": "30 days"}],
            "tags": ["even" if i % 2 == 0 else "odd"],
        }
        for i in range(n)
    ]


async def test_single_run_answers_the_result_and_records_history(service: Service) -> None:
    await service.client.create_agent(AGENT)
    result = await service.client.run_test(cases(1)[0], agent_id="support-bot")
    assert result.status == "passed"
    assert result.output == "Refunds are possible within 30 days."
    assert result.checks[0].type == "contains"
    assert result.agent_version == 1
    history = await service.client.agent_results("support-bot")
    assert history.total == 1
    assert history.items[0].id == result.id


async def test_single_run_with_an_inline_agent(service: Service) -> None:
    result = await service.client.run_test(
        {"name": "x", "input": "hi", "checks": [{"type": "equals", "value": "hello"}]},
        agent={"kind": "scripted", "config": {"default": "hello"}},
    )
    assert result.passed


@pytest.mark.parametrize(
    ("check", "field"),
    [
        ({"type": "python", "function": "os:system"}, "type"),
        ({"type": "regex", "pattern": "(unclosed"}, "pattern"),
        ({"type": "contans", "value": "x"}, "type"),
        ({"type": "contains"}, "value"),
    ],
)
async def test_invalid_checks_are_refused_when_they_arrive(
    service: Service, check: dict[str, object], field: str
) -> None:
    await service.client.create_agent(AGENT)
    response = await service.http.post(
        "/api/v1/test/run",
        json={
            "agent_id": "support-bot",
            "test_case": {"name": "x", "input": "y", "checks": [check]},
        },
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["details"][0]["field"]


async def test_unknown_ids_are_404_also_in_a_body(service: Service) -> None:
    for call in (
        service.client.run_test(cases(1)[0], agent_id="nobody"),
        service.client.submit_batch("nobody", test_cases=cases(1)),
        service.client.get_status("00000000-0000-0000-0000-000000000000"),
    ):
        with pytest.raises(APIStatusError) as missing:
            await call
        assert missing.value.status == 404
    await service.client.create_agent(AGENT)
    with pytest.raises(APIStatusError) as missing:
        await service.client.submit_batch("support-bot", suite_id="no-suite")
    assert missing.value.status == 404


async def test_malformed_json_and_schema_violations_are_422(service: Service) -> None:
    response = await service.http.post(
        "/api/v1/test/batch", content=b'{"agent_id": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    response = await service.http.post("/api/v1/test/batch", json={"agent_id": "a"})
    assert response.status_code == 422
    response = await service.http.get("/api/v1/agents/x/results", params={"limit": 1001})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"].endswith("limit")


async def test_batch_runs_in_the_background_to_completion(service: Service) -> None:
    await service.client.create_agent(AGENT)
    accepted = await service.client.submit_batch(
        "support-bot", test_cases=cases(40), name="nightly", repeat=2
    )
    assert accepted.status == "queued"
    assert accepted.total == 80
    assert accepted.status_url == f"/api/v1/test/status/{accepted.run_id}"
    final = await service.client.wait_for_run(accepted.run_id, timeout=60, poll_s=0.05)
    assert final.status == "completed"
    assert (final.completed, final.passed, final.failed, final.errored) == (80, 40, 40, 0)
    assert final.completed + final.remaining == final.total
    assert final.progress == 1.0
    assert final.summary is not None
    status = await service.client.get_status(accepted.run_id, results_limit=10)
    assert len(status.results) == 10
    failed = await service.client.run_results(accepted.run_id, status="failed", limit=100)
    assert failed.total == 40
    assert all(not r.passed for r in failed.items)
    odd = await service.client.run_results(accepted.run_id, tag="odd", limit=100)
    assert odd.total == 40
    runs = await service.client.list_runs(agent_id="support-bot", status="completed")
    assert [r.run_id for r in runs.items] == [accepted.run_id]


async def test_batch_from_a_suite(service: Service) -> None:
    await service.client.create_agent(AGENT)
    suite = await service.client.create_suite(
        {
            "id": "refunds",
            "name": "Refunds",
            "test_cases": cases(6),
            "defaults": {"checks": [{"type": "length", "max": 200}]},
        }
    )
    assert suite.case_count == 6
    accepted = await service.client.submit_batch("support-bot", suite_id="refunds")
    final = await service.client.wait_for_run(accepted.run_id, timeout=30, poll_s=0.05)
    assert (final.total, final.passed) == (6, 3)


async def test_idempotency_key(service: Service) -> None:
    await service.client.create_agent(AGENT)
    first = await service.client.submit_batch(
        "support-bot", test_cases=cases(3), idempotency_key="nightly-2026-11-26"
    )
    again = await service.client.submit_batch(
        "support-bot", test_cases=cases(3), idempotency_key="nightly-2026-11-26"
    )
    assert again.run_id == first.run_id
    with pytest.raises(APIStatusError) as conflict:
        await service.client.submit_batch(
            "support-bot", test_cases=cases(4), idempotency_key="nightly-2026-11-26"
        )
    assert conflict.value.status == 409
    assert conflict.value.code == "idempotency_conflict"
    assert (await service.client.list_runs()).total == 1


async def test_cancel_stops_a_running_batch(service: Service) -> None:
    slow = {
        **AGENT,
        "id": "slow-bot",
        "config": {**AGENT["config"], "latency_ms": 200},
        "max_concurrency": 2,
    }
    await service.client.create_agent(slow)
    accepted = await service.client.submit_batch("slow-bot", test_cases=cases(50))
    deadline = time.monotonic() + 60  # only guards against a hang
    while (await service.client.get_status(accepted.run_id)).completed < 1:
        assert time.monotonic() < deadline, "the batch never started"
        await asyncio.sleep(0.02)
    cancelled = await service.client.cancel_run(accepted.run_id)
    assert cancelled.status == "cancelled"
    # The summary is written once the cases in flight at the cancel have settled.
    while (final := await service.client.get_status(accepted.run_id)).summary is None:
        assert time.monotonic() < deadline, "the cancelled run was never summarised"
        await asyncio.sleep(0.02)
    assert final.status == "cancelled"
    assert final.completed < 50
    later = await service.client.get_status(accepted.run_id)
    assert later.completed == final.completed  # nothing runs after the cancel


async def test_body_limit_refuses_big_and_chunked_bodies(service: Service) -> None:
    limit = service.settings.max_body_bytes
    big = json.dumps({"agent_id": "x", "test_cases": [{"name": "a", "input": "x" * (limit + 10)}]})
    response = await service.http.post(
        "/api/v1/test/batch", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"agent_id": "x", "test_cases": [{"name": "a", "input": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}]}'

    response = await service.http.post(
        "/api/v1/test/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
