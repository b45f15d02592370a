"""A server's conversations stop at AIFACTORY_CONVERSATION_TIMEOUT_S, keeping what was said."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.service import Service

pytest_plugins = ["tests.fakes.fixtures"]

SLOW_AGENT = {
    "id": "slow-bot",
    "kind": "scripted",
    "config": {"default": "Still thinking about it.", "latency_ms": 300},
}

LONG_TALK = {
    "name": "four slow turns",
    "turns": [{"input": "one"}, {"input": "two"}, {"input": "three"}, {"input": "four"}],
}


@pytest.fixture
def service_env() -> dict[str, Any]:
    return {"AIFACTORY_CONVERSATION_TIMEOUT_S": "0.5"}


async def test_a_conversation_past_the_servers_limit_is_an_error_with_its_transcript(
    service: Service,
) -> None:
    await service.client.create_agent(SLOW_AGENT)

    result = await service.client.run_test(LONG_TALK, agent_id="slow-bot")

    assert result.status == "error"
    assert "0.5 s" in (result.error or "")
    assert result.transcript is not None
    assert 1 <= (result.turns or 0) < 4
    assert result.transcript[1].content == "Still thinking about it."
