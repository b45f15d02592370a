"""The demo agent and suite seeded into an empty embedded server (no key or network needed)."""

from __future__ import annotations

from typing import Any

DEMO_AGENT: dict[str, Any] = {
    "id": "demo-support-bot",
    "name": "Demo support bot (scripted)",
    "kind": "scripted",
    "config": {
        "responses": [
            # A conversation: a broken order is handled only once its number is given.
            {
                "match": "arrived broken",
                "turn": 1,
                "output": "I'm sorry to hear that! What is your order number?",
            },
            {
                "match": r"\bA-\d{4}\b",
                "regex": True,
                "turn": 2,
                "output": "Thank you. I found your order; a replacement ships today.",
                "tool_calls": [
                    {"name": "lookup_order", "args": {"order": "A-1234"}},
                    {"name": "send_replacement", "args": {"order": "A-1234"}},
                ],
            },
            {"match": "refund", "output": "Refunds are possible within 30 days of purchase."},
            {
                "match": "password",
                "output": (
                    "To reset your password, open Settings > Security and choose 'Reset password'."
                ),
            },
            {
                "match": r"order\s+#?\d+",
                "regex": True,
                "output": '{"order_status": "shipped", "eta_days": 2}',
            },
        ],
        "default": "I'm sorry, I can only help with refunds, passwords and orders.",
        "latency_ms": 20,
    },
    "max_concurrency": 8,
}

DEMO_SUITE: dict[str, Any] = {
    "id": "demo-support",
    "name": "Demo support suite",
    "description": "What the demo support bot must get right; one case fails on purpose.",
    "test_cases": [
        {
            "name": "refund window",
            "input": "Can I get a refund after 40 days?",
            "expected": "Refunds are possible within 30 days.",
            "tags": ["billing"],
            "checks": [{"type": "contains", "value": "30 days"}],
        },
        {
            "name": "password reset",
            "input": "I forgot my password",
            "tags": ["account"],
            "checks": [{"type": "icontains", "value": "reset password"}],
        },
        {
            "name": "order status is JSON",
            "input": "Where is order #1234?",
            "tags": ["orders"],
            "checks": [
                {"type": "json_valid"},
                {"type": "json_path", "path": "$.order_status", "equals": "shipped"},
            ],
        },
        {
            "name": "stays on topic",
            "input": "What's the weather tomorrow?",
            "tags": ["guardrails"],
            "checks": [{"type": "regex", "pattern": "only help", "flags": "i"}],
        },
        {
            "name": "broken order needs its number",
            "tags": ["orders", "conversation"],
            "turns": [
                {
                    "input": "My headphones arrived broken.",
                    "checks": [{"type": "icontains", "value": "order number"}],
                },
                {
                    "input": "It's A-1234.",
                    "checks": [{"type": "icontains", "value": "replacement"}],
                },
            ],
            "checks": [
                {"type": "tool_sequence", "names": ["lookup_order", "send_replacement"]},
                {"type": "turn_count", "max": 2},
                {"type": "not_icontains", "value": "only help", "scope": "each"},
            ],
        },
        {
            "name": "says thirty in words",
            "input": "How long is the refund window?",
            "tags": ["billing"],
            "checks": [{"type": "contains", "value": "thirty days"}],
        },
    ],
}
