"""The suite record and the limits every reader keeps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aifactory.domain.models import CheckSpec, TestCase

SUITE_EXTENSIONS = (".yaml", ".yml", ".json", ".jsonl", ".csv")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 64
"""Deepest nesting of lists and mappings a suite file may have."""
MAX_CASES = 100_000
"""Most cases one file may expand to (a promptfoo matrix grows fast)."""


class SuiteDefaults(BaseModel):
    """What every case of a suite gets: extra checks, a threshold, tags and vars."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checks: list[CheckSpec] = Field(default_factory=list)
    threshold: float | None = Field(default=None, ge=0, le=1)
    tags: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)


class Suite(BaseModel):
    """A named list of test cases, with the defaults already applied to each case."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    """The defaults the file declared (already part of ``test_cases``)."""
    test_cases: list[TestCase]
    warnings: list[str] = Field(default_factory=list)
    """Parts of the file that were read but ignored (promptfoo providers, transforms...)."""
