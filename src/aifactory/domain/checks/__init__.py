"""Checks: the registry, deterministic checks and model-graded checks."""

from aifactory.domain.checks.base import (
    BuiltCheck,
    Check,
    CheckContext,
    CheckType,
    Embedder,
    Judge,
    JudgeRequest,
    JudgeVerdict,
    Outcome,
    build_check,
    check,
    registry,
    resolve_type,
    run_check,
)

__all__ = [
    "BuiltCheck",
    "Check",
    "CheckContext",
    "CheckType",
    "Embedder",
    "Judge",
    "JudgeRequest",
    "JudgeVerdict",
    "Outcome",
    "build_check",
    "check",
    "registry",
    "resolve_type",
    "run_check",
]
