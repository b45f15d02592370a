"""What the schemathesis runs over ``/openapi.json`` share: the app, its key, the checks, and
the rule that no generated request may make the server call out.

The app runs in-process on a temporary SQLite database with an admin key. Agents are forced to
the ``scripted`` kind before a request is sent (an ``http`` or ``llm`` agent would call whatever
address the generator made up), and the providers of model-graded checks and of the reflection
loop point at a closed loopback port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis import checks as st_checks
from schemathesis.python import asgi as st_asgi

from aifactory.api.app import create_app
from aifactory.settings import load_settings

KEY = "afk_fuzz-admin-key-0123456789abcdefghijklmnopq"
HEADERS = {"Authorization": f"Bearer {KEY}"}
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.response_schema_conformance,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.missing_required_header,
    st_checks.ignored_auth,
]
"""Every standard check that holds for this API. Not `use_after_free` (a retired agent's results
stay readable by design), `ensure_resource_availability` (it blames the created resource for a
404 about another id in the body), or `negative_data_rejection` (`keep_local` turns some invalid
bodies valid) and `positive_data_acceptance` (generated "valid" bodies often break rules the
schema cannot say, such as naming exactly one of two fields)."""


def openapi_document() -> dict[str, Any]:
    """The published document, read from an app that is never started."""
    return create_app(load_settings({})).openapi()


def fuzz_settings(database: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "AIFACTORY_API_KEYS": KEY,
        "AIFACTORY_CASE_TIMEOUT_S": "2",
        "AIFACTORY_LLM_MAX_ATTEMPTS": "1",
        # `ignored_auth` repeats every operation with a wrong key, all from one address: the
        # failed-authentication throttle (tested in test_api_throttle) would answer them 429.
        "AIFACTORY_AUTH_FAILURES_PER_MINUTE": "0",
        # Port 9 (discard) on loopback: a judge call fails at once and leaves the machine never.
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "OPENAI_BASE_URL": "http://127.0.0.1:9",
    }


def fuzz_app(database: Path) -> FastAPI:
    """The API on the SQLite file ``database``; schemathesis starts its lifespan on the first call
    and ``stop_fuzz_apps`` ends it."""
    return create_app(load_settings(fuzz_settings(database)))


def stop_fuzz_apps() -> None:
    """End the lifespan of every app schemathesis started: its workers and loops stop."""
    st_asgi.shutdown_lifespans()


@contextmanager
def open_fuzz_app(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[FastAPI]:
    """The API on a fresh SQLite file, stopped on leaving."""
    try:
        yield fuzz_app(tmp_path_factory.mktemp(name) / "fuzz.db")
    finally:
        stop_fuzz_apps()


CASE_KINDS = ("input", "turns", "simulated_user")


def give_cases_a_kind(body: Any) -> None:
    """Give a generated test case without any of ``input``, ``turns`` and ``simulated_user`` an
    ``input``, as the generator always did while ``input`` was required.

    A case must hold exactly one of the three; the generator leaves all three out of most cases,
    so nearly every ``runTest`` would be a 422 and its answer's links would never be followed.
    Cases holding two or more are left as generated: they must still be refused.
    """
    if not isinstance(body, dict):
        return
    test_cases = body.get("test_cases")
    cases = [body.get("test_case"), *(test_cases if isinstance(test_cases, list) else [])]
    for case in cases:
        if isinstance(case, dict) and all(case.get(kind) is None for kind in CASE_KINDS):
            for kind in CASE_KINDS:
                case.pop(kind, None)
            case["input"] = "hello"


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
