"""The reflection loop through the API, against the fake Anthropic server.

The agent and the reflector are scripted in :mod:`tests.fakes.reflection`: the agent's answers
depend on its system prompt, so an improvement is real, and an overfitted prompt is possible.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport
from tests.fakes.fake_llm import FakeLLMServer
from tests.fakes.reflection import (
    BASE_PROMPT,
    HINT,
    MODEL,
    Script,
    agent_spec,
    improving,
    memorising,
    question,
    suite_spec,
)
from tests.fakes.service import ADMIN_KEY, Service, service_settings

from aifactory.api.app import create_app
from aifactory.client import APIStatusError, AsyncClient
from aifactory.domain.reflection import ReflectionPublic

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
"""For tests of the loop's logic alone (the store is covered on both backends by the others)."""


@pytest.fixture
def script() -> Script:
    return Script(improving)


@pytest.fixture
async def fake_llm(script: Script) -> Any:
    async with FakeLLMServer(script) as server:
        yield server


@pytest.fixture
def service_env(fake_llm: FakeLLMServer) -> dict[str, Any]:
    return {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": fake_llm.anthropic_base_url,
        "AIFACTORY_REFLECTOR_MODEL": f"anthropic:{MODEL}",
        "AIFACTORY_JUDGE_MODEL": f"anthropic:{MODEL}",
        "AIFACTORY_LLM_BACKOFF_S": "0.01",
    }


async def setup(service: Service, *, max_concurrency: int = 16) -> None:
    await service.client.create_agent(agent_spec(max_concurrency=max_concurrency))
    await service.client.create_suite(suite_spec())


async def reflect_and_wait(service: Service, **options: Any) -> ReflectionPublic:
    accepted = await service.client.reflect("coder", "codes", **options)
    assert accepted.status == "queued"
    assert accepted.status_url == f"/api/v1/reflections/{accepted.reflection_id}"
    return await service.client.wait_for_reflection(accepted.reflection_id, timeout=60, poll_s=0.05)


async def holdout_inputs(service: Service, reflection: ReflectionPublic) -> list[str]:
    assert reflection.baseline is not None and reflection.baseline.holdout_run_id
    page = await service.client.run_results(reflection.baseline.holdout_run_id, limit=100)
    return [str(r.test_case.input) for r in page.items]


async def test_an_improving_candidate_is_accepted_and_promoted(
    service: Service, script: Script
) -> None:
    await setup(service)
    r = await reflect_and_wait(service, holdout=0.5, target_pass_rate=0.95)

    assert (r.status, r.stop_reason, r.error) == ("completed", "target_reached", None)
    assert r.baseline is not None
    assert (r.baseline.version, r.baseline.train_cases, r.baseline.holdout_cases) == (1, 20, 20)
    # Stratified: 5 of the 10 easy cases in each part, and only they pass at first.
    assert r.baseline.train_pass_rate == r.baseline.holdout_pass_rate == 0.25
    assert len(r.iterations) == 1
    good, polite = r.iterations[0].candidates
    assert (good.version, good.verdict, good.holdout_pass_rate) == (2, "accepted", 1.0)
    assert good.train_pass_rate == 1.0
    assert (good.improvements, good.regressions) == (15, 0)
    assert good.p_value is not None and good.p_value < r.alpha == pytest.approx(0.05 / 3)
    assert f"+{HINT}" in (good.prompt_diff or "")
    assert good.rationale == "It never cites codes; tell it to."
    assert (polite.version, polite.verdict, polite.holdout_run_id) == (3, "not_evaluated", None)
    assert polite.train_pass_rate == 0.25
    assert r.accepted_version == 2

    agent = await service.client.get_agent("coder")
    assert agent.version == 2 and HINT in agent.config["system_prompt"]
    versions = {v.version: v for v in (await service.client.agent_versions("coder")).items}
    assert {n: v.state for n, v in versions.items()} == {1: "archived", 2: "active", 3: "archived"}
    assert versions[2].parent_version == 1 and versions[2].rationale == good.rationale

    # The reflector saw the failing train cases with their outputs and check reasons, and a
    # few passing ones, but never a holdout case.
    (prompt,) = script.reflector_prompts
    assert BASE_PROMPT in prompt and "I don't know." in prompt and "CODE-" in prompt
    assert "<passes>" in prompt and "(easy)" in prompt
    for text in await holdout_inputs(service, r):
        assert text not in prompt

    listed = await service.client.list_reflections(agent_id="coder")
    assert [x.reflection_id for x in listed.items] == [r.reflection_id] and listed.total == 1
    assert (await service.client.list_reflections(agent_id="nobody")).total == 0

    markdown = (await service.client.get_reflection_report(r.reflection_id, "markdown")).decode()
    assert "### Iteration 1 (from v1)" in markdown and "#### v2: accepted" in markdown
    assert "```diff\n--- v1\n+++ v2\n" in markdown and f"+{HINT}" in markdown
    assert "| baseline v1 | — | 25.0% (95% CI" in markdown
    html = (await service.client.get_reflection_report(r.reflection_id, "html")).decode()
    assert f'<span class="add">+{HINT}</span>' in html
    assert "Holdout pass rate with 95% Wilson intervals" in html and "<svg" in html


