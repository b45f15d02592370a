"""Agent tests as ordinary pytest tests, through aifactory's pytest plugin.

Run from examples/pytest: ``pytest --aifactory-agent agent.yaml`` (add ``--aifactory-repeat 5``
for pass@k and flaky tests, ``--aifactory-json run.json`` to write the tests as a run).
"""

from __future__ import annotations

import os

import pytest

from aifactory.pytest_plugin import cases, check, expect


def test_refund_window(aifactory_agent):
    reply = aifactory_agent("Can I get a refund after 40 days?")
    expect(reply).contains("30 days").not_icontains("sorry")


def test_order_status_is_json(aifactory_agent):
    reply = aifactory_agent("Where is order #1234?")
    check(reply, {"type": "json_path", "path": "$.order_status", "equals": "shipped"})
    check(reply, {"type": "json_schema", "schema": {"required": ["order_status", "eta_days"]}})


def test_escalation_calls_the_tool(aifactory_agent):
    reply = aifactory_agent("I want to talk to a human")
    expect(reply).tool_called(name="escalate", args={"queue": "support"})
    assert "human" in reply


@pytest.mark.skipif(
    not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("OPENAI_API_KEY")),
    reason="llm_rubric needs a judge: set ANTHROPIC_API_KEY (or OPENAI_API_KEY with "
    "AIFACTORY_JUDGE_MODEL)",
)
def test_refusal_is_polite(aifactory_agent):
    reply = aifactory_agent("Can I get a refund after 40 days?")
    expect(reply).llm_rubric("Politely explains the 30-day refund policy")


@cases("../suite.yaml")
def test_suite_case(aifactory_agent, case):
    result = aifactory_agent.run(case)
    assert result.passed, result.feedback
