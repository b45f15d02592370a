"""The HTTP shapes of comparisons and trends (defined in the domain, re-exported for the API)."""

from __future__ import annotations

from aifactory.domain.compare import (
    CaseKey,
    Comparison,
    EffectSize,
    Flip,
    McNemar,
    RunBrief,
    ScoreDiff,
)
from aifactory.domain.trend import FlakyCase, Trend, VersionTrend

__all__ = [
    "CaseKey",
    "Comparison",
    "EffectSize",
    "FlakyCase",
    "Flip",
    "McNemar",
    "RunBrief",
    "ScoreDiff",
    "Trend",
    "VersionTrend",
]
