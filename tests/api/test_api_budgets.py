"""A budget over the API is refused before anything runs when a model that would spend against it
has no price (its spend would count as nothing): the agent's model, the judge's when a case is
model-graded, the reflector's. ``AIFACTORY_PRICES`` gives a model a price and lifts the refusal.

No model is ever called here: the providers point at a closed loopback port, and the runs that
are accepted use scripted agents or are refused before they start.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.fakes.service import Service

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

UNPRICED_AGENT_MODEL = "house-agent-7b"
PRICED_LOCAL_MODEL = "house-agent-priced"
UNPRICED_JUDGE = "openai:house-judge"
UNPRICED_REFLECTOR = "openai:house-reflector"


@pytest.fixture
def service_env() -> dict[str, Any]:
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "http://127.0.0.1:9",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "AIFACTORY_JUDGE_MODEL": UNPRICED_JUDGE,
        "AIFACTORY_REFLECTOR_MODEL": UNPRICED_REFLECTOR,
        "AIFACTORY_PRICES": json.dumps({PRICED_LOCAL_MODEL: {"input": 0, "output": 0}}),
    }


def llm_agent(agent_id: str, model: str) -> dict[str, Any]:
    return {
        "id": agent_id,
        "kind": "llm",
        "config": {"provider": "openai", "model": model, "system_prompt": "Answer briefly."},
    }


SCRIPTED = {"id": "scripted", "kind": "scripted", "config": {"default": "30 days"}}
PLAIN_CASES = [
    {"name": f"case {i}", "input": "refund?", "checks": [{"type": "contains", "value": "30"}]}
    for i in range(3)
]
JUDGED_CASES = [
    *PLAIN_CASES,
    {
        "name": "judged",
        "input": "refund?",
        "checks": [{"type": "not_llm_rubric", "rubric": "rude"}],
    },
]


async def post_batch(service: Service, body: dict[str, Any]) -> Any:
    return await service.http.post("/api/v1/test/batch", json=body)


def assert_refused(response: Any, *, field: str, model: str, source: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert model in error["message"] and "AIFACTORY_PRICES" in error["message"]
    assert source in error["message"]
    assert error["details"][0]["field"] == field


async def runs_stored(service: Service) -> int:
    return int((await service.http.get("/api/v1/runs")).json()["total"])


@SQLITE_ONLY
async def test_a_batch_budget_on_an_agent_model_without_a_price_is_refused(
    service: Service,
) -> None:
    await service.http.post("/api/v1/agents", json=llm_agent("unpriced", UNPRICED_AGENT_MODEL))
    refused = await post_batch(
        service,
        {"agent_id": "unpriced", "test_cases": PLAIN_CASES, "metadata": {"budget_usd": 1.0}},
    )
    assert_refused(
        refused, field="metadata.budget_usd", model=UNPRICED_AGENT_MODEL, source="config.model"
    )
    assert refused.json()["error"]["details"][0]["models"] == [f"openai:{UNPRICED_AGENT_MODEL}"]
    assert await runs_stored(service) == 0  # nothing stored, nothing queued

    # A model AIFACTORY_PRICES prices (0 for a free local one) is accepted with a budget.
    await service.http.post("/api/v1/agents", json=llm_agent("priced", PRICED_LOCAL_MODEL))
    accepted = await post_batch(
        service,
        {"agent_id": "priced", "test_cases": PLAIN_CASES, "metadata": {"budget_usd": 1.0}},
    )
    assert accepted.status_code == 202, accepted.text
    await service.http.post(f"/api/v1/runs/{accepted.json()['run_id']}/cancel")


@SQLITE_ONLY
async def test_the_judge_counts_only_when_a_case_is_model_graded(service: Service) -> None:
    await service.http.post("/api/v1/agents", json=SCRIPTED)
    judged = await post_batch(
        service,
        {"agent_id": "scripted", "test_cases": JUDGED_CASES, "metadata": {"budget_usd": 2}},
    )
    assert_refused(
        judged,
        field="metadata.budget_usd",
        model="house-judge",
        source="AIFACTORY_JUDGE_MODEL",
    )
    # The same cases from a stored suite.
    suite = {"id": "judged", "name": "judged", "test_cases": JUDGED_CASES}
    assert (await service.http.post("/api/v1/suites", json=suite)).status_code == 201
    from_suite = await post_batch(
        service, {"agent_id": "scripted", "suite_id": "judged", "metadata": {"budget_usd": 2}}
    )
    assert_refused(
        from_suite,
        field="metadata.budget_usd",
        model="house-judge",
        source="AIFACTORY_JUDGE_MODEL",
    )
    assert await runs_stored(service) == 0

    # No model-graded check: the judge spends nothing, and a scripted agent nothing either.
    plain = await post_batch(
        service,
        {"agent_id": "scripted", "test_cases": PLAIN_CASES, "metadata": {"budget_usd": 2}},
    )
    assert plain.status_code == 202, plain.text
    # Without a budget nothing is refused: costs stay unknown (null), as documented.
    unbudgeted = await post_batch(service, {"agent_id": "scripted", "test_cases": JUDGED_CASES})
    assert unbudgeted.status_code == 202, unbudgeted.text
    for run_id in (plain.json()["run_id"], unbudgeted.json()["run_id"]):
        await service.http.post(f"/api/v1/runs/{run_id}/cancel")


@SQLITE_ONLY
@pytest.mark.parametrize("budget", ["5", -1, True, {"usd": 5}])
async def test_a_batch_budget_that_is_not_a_number_of_dollars_is_refused(
    service: Service, budget: Any
) -> None:
    # The workers would ignore it, and the run would have no budget at all.
    await service.http.post("/api/v1/agents", json=SCRIPTED)
    response = await post_batch(
        service,
        {"agent_id": "scripted", "test_cases": PLAIN_CASES, "metadata": {"budget_usd": budget}},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == "metadata.budget_usd"
    assert await runs_stored(service) == 0


@SQLITE_ONLY
async def test_a_reflection_budget_needs_prices_for_the_agent_the_judge_and_the_reflector(
    service: Service,
) -> None:
    await service.http.post("/api/v1/agents", json=SCRIPTED)
    await service.http.post("/api/v1/agents", json=llm_agent("unpriced", UNPRICED_AGENT_MODEL))
    suites = {"plain": PLAIN_CASES, "judged": JUDGED_CASES}
    for suite_id, cases in suites.items():
        body = {"id": suite_id, "name": suite_id, "test_cases": cases}
        assert (await service.http.post("/api/v1/suites", json=body)).status_code == 201

    async def reflect(agent_id: str, **body: Any) -> Any:
        return await service.http.post(f"/api/v1/agents/{agent_id}/reflect", json=body)

    # The server's reflector has no price.
    assert_refused(
        await reflect("scripted", suite_id="plain", budget_usd=1),
        field="budget_usd",
        model="house-reflector",
        source="AIFACTORY_REFLECTOR_MODEL",
    )
    priced_reflector = f"openai:{PRICED_LOCAL_MODEL}"
    # The agent's model has none.
    assert_refused(
        await reflect("unpriced", suite_id="plain", budget_usd=1, reflector_model=priced_reflector),
        field="budget_usd",
        model=UNPRICED_AGENT_MODEL,
        source="config.model",
    )
    # The suite is model-graded and the judge has none.
    assert_refused(
        await reflect(
            "scripted", suite_id="judged", budget_usd=1, reflector_model=priced_reflector
        ),
        field="budget_usd",
        model="house-judge",
        source="AIFACTORY_JUDGE_MODEL",
    )
    # A reflector_model of the request's own without a price is named as such.
    assert_refused(
        await reflect("scripted", suite_id="plain", budget_usd=1, reflector_model="openai:x-1"),
        field="budget_usd",
        model="openai:x-1",
        source="reflector_model",
    )
    assert (await service.http.get("/api/v1/reflections")).json()["total"] == 0
    assert await runs_stored(service) == 0

    # Every spender priced: accepted (then cancelled; a call would reach a closed local port).
    accepted = await reflect(
        "scripted", suite_id="plain", budget_usd=1, reflector_model=priced_reflector
    )
    assert accepted.status_code == 202, accepted.text
    reflection_id = accepted.json()["reflection_id"]
    await service.http.post(f"/api/v1/reflections/{reflection_id}/cancel")
