"""OpenAIClient with the real SDK against the fake Chat Completions API."""

from __future__ import annotations

import asyncio

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
from aifactory.llm.base import LLMRequest
from aifactory.llm.factory import make_client
from aifactory.llm.openai import OpenAIClient
from aifactory.settings import load_settings

pytest_plugins = ["tests.fakes.fixtures"]

MODEL = "gpt-4o-mini-2024-07-18"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def ask(text: str = "What is 2 + 2?", model: str = MODEL, **kwargs: object) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=text)], **kwargs)  # type: ignore[arg-type]


async def test_success_reports_text_usage_and_cost(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="4", input_tokens=2_000_000, output_tokens=1_000_000))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(system="Answer tersely.", max_tokens=50))
    finally:
        await client.aclose()
    assert response.text == "4"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2_000_000, 1_000_000)
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
    assert response.usage.cost_usd == pytest.approx(0.30 + 0.60)
    sent = fake_llm.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.api_key() == "sk-test"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Answer tersely."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    assert sent.json["max_tokens"] == 50
    assert sent.json["temperature"] == 0.0


async def test_reasoning_models_get_max_completion_tokens(fake_llm: FakeLLMServer) -> None:
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        await client.complete(ask(model="o4-mini", max_tokens=64))
    finally:
        await client.aclose()
    sent = fake_llm.requests[0].json
    assert sent["max_completion_tokens"] == 64
    assert "max_tokens" not in sent
    assert "temperature" not in sent


async def test_rate_limit_waits_as_long_as_retry_after_ms_says(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Status(429, {"retry-after-ms": "250", "retry-after": "1"}), Reply(text="fine"))
    client = make_client("openai", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "fine"
    assert sleeps.calls == [0.25]  # the finer header wins


async def test_retry_after_is_capped_by_the_backoff_maximum(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Status(429, {"retry-after": "3600"}), Reply(text="fine"))
    settings = fake_llm_settings(fake_llm, llm_backoff_max_s=4.0)
    client = make_client("openai", settings, sleep=sleeps)
    try:
        await client.complete(ask())
    finally:
        await client.aclose()
    assert sleeps.calls == [4.0]


async def test_server_errors_then_success(fake_llm: FakeLLMServer, sleeps: SleepRecorder) -> None:
    fake_llm.script(Status(500), Status(502), Reply(text="back"))
    client = make_client("openai", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "back"
    assert len(fake_llm.requests) == 3


async def test_dropped_connections_exhaust_attempts(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(Reset(), Reset())
    client = make_client("openai", fake_llm_settings(fake_llm, llm_max_attempts=2), sleep=sleeps)
    try:
        with pytest.raises(LLMError, match="connection to OpenAI dropped") as info:
            await client.complete(ask())
    finally:
        await client.aclose()
    assert not isinstance(info.value, LLMTimeout)  # a reset is not a slow provider
    assert "2 attempts" in str(info.value)
    assert len(fake_llm.requests) == 2


async def test_rate_limited_every_time_raises_llm_rate_limited(
    fake_llm: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    fake_llm.script(*[Status(429)] * 4)
    client = make_client("openai", fake_llm_settings(fake_llm, llm_max_attempts=4), sleep=sleeps)
    try:
        with pytest.raises(LLMRateLimited):
            await client.complete(ask())
    finally:
        await client.aclose()
    assert len(fake_llm.requests) == 4
    assert len(sleeps.calls) == 3


async def test_hang_times_out(fake_llm: FakeLLMServer) -> None:
    # The server would answer after an hour: only the client's own 0.3 s limit ends the call
    # (the guard fails the test instead of hanging it when the limit does not hold).
    fake_llm.script(Hang(3600))
    settings = fake_llm_settings(fake_llm, llm_timeout_s=0.3, llm_max_attempts=1)
    client = make_client("openai", settings)
    try:
        with pytest.raises(LLMTimeout, match=r"0\.3 s"):
            await asyncio.wait_for(client.complete(ask()), 60)
    finally:
        await client.aclose()


async def test_garbage_body_is_an_llm_error(fake_llm: FakeLLMServer, sleeps: SleepRecorder) -> None:
    fake_llm.script(Garbage(b"not json at all"))
    client = make_client("openai", fake_llm_settings(fake_llm), sleep=sleeps)
    try:
        with pytest.raises(LLMError, match="not its API's JSON"):
            await client.complete(ask())
    finally:
        await client.aclose()
    assert len(fake_llm.requests) == 1


async def test_structured_output_asks_for_a_strict_json_schema(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(structured={"answer": 4}))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(output_schema=SCHEMA, output_name="result"))
    finally:
        await client.aclose()
    assert response.structured == {"answer": 4}
    assert fake_llm.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "result", "schema": SCHEMA, "strict": True},
    }


async def test_a_loose_schema_is_not_sent_as_strict(fake_llm: FakeLLMServer) -> None:
    loose = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    fake_llm.script(Reply(structured={"answer": 4, "note": "extra"}))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(output_schema=loose))
    finally:
        await client.aclose()
    assert response.structured == {"answer": 4, "note": "extra"}
    assert fake_llm.requests[0].json["response_format"]["json_schema"]["strict"] is False


async def test_structured_output_falls_back_to_json_in_the_text(fake_llm: FakeLLMServer) -> None:
    # A compatible server that ignores response_format and wraps its JSON in prose.
    fake_llm.script(Reply(text='Sure! Here it is:\n```json\n{"answer": 5}\n```'))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(output_schema=SCHEMA))
    finally:
        await client.aclose()
    assert response.structured == {"answer": 5}


async def test_text_without_json_has_no_structured_output(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(text="I would rather not."))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask(output_schema=SCHEMA))
    finally:
        await client.aclose()
    assert response.structured is None
    assert response.text == "I would rather not."


async def test_tool_calls_are_reported(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(tool_calls=[{"name": "refund", "args": {"order": 42}}]))
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.tool_calls == [{"name": "refund", "args": {"order": 42}}]
    assert response.text == ""


async def test_sdk_environment_variables_are_honoured(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    client = OpenAIClient.from_settings(load_settings({}))  # settings know neither
    try:
        response = await client.complete(ask())
    finally:
        await client.aclose()
    assert response.text == "ok"
    assert fake_llm.requests[0].api_key() == "sk-from-env"


async def test_settings_win_over_the_environment(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    client = make_client("openai", fake_llm_settings(fake_llm))
    try:
        await client.complete(ask())
    finally:
        await client.aclose()
    assert fake_llm.requests[0].api_key() == "sk-test"


async def test_a_compatible_server_without_a_key(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = make_client("openai", load_settings({}, openai_base_url=fake_llm.openai_base_url))
    try:
        response = await client.complete(ask(model="llama3:8b"))
    finally:
        await client.aclose()
    assert response.text == "ok"
    assert response.usage.cost_usd is None  # no price for a local model
