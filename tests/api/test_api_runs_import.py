"""``POST /api/v1/runs/import``: a finished run made elsewhere, stored with its results."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.service import Service

from aifactory.client import APIStatusError
from aifactory.domain.models import CheckResult, TestCase, TestResult, Usage


def result(
    name: str, status: str = "passed", *, case: int = 0, repeat: int = 0, **more: Any
) -> TestResult:
    passed = status == "passed"
    return TestResult(
        case_index=case,
        repeat_index=repeat,
        test_case=TestCase(name=name, input="Can I get a refund?", tags=["billing"]),
        status=status,  # type: ignore[arg-type]
        passed=passed,
        score=1.0 if passed else 0.0,
        output="Refunds within 30 days.\x00",
        checks=[
            CheckResult(type="contains", status=status, passed=passed, score=1.0 if passed else 0)  # type: ignore[arg-type]
        ],
        latency_ms=120.0,
        usage=Usage(input_tokens=10, output_tokens=5, cost_usd=0.001),
        **more,
    )


async def test_a_run_made_elsewhere_is_stored_completed_with_its_results(
    service: Service,
) -> None:
    await service.client.create_agent({"id": "bot", "kind": "scripted", "config": {}})
    results = [
        result("refunds", case=0, repeat=0),
        result("refunds", "failed", case=0, repeat=1),
        result("crash", "error", case=1, repeat=0, error="boom"),
        result("crash", case=1, repeat=1),
    ]
    run = await service.client.import_run(
        "bot", results, name="pytest", metadata={"branch": "main", "suite": "sample"}
    )
    assert (run.status, run.agent_id, run.agent_version, run.name) == (
        "completed", "bot", 1, "pytest",
    )  # fmt: skip
    assert (run.total, run.completed, run.passed, run.failed, run.errored) == (4, 4, 2, 1, 1)
    assert run.metadata == {"branch": "main", "suite": "sample"}
    assert run.summary is not None
    assert run.summary["pass_rate"] == 0.5
    assert run.summary["flaky_cases"] == ["refunds", "crash"]
    assert run.summary["pass_at_k"] == {"1": 0.5, "2": 1.0}

    stored = await service.client.run_results(run.run_id, limit=10)
    assert stored.total == 4
    first = stored.items[0]
    assert (first.test_case.name, first.case_index, first.repeat_index) == ("refunds", 0, 0)
    assert first.output == "Refunds within 30 days.\ufffd"  # a NUL is kept as U+FFFD
    assert first.run_id == run.run_id and first.agent_version == 1
    assert (await service.client.run_results(run.run_id, tag="billing")).total == 4
    assert (await service.client.agent_results("bot", limit=1)).total == 4

    # It compares as any run does.
    again = await service.client.import_run("bot", [result("refunds"), result("crash", case=1)])
    comparison = await service.client.compare_runs(run.run_id, again.run_id)
    assert comparison.pairs == 2


async def test_bad_imports_are_refused(service: Service) -> None:
    await service.client.create_agent({"id": "bot", "kind": "scripted", "config": {}})
    with pytest.raises(APIStatusError) as unknown:
        await service.client.import_run("nobody", [result("a")])
    assert (unknown.value.status, unknown.value.code) == (404, "not_found")

    twice = await service.http.post(
        "/api/v1/runs/import",
        json={
            "agent_id": "bot",
            "results": [
                result("a").model_dump(mode="json"),
                result("b").model_dump(mode="json"),
            ],
        },
    )
    assert twice.status_code == 422, twice.text
    error = twice.json()["error"]
    assert "results[1] is case 0, repeat 0 again (as results[0])" in error["message"]
    assert error["details"][0]["field"] == "results.1"

    empty = await service.http.post("/api/v1/runs/import", json={"agent_id": "bot", "results": []})
    assert empty.status_code == 422
    assert (await service.client.list_runs()).total == 0


async def test_importing_takes_a_write_key(service: Service) -> None:
    await service.client.create_agent({"id": "bot", "kind": "scripted", "config": {}})
    reader = await service.client.create_key("dashboard", scopes=["read"])
    async with service.sdk(reader.key) as client:
        with pytest.raises(APIStatusError) as refused:
            await client.import_run("bot", [result("a")])
    assert refused.value.status == 403
