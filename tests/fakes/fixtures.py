"""Pytest fixtures around the fake LLM servers (register with ``pytest_plugins``).

- ``fake_llm``: a started :class:`FakeLLMServer` (Anthropic and OpenAI on one port);
- ``sleeps``: a :class:`SleepRecorder` to inject as the retry policy's ``sleep``;
- ``llm_settings``: settings pointing both providers at ``fake_llm``, with short time limits;
- ``llm_clients``: an :class:`LLMClients` over ``llm_settings`` that records its sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.fake_llm import FakeLLMServer, SleepRecorder, fake_llm_settings

from aifactory.llm.factory import LLMClients
from aifactory.settings import Settings


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    """A fake Anthropic + OpenAI server on 127.0.0.1."""
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
def sleeps() -> SleepRecorder:
    """Records the retry policy's waits instead of waiting."""
    return SleepRecorder()


@pytest.fixture
def llm_settings(fake_llm: FakeLLMServer) -> Settings:
    """Settings pointing both providers at ``fake_llm``."""
    return fake_llm_settings(fake_llm)


@pytest.fixture
async def llm_clients(llm_settings: Settings, sleeps: SleepRecorder) -> AsyncIterator[LLMClients]:
    """Shared provider clients over ``llm_settings``; closed after the test."""
    async with LLMClients(llm_settings, sleep=sleeps) as clients:
        yield clients