@SQLITE_ONLY
async def test_without_auto_promote_the_accepted_version_is_only_proposed(
    service: Service,
) -> None:
    await setup(service)
    r = await reflect_and_wait(
        service, holdout=0.5, max_iterations=1, candidates=1, auto_promote=False
    )
    assert (r.stop_reason, r.accepted_version) == ("max_iterations", 2)
    assert (await service.client.get_agent("coder")).version == 1
    versions = {v.version: v.state for v in (await service.client.agent_versions("coder")).items}
    assert versions == {1: "active", 2: "proposed"}


@pytest.fixture
def overfitting_script(script: Script) -> Script:
    script.proposer = memorising
    return script


async def test_a_candidate_that_only_fits_the_train_part_is_rejected_on_the_holdout(
    service: Service, overfitting_script: Script
) -> None:
    await setup(service)
    r = await reflect_and_wait(service, holdout=0.5, max_iterations=3)

    # Two iterations without gain stop the loop before its third.
    assert (r.status, r.stop_reason, r.accepted_version) == ("completed", "no_gain", None)
    assert [len(it.candidates) for it in r.iterations] == [1, 1]
    for it in r.iterations:
        (c,) = it.candidates
        assert it.reference_version == 1
        assert c.train_pass_rate == 1.0  # it learned the train cases by heart…
        assert c.holdout_pass_rate == 0.25  # …and nothing else
        assert c.verdict == "rejected" and (c.improvements, c.regressions) == (0, 0)
        assert c.p_value == 1.0 and "not significant" in (c.reason or "")
    assert (await service.client.get_agent("coder")).version == 1
    states = {v.version: v.state for v in (await service.client.agent_versions("coder")).items}
    assert states == {1: "active", 2: "archived", 3: "archived"}

    # The second round was told what the first candidate did on the train cases, and nothing the
    # holdout measured.
    first, second = overfitting_script.reflector_prompts
    assert "<history>\nNo earlier candidates." in first
    assert 'verdict="rejected"' in second and "train pass rate 100%." in second
    assert "25%" not in second and "holdout" not in second.lower()
    for text in await holdout_inputs(service, r):
        assert text not in first and text not in second


@pytest.fixture
def priced_script(script: Script) -> Script:
    script.tokens = 1000  # $0.001 a call at claude-haiku-4-5's $1 per million input tokens
    return script


