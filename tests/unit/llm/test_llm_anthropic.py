"""AnthropicClient with the real SDK against the fake Messages API."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.fakes.fake_llm import (
    FakeLLMServer,
    Garbage,
    Hang,
    Reply,
    Reset,
    SleepRecorder,
    Status,
    fake_llm_settings,
)

from aifactory.domain.models import Message
from aifactory.errors import LLMError, LLMRateLimited, LLMTimeout
from aifactory.llm.anthropic import AnthropicClient
from aifactory.llm.base import LLMRequest
from aifactory.llm.factory import make_client
from aifactory.settings import load_settings

pytest_plugins = ["tests.fakes.fixtures"]

MODEL = "claude-haiku-4-5-20251001"
HANG_GUARD_S = 60  # only guards against a hang


def ask(text: str = "What is 2 + 2?", **kwargs: object) -> LLMRequest:
    return LLMRequest(model=MODEL, messages=[Message(role="user", content=text)], **kwargs)  # type: ignore[arg-type]


async def test_success_reports_text_usage_and_cost(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Reply(text="4", input_tokens=1_000_000, output_tokens=200_000))
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask(system="Answer tersely.", max_tokens=50))
    finally:
        await client.aclose()

    assert response.text == "4"
    assert response.usage.input_tokens == 1_000_000
    assert response.usage.output_tokens == 200_000
    # claude-haiku-4-5: $1 per million input tokens, $5 per million output tokens.
    assert response.usage.cost_usd == pytest.approx(1.0 + 1.0)
    sent = fake_llm.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.api_key() == "sk-ant-test"
    assert sent.json["system"] == "Answer tersely."
    assert sent.json["max_tokens"] == 50
    assert sent.json["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert "tools" not in sent.json


async def test_unknown_model_has_no_cost(fake_llm: FakeLLMServer) -> None:
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(
            LLMRequest(model="claude-made-up-9", messages=[Message(role="user", content="hi")])
        )
    finally:
        await client.aclose()
    assert response.usage.input_tokens > 0
    assert response.usage.cost_usd is None


async def test_rate_limit_waits_as_long_as_retry_after_says(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Status(429, {"retry-after": "2"}), Reply(text="fine"))
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "fine"
    assert sleeps.calls == [2.0]
    assert len(fake_llm.requests) == 2


async def test_server_errors_and_overload_are_retried(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Status(500), Status(529), Reply(text="back"))
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "back"
    assert len(fake_llm.requests) == 3
    assert len(sleeps.calls) == 2
    # Full jitter under the doubling ceiling: base 0.01 s, then 0.02 s.
    assert 0 <= sleeps.calls[0] <= 0.01
    assert 0 <= sleeps.calls[1] <= 0.02


async def test_dropped_connection_is_retried(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Reset(), Reply(text="reconnected"))
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "reconnected"
    assert len(fake_llm.requests) == 2


async def test_rate_limited_on_every_attempt_gives_up(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(*[Status(429, {"retry-after-ms": "30"})] * 3)
    client = make_client("anthropic", fake_llm_settings(fake_llm, llm_max_attempts=3), sleep=sleeps)
    try:
        with pytest.raises(LLMRateLimited, match="after 3 attempts") as info:
            await client.complete(ask())
    finally:
        await client.aclose()
    assert len(fake_llm.requests) == 3
    assert sleeps.calls == [0.03, 0.03]
    assert info.value.__cause__ is not None  # the SDK's error, kept for debugging


async def test_server_errors_on_every_attempt_give_up_with_llm_error(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(*[Status(503, message="Service is down.")] * 2)
    client = make_client("anthropic", fake_llm_settings(fake_llm, llm_max_attempts=2), sleep=sleeps)
    try:
        with pytest.raises(LLMError, match=r"HTTP 503.*Service is down"):
            await client.complete(ask())
    finally:
        await client.aclose()
    assert len(fake_llm.requests) == 2


async def test_bad_key_is_not_retried(fake_llm: FakeLLMServer, sleeps: SleepRecorder) -> None:
    fake_llm.script(Status(401, message="invalid x-api-key"))
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        with pytest.raises(LLMError, match="Check the Anthropic API key") as info:
            await client.complete(ask())
    finally:
        await client.aclose()
    assert not isinstance(info.value, LLMRateLimited | LLMTimeout)
    assert len(fake_llm.requests) == 1
    assert sleeps.calls == []


async def test_hang_times_out_within_the_configured_limit(fake_llm: FakeLLMServer) -> None:
    # The server would answer after an hour: only the client's own limit ends each attempt (the
    # guard fails the test instead of hanging it when the limit does not hold).
    fake_llm.script(Hang(3600), Hang(3600))
    settings = fake_llm_settings(fake_llm, llm_timeout_s=0.3, llm_max_attempts=2)
    client = make_client("anthropic", settings, sleep=SleepRecorder())
    started = time.perf_counter()
    try:
        with pytest.raises(LLMTimeout, match=r"within 0\.3 s"):
            await asyncio.wait_for(client.complete(ask()), HANG_GUARD_S)
    finally:
        await client.aclose()
    assert time.perf_counter() - started > 0.55  # each of the two attempts waited its 0.3 s
    assert len(fake_llm.requests) == 2


async def test_garbage_body_is_an_llm_error(fake_llm: FakeLLMServer, sleeps: SleepRecorder) -> None:
    fake_llm.script(Garbage())
    client = make_client("anthropic", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        with pytest.raises(LLMError, match="not its API's JSON"):
            await client.complete(ask())
    finally:
        await client.aclose()


async def test_structured_output_is_a_forced_tool(fake_llm: FakeLLMServer) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    fake_llm.script(Reply(structured={"answer": 4}))
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(output_schema=schema, output_name="result"))
    finally:
        await client.aclose()
    assert response.structured == {"answer": 4}
    assert response.tool_calls == []
    sent = fake_llm.requests[0].json
    assert sent["tools"][0]["name"] == "result"
    assert sent["tools"][0]["input_schema"] == schema
    assert sent["tool_choice"] == {"type": "tool", "name": "result"}


async def test_other_tool_use_is_reported_as_tool_calls(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(
        Reply(text="Looking it up.", tool_calls=[{"name": "search", "args": {"q": "x"}}])
    )
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "Looking it up."
    assert response.tool_calls == [{"name": "search", "args": {"q": "x"}}]


async def test_system_turns_join_the_system_prompt(fake_llm: FakeLLMServer) -> None:
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    request = LLMRequest(
        model=MODEL,
        system="Be brief.",
        messages=[
            Message(role="system", content="Speak French."),
            Message(role="user", content="Hello"),
        ],
    )
    try:
        await client.complete(request)
    finally:
        await client.aclose()
    sent = fake_llm.requests[0].json
    assert sent["system"] == "Be brief.\n\nSpeak French."
    assert sent["messages"] == [{"role": "user", "content": "Hello"}]


async def test_sdk_environment_variables_are_honoured(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_llm.anthropic_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    client = AnthropicClient.from_settings(load_settings({}))  # settings know neither
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "ok"
    assert fake_llm.requests[0].api_key() == "sk-ant-from-env"


async def test_settings_win_over_the_environment(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 on loopback: nothing listens there, so reaching it would fail the call.
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    try:
        await client.complete(ask())
    finally:
        await client.aclose()
    assert fake_llm.requests[0].api_key() == "sk-ant-test"


async def test_a_base_url_without_a_key_still_works(fake_llm: FakeLLMServer) -> None:
    settings = load_settings({}, anthropic_base_url=fake_llm.anthropic_base_url)
    client = make_client("anthropic", settings)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "ok"


async def test_deprecated_model_is_logged_once_not_warned(
    fake_llm: FakeLLMServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A model on our own list of deprecations (not the SDK's private one, which changes from
    # release to release). Any warning would be an error here (warnings-as-errors): we log.
    monkeypatch.setattr("aifactory.llm.anthropic._warned_models", set())
    client = make_client("anthropic", fake_llm_settings(fake_llm))
    deprecated = LLMRequest(
        model="claude-3-opus-20240229", messages=[Message(role="user", content="hi")]
    )
    current = LLMRequest(model=MODEL, messages=[Message(role="user", content="hi")])
    try:
        with caplog.at_level("WARNING", logger="aifactory.llm.anthropic"):
            await client.complete(deprecated)
            await client.complete(deprecated)
            await client.complete(current)
    finally:
        await client.aclose()
    notes = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(notes) == 1
    assert "claude-3-opus-20240229" in notes[0] and "January 5th, 2026" in notes[0]
    assert len(fake_llm.requests) == 3
