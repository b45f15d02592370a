"""AI Factory Testing: run test suites against AI agents and know whether they still work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from aifactory.client import APIStatusError, AsyncClient, Client
    from aifactory.client_shapes import (
        AgentPublic,
        AgentVersionPublic,
        BatchAccepted,
        Health,
        KeyCreated,
        KeyPublic,
        LabelPublic,
        MetricsPublic,
        RunPublic,
        RunStatusPublic,
        SuitePublic,
    )
    from aifactory.domain.compare import Comparison
    from aifactory.domain.models import (
        AgentReply,
        AgentSpec,
        CheckResult,
        CheckSpec,
        RunSummary,
        TestCase,
        TestResult,
    )
    from aifactory.domain.paging import Page
    from aifactory.domain.reflection import ReflectionAccepted, ReflectionPublic
    from aifactory.domain.review import AgreementReport, ReviewQueue
    from aifactory.domain.runs import RunStatus
    from aifactory.domain.trend import Trend

_LAZY = {
    "APIStatusError": "aifactory.client",
    "AsyncClient": "aifactory.client",
    "Client": "aifactory.client",
    "AgentPublic": "aifactory.client_shapes",
    "AgentVersionPublic": "aifactory.client_shapes",
    "BatchAccepted": "aifactory.client_shapes",
    "Health": "aifactory.client_shapes",
    "KeyCreated": "aifactory.client_shapes",
    "KeyPublic": "aifactory.client_shapes",
    "LabelPublic": "aifactory.client_shapes",
    "MetricsPublic": "aifactory.client_shapes",
    "RunPublic": "aifactory.client_shapes",
    "RunStatusPublic": "aifactory.client_shapes",
    "SuitePublic": "aifactory.client_shapes",
    "Comparison": "aifactory.domain.compare",
    "AgentReply": "aifactory.domain.models",
    "AgentSpec": "aifactory.domain.models",
    "CheckResult": "aifactory.domain.models",
    "CheckSpec": "aifactory.domain.models",
    "RunSummary": "aifactory.domain.models",
    "TestCase": "aifactory.domain.models",
    "TestResult": "aifactory.domain.models",
    "Page": "aifactory.domain.paging",
    "ReflectionAccepted": "aifactory.domain.reflection",
    "ReflectionPublic": "aifactory.domain.reflection",
    "AgreementReport": "aifactory.domain.review",
    "ReviewQueue": "aifactory.domain.review",
    "RunStatus": "aifactory.domain.runs",
    "Trend": "aifactory.domain.trend",
}

__all__ = [
    "APIStatusError",
    "AgentPublic",
    "AgentReply",
    "AgentSpec",
    "AgentVersionPublic",
    "AgreementReport",
    "AsyncClient",
    "BatchAccepted",
    "CheckResult",
    "CheckSpec",
    "Client",
    "Comparison",
    "Health",
    "KeyCreated",
    "KeyPublic",
    "LabelPublic",
    "MetricsPublic",
    "Page",
    "ReflectionAccepted",
    "ReflectionPublic",
    "ReviewQueue",
    "RunPublic",
    "RunStatus",
    "RunStatusPublic",
    "RunSummary",
    "SuitePublic",
    "TestCase",
    "TestResult",
    "Trend",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so `import aifactory` stays cheap for the command line.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aifactory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
