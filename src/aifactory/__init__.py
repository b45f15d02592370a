"""AI Factory Testing: run test suites against AI agents and know whether they still work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from aifactory.client import APIStatusError, AsyncClient, Client
    from aifactory.domain.models import (
        AgentReply,
        AgentSpec,
        CheckResult,
        CheckSpec,
        RunSummary,
        TestCase,
        TestResult,
    )

_LAZY = {
    "APIStatusError": "aifactory.client",
    "AsyncClient": "aifactory.client",
    "Client": "aifactory.client",
    "AgentReply": "aifactory.domain.models",
    "AgentSpec": "aifactory.domain.models",
    "CheckResult": "aifactory.domain.models",
    "CheckSpec": "aifactory.domain.models",
    "RunSummary": "aifactory.domain.models",
    "TestCase": "aifactory.domain.models",
    "TestResult": "aifactory.domain.models",
}

__all__ = [
    "APIStatusError",
    "AgentReply",
    "AgentSpec",
    "AsyncClient",
    "CheckResult",
    "CheckSpec",
    "Client",
    "RunSummary",
    "TestCase",
    "TestResult",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so `import aifactory` stays cheap for the command line.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aifactory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
