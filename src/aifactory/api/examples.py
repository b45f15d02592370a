"""Request bodies shown in the OpenAPI document (``/docs`` offers them under "Try it out").

Create the agent and the suite from their examples first (``support-bot``, ``support-smoke``);
the run, batch and reflection examples then work as they stand. The agent is scripted, so
trying them calls nothing outside the server.
"""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

_CASE: dict[str, Any] = {
    "name": "refund window",
    "input": "Can I get a refund after two weeks?",
    "checks": [{"type": "contains", "value": "30 days"}],
    "tags": ["refunds"],
}

_SCRIPTED_AGENT: dict[str, Any] = {
    "name": "Support bot (scripted)",
    "kind": "scripted",
    "config": {
        "responses": [
            {"match": "refund", "output": "Refunds are possible within 30 days of purchase."}
        ],
        "default": "I can only help with refunds.",
    },
}

AGENT: dict[str, Example] = {
    "scripted": Example(
        summary="A scripted agent",
        description="Canned answers, no network. Without an id the server picks one.",
        value={"id": "support-bot", **_SCRIPTED_AGENT},
    ),
}

SUITE: dict[str, Example] = {
    "inline": Example(
        summary="Two cases with checks",
        value={
            "id": "support-smoke",
            "name": "Support smoke",
            "test_cases": [
                _CASE,
                {
                    "name": "out of scope",
                    "input": "What is the weather?",
                    "checks": [{"type": "contains", "value": "only help"}],
                },
            ],
        },
    ),
}

BATCH: dict[str, Example] = {
    "inline": Example(
        summary="Cases sent inline",
        value={"agent_id": "support-bot", "name": "refunds", "test_cases": [_CASE], "repeat": 2},
    ),
    "suite": Example(
        summary="A stored suite's cases",
        value={"agent_id": "support-bot", "suite_id": "support-smoke"},
    ),
}

RUN: dict[str, Example] = {
    "stored": Example(
        summary="One case against a stored agent",
        value={"agent_id": "support-bot", "test_case": _CASE},
    ),
    "inline": Example(
        summary="One case against an agent sent inline",
        value={"agent": _SCRIPTED_AGENT, "test_case": _CASE},
    ),
}

REFLECTION: dict[str, Example] = {
    "suite": Example(
        summary="Reflect over a stored suite",
        value={"suite_id": "support-smoke", "max_iterations": 2, "candidates": 2},
    ),
}
