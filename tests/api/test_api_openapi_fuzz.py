"""Schemathesis over ``/openapi.json``: generated requests never get a 5xx, and every answer
matches the schema the API publishes.

The app runs in-process on a temporary SQLite database with an admin key. Generation is bounded
and derandomized so the run is repeatable and short. No generated request may make the server
call out: agents are forced to the ``scripted`` kind before they are sent (an ``http`` or
``llm`` agent would call whatever address the generator made up), and the providers of
model-graded checks point at a closed loopback port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks
from schemathesis.python import asgi as st_asgi

from aifactory.api.app import create_app
from aifactory.settings import load_settings

KEY = "afk_fuzz-admin-key-0123456789abcdefghijklmnopq"
CHECKS = [st_checks.not_a_server_error, st_checks.response_schema_conformance]

# The schema is read from an app that is never started: only its OpenAPI document is needed
# at collection time. Requests go to `fuzz_app`, which has a database.
schema = schemathesis.openapi.from_dict(create_app(load_settings({})).openapi())


def fuzz_settings(database: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "AIFACTORY_API_KEYS": KEY,
        "AIFACTORY_CASE_TIMEOUT_S": "2",
        "AIFACTORY_LLM_MAX_ATTEMPTS": "1",
        # Port 9 (discard) on loopback: a judge call fails at once and leaves the machine never.
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9",
    }


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The API on a fresh SQLite file; schemathesis starts its lifespan on the first call."""
    database = tmp_path_factory.mktemp("openapi-fuzz") / "fuzz.db"
    app = create_app(load_settings(fuzz_settings(database)))
    try:
        yield app
    finally:
        st_asgi.shutdown_lifespans()


def keep_local(value: Any) -> None:
    """Make every agent in a generated body a scripted one without simulated latency."""
    if isinstance(value, dict):
        if "kind" in value and value["kind"] != "scripted":
            value["kind"] = "scripted"
        if isinstance(value.get("latency_ms"), int | float):
            value["latency_ms"] = 0
        for item in value.values():
            keep_local(item)
    elif isinstance(value, list):
        for item in value:
            keep_local(item)


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_no_server_error_and_match_the_schema(
    case: Any, fuzz_app: FastAPI
) -> None:
    keep_local(case.body)
    case.call_and_validate(app=fuzz_app, headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)