async def test_the_budget_stops_the_loop_and_keeps_what_was_measured(
    service: Service, priced_script: Script
) -> None:
    await setup(service, max_concurrency=4)
    # The baseline costs $0.04 (40 calls), the reflector $0.001; the two candidates' train runs
    # would cost $0.04 more.
    r = await reflect_and_wait(service, holdout=0.5, budget_usd=0.05)

    assert (r.status, r.stop_reason, r.accepted_version) == ("completed", "budget", None)
    assert r.baseline is not None and r.baseline.train_pass_rate == 0.25
    (it,) = r.iterations
    assert [c.version for c in it.candidates] == [2, 3]
    assert all(c.train_run_id and c.prompt_diff and c.rationale for c in it.candidates)
    assert all(c.holdout_run_id is None and c.verdict != "accepted" for c in it.candidates)
    # Spending stops at the budget, give or take the cases in flight when it ran out.
    assert 0.05 <= r.cost_usd < 0.06
    for c in it.candidates:
        run = await service.client.get_run(c.train_run_id or "")
        assert run.status == "failed" and "budget" in (run.error or "")
        assert run.completed < 20
    assert (await service.client.get_agent("coder")).version == 1


@SQLITE_ONLY
async def test_an_unusable_reflector_reply_is_asked_again_then_recorded_as_an_error(
    service: Service, script: Script
) -> None:
    script.reflector_garbage = True
    await setup(service)
    r = await reflect_and_wait(service)

    assert (r.status, r.stop_reason) == ("failed", "error")
    assert "gave no usable proposal twice" in (r.error or "")
    assert "weather" in (r.error or "")
    assert len(script.reflector_prompts) == 2
    assert "could not be used" in script.reflector_prompts[1]
    assert r.baseline is not None and r.baseline.train_pass_rate is not None
    assert r.iterations == []
    assert (await service.client.agent_versions("coder")).total == 1


async def test_cancel_stops_the_loop_and_its_runs(service: Service, script: Script) -> None:
    script.agent_hangs = True
    await setup(service)
    accepted = await service.client.reflect("coder", "codes")
    deadline = time.monotonic() + 10
    while True:
        r = await service.client.get_reflection(accepted.reflection_id)
        if r.baseline is not None and r.baseline.holdout_run_id:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert r.status == "running"

    # The agent's calls hang for an hour: the cancel's answer does not wait for them.
    cancelled = await asyncio.wait_for(service.client.cancel_reflection(accepted.reflection_id), 60)
    assert (cancelled.status, cancelled.stop_reason) == ("cancelled", "cancelled")
    assert cancelled.baseline is not None
    for run_id in (cancelled.baseline.train_run_id, cancelled.baseline.holdout_run_id):
        assert (await service.client.get_run(run_id or "")).status == "cancelled"
    # A finished reflection stays as it is.
    again = await service.client.cancel_reflection(accepted.reflection_id)
    assert again.status == "cancelled"


@pytest.fixture
def suggesting_script(script: Script) -> Script:
    script.proposer = lambda _: [
        {"rationale": "Codes are missing.", "suggestion": "Look item codes up in the catalogue."}
    ]
    return script


@SQLITE_ONLY
async def test_scripted_agents_get_suggestions_without_versions(
    service: Service, suggesting_script: Script
) -> None:
    await service.client.create_agent(
        {"id": "coder", "kind": "scripted", "config": {"responses": [], "default": "No idea."}}
    )
    await service.client.create_suite(
        {
            "id": "codes",
            "name": "codes",
            "test_cases": [
                {
                    "name": f"item {i}",
                    "input": question(i),
                    "checks": [{"type": "contains", "value": "CODE"}],
                }
                for i in range(6)
            ],
        }
    )
    r = await reflect_and_wait(service)
    assert (r.status, r.stop_reason, r.mode) == ("completed", "max_iterations", "suggestions")
    (it,) = r.iterations
    (c,) = it.candidates
    assert (c.version, c.verdict, c.suggestion) == (
        None,
        "not_evaluated",
        "Look item codes up in the catalogue.",
    )
    assert "scripted agent" in suggesting_script.reflector_prompts[0]
    assert (await service.client.agent_versions("coder")).total == 1


