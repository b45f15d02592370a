"""The run's statuses, counters and the batch command's fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

from aifactory.api.schemas import BatchRequest, RunStatusName
from aifactory.domain.models import TestCase
from aifactory.domain.paging import Page
from aifactory.domain.runs import ACTIVE, RUN_STATUSES, TERMINAL, BatchCommand, Run, RunStatus


def a_run(status: RunStatus, *, total: int = 4, completed: int = 1) -> Run:
    now = datetime.now(UTC)
    return Run(
        id="r1",
        agent_id="bot",
        agent_version=1,
        suite_id=None,
        suite_version=None,
        name=None,
        status=status,
        total=total,
        completed=completed,
        passed=completed,
        failed=0,
        errored=0,
        cancelled=0,
        repeat=1,
        concurrency=None,
        metadata={},
        summary=None,
        error=None,
        created_at=now,
        started_at=None,
        finished_at=None,
    )


def test_every_status_is_active_or_terminal_and_never_both() -> None:
    assert set(RunStatus) == ACTIVE | TERMINAL
    assert not ACTIVE & TERMINAL
    assert [s for s in RunStatus if s.is_terminal] == [s for s in RunStatus if s in TERMINAL]


def test_the_http_status_names_are_the_domain_statuses() -> None:
    assert get_args(RunStatusName) == RUN_STATUSES == tuple(s.value for s in RunStatus)


def test_a_run_counts_what_remains_and_knows_when_it_is_finished() -> None:
    running = a_run(RunStatus.RUNNING, total=4, completed=1)
    assert (running.remaining, running.progress, running.finished) == (3, 0.25, False)
    assert a_run(RunStatus.CANCELLED).finished
    assert a_run(RunStatus.QUEUED, total=0, completed=0).progress == 1.0
    assert running.run_id == running.id


def test_the_fingerprint_is_the_one_a_batch_request_always_had() -> None:
    # Idempotency rows stored before the command existed must keep matching.
    import hashlib
    import json

    body = BatchRequest(
        agent_id="bot",
        test_cases=[TestCase(name="hi", input="hello")],
        metadata={"budget_usd": 1},
        repeat=2,
    )
    blob = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    command = body.command(api_key_id="k1", idempotency_key="abc")
    assert command.fingerprint() == hashlib.sha256(blob.encode()).hexdigest()
    other = BatchCommand(agent_id="bot", suite_id="s1")
    assert other.fingerprint() != command.fingerprint()


def test_a_page_maps_its_items_and_keeps_its_place() -> None:
    page = Page[int](items=[1, 2], total=10, limit=2, offset=4)
    doubled = page.map(lambda n: n * 2)
    assert (doubled.items, doubled.total, doubled.limit, doubled.offset) == ([2, 4], 10, 2, 4)
