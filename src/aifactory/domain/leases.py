"""Leases: a case a worker holds until it completes it, or until the lease runs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aifactory.domain.models import TestCase


@dataclass(frozen=True, slots=True)
class ClaimedCase:
    """A case a worker holds under a lease until it completes it or the lease runs out."""

    result_id: str
    run_id: str
    agent_id: str
    agent_version: int
    case_index: int
    repeat_index: int
    test_case: TestCase
    attempts: int
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    """A case whose worker let its lease run out; the reconciler hands it out again."""

    result_id: str
    run_id: str
    lease_owner: str | None
    attempts: int