@SQLITE_ONLY
async def test_bad_requests_are_refused(service: Service) -> None:
    await setup(service)
    with pytest.raises(APIStatusError) as missing_agent:
        await service.client.reflect("nobody", "codes")
    assert (missing_agent.value.status, missing_agent.value.code) == (404, "not_found")
    with pytest.raises(APIStatusError) as missing_suite:
        await service.client.reflect("coder", "nothing")
    assert missing_suite.value.status == 404
    with pytest.raises(APIStatusError) as bad_holdout:
        await service.client.reflect("coder", "codes", holdout=1.0)
    assert bad_holdout.value.status == 422
    with pytest.raises(APIStatusError) as bad_model:
        await service.client.reflect("coder", "codes", reflector_model="nope:model")
    assert bad_model.value.status == 422 and "reflector_model" in str(bad_model.value.details)
    first = await service.client.reflect("coder", "codes")
    with pytest.raises(APIStatusError) as busy:
        await service.client.reflect("coder", "codes")
    assert (busy.value.status, busy.value.code) == (409, "reflection_running")
    assert first.reflection_id in busy.value.message
    with pytest.raises(APIStatusError) as unknown:
        await service.client.get_reflection("0b4f6a3e-0000-0000-0000-000000000000")
    assert unknown.value.status == 404

    reader = (await service.client.create_key("reader", scopes=["read"])).key
    async with service.sdk(reader) as client:
        with pytest.raises(APIStatusError) as forbidden:
            await client.reflect("coder", "codes")
        assert forbidden.value.status == 403
        assert [x.reflection_id for x in (await client.list_reflections()).items] == [
            first.reflection_id
        ]


@SQLITE_ONLY
async def test_a_reflection_is_failed_not_resumed_when_its_server_stops(
    database_url: str, service_env: dict[str, Any], script: Script
) -> None:
    script.agent_hangs = True
    # The first server stops without waiting for its hung agent calls (a grace period would only
    # make the test slower: what is checked is what the next server finds).
    settings = service_settings(database_url, **service_env, AIFACTORY_SHUTDOWN_GRACE_S=0)
    first = create_app(settings)
    async with (
        LifespanManager(first, startup_timeout=30, shutdown_timeout=30),
        AsyncClient("http://t", api_key=ADMIN_KEY, transport=ASGITransport(first)) as c,
    ):
        await c.create_agent(agent_spec())
        await c.create_suite(suite_spec())
        reflection_id = (await c.reflect("coder", "codes")).reflection_id
        deadline = time.monotonic() + 10
        while (await c.get_reflection(reflection_id)).status != "running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    # The second server sees it failed, with what it measured, and its runs stopped.
    second = create_app(settings)
    async with (
        LifespanManager(second, startup_timeout=30, shutdown_timeout=30),
        AsyncClient("http://t", api_key=ADMIN_KEY, transport=ASGITransport(second)) as c,
    ):
        r = await c.get_reflection(reflection_id)
        assert (r.status, r.stop_reason) == ("failed", "error")
        assert "server stopped" in (r.error or "")
        assert r.baseline is not None and r.baseline.train_run_id is not None
        assert (await c.get_run(r.baseline.train_run_id)).status == "cancelled"


@SQLITE_ONLY
async def test_deleting_the_agent_under_a_reflection_fails_it_with_a_reason_and_no_traceback(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    await setup(service)
    accepted = await service.client.reflect("coder", "codes")
    await service.client.delete_agent("coder")
    r = await service.client.wait_for_reflection(accepted.reflection_id, timeout=60, poll_s=0.05)

    assert (r.status, r.stop_reason) == ("failed", "error")
    assert r.error == (
        "The reflection stopped: the agent 'coder' was deleted while the reflection ran."
    )
    assert not [record for record in caplog.records if record.exc_info]
