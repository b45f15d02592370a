"""A run: a batch of cases against one agent version, its status and its counters.

Statuses move one way: ``queued`` → ``running`` → ``completed``, ``failed`` or ``cancelled``
(a queued run may also be cancelled or fail before it starts). :data:`ACTIVE` and
:data:`TERMINAL` split them; nothing else spells them out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aifactory.domain.models import TestCase, TestResult


class RunStatus(StrEnum):
    """Where a run is; compares equal to its name (``RunStatus.QUEUED == "queued"``)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has stopped for good."""
        return self in TERMINAL


ACTIVE: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
"""A run that still has cases to run."""
TERMINAL: frozenset[RunStatus] = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
)
"""A run that has stopped: its counters no longer move."""
RUN_STATUSES: tuple[str, ...] = tuple(status.value for status in RunStatus)
"""Every status's name, in the order a run goes through them."""


@dataclass(frozen=True, slots=True)
class Run:
    """A run and its counters; ``completed + remaining == total``."""

    id: str
    agent_id: str
    agent_version: int
    suite_id: str | None
    suite_version: int | None
    name: str | None
    status: RunStatus
    total: int
    completed: int
    passed: int
    failed: int
    errored: int
    cancelled: int
    repeat: int
    concurrency: int | None
    metadata: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def run_id(self) -> str:
        """The id, under the name every answer about a run gives it."""
        return self.id

    @property
    def remaining(self) -> int:
        """Cases not finished yet (pending, running or cancelled)."""
        return self.total - self.completed

    @property
    def progress(self) -> float:
        """Finished share of the run, in [0, 1]."""
        return 1.0 if self.total == 0 else self.completed / self.total

    @property
    def finished(self) -> bool:
        """Whether the run has stopped for good."""
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run in flight has got: what the batch reconcilers read, many times a second."""

    id: str
    status: str
    total: int
    completed: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a caller says about a run it is creating."""

    agent_id: str
    agent_version: int
    name: str | None = None
    suite_id: str | None = None
    suite_version: int | None = None
    repeat: int = 1
    concurrency: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    api_key_id: str | None = None
    id: str | None = None
    """A run id chosen by the caller (e.g. to answer before the insert); else a new UUID."""


@dataclass(frozen=True, slots=True)
class BatchCommand:
    """Run these cases (or a stored suite's) against a stored agent, in the background.

    Exactly one of ``test_cases`` and ``suite_id`` is given. ``api_key_id`` is who asked;
    ``idempotency_key`` makes a retried submission answer the run the first one made.
    """

    agent_id: str
    test_cases: list[TestCase] | None = None
    suite_id: str | None = None
    name: str | None = None
    concurrency: int | None = None
    repeat: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    api_key_id: str = ""
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """A canonical hash of what was asked (who asked and the key excluded), for idempotency."""
        asked = {
            "agent_id": self.agent_id,
            "test_cases": (
                None
                if self.test_cases is None
                else [case.model_dump(mode="json") for case in self.test_cases]
            ),
            "suite_id": self.suite_id,
            "name": self.name,
            "concurrency": self.concurrency,
            "repeat": self.repeat,
            "metadata": self.metadata,
        }
        blob = json.dumps(asked, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RunImport:
    """A finished run made elsewhere (the pytest plugin's), to store with its results.

    Each result's ``case_index`` and ``repeat_index`` say which case and repeat it is; no two
    results may share both.
    """

    agent_id: str
    results: list[TestResult]
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    api_key_id: str | None = None
