"""Reflections: start a loop in the background, follow it, cancel it, report on it.

A reflection runs as an asyncio task in the server process that accepted it
(:class:`~aifactory.engine.reflection_loop.ReflectionLoop`, over the run service and
:class:`~aifactory.service.reflection_records.StoredReflections`); its runs go through the batch
queue like any other. It is **not resumed** after a restart: a loop holds a conversation with the
reflector and runs in flight, which a new process cannot pick up honestly. Instead it is marked
``failed`` (stop reason ``error``) with everything it measured kept: at once when the server
stops gracefully, and when its heartbeat is older than :data:`STALE_AFTER_S` seconds after a
crash (noticed on the next start, or when the reflection is read).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import TYPE_CHECKING

from aifactory.domain.compare import ALPHA
from aifactory.domain.paging import Page
from aifactory.domain.reflection import (
    Baseline,
    Iteration,
    ReflectionAccepted,
    ReflectionCreate,
    ReflectionPublic,
)
from aifactory.engine.budget import reflector_spender
from aifactory.engine.reflection_loop import ReflectionLoop
from aifactory.engine.runner_factory import RunnerFactory
from aifactory.errors import ConfigError, Conflict, InvalidInput
from aifactory.llm.factory import parse_model, provider_configured
from aifactory.llm.reflector import Reflector
from aifactory.reports.reflection import write_reflection_html, write_reflection_markdown
from aifactory.service.budgets import require_budget_prices
from aifactory.service.reflection_records import StoredReflections
from aifactory.store import agents_repo, reflections_repo, suites_repo
from aifactory.store.database import Database
from aifactory.store.reflections_repo import ReflectionRecord

if TYPE_CHECKING:
    from aifactory.service.runs import RunService

log = logging.getLogger(__name__)

STALE_AFTER_S = 60.0
"""A reflection whose heartbeat is older than this is taken for dead (its server is gone)."""
CANCEL_WAIT_S = 5.0
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


def reflection_public(record: ReflectionRecord) -> ReflectionPublic:
    """The public shape of a stored reflection."""
    state = record.state
    baseline = state.get("baseline")
    return ReflectionPublic(
        reflection_id=record.id,
        agent_id=record.agent_id,
        suite_id=record.suite_id,
        status=record.status,
        stop_reason=record.stop_reason,
        error=record.error,
        mode=state.get("mode") or "versions",
        baseline=Baseline.model_validate(baseline) if baseline else None,
        iterations=[Iteration.model_validate(it) for it in state.get("iterations") or []],
        accepted_version=record.accepted_version,
        cost_usd=record.cost_usd,
        alpha=state.get("alpha") or ALPHA,
        params=ReflectionCreate.model_validate(record.params),
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


SHUTDOWN_WAIT_S = 10.0
"""How long a stopping server waits for its loops to reach a safe point before cancelling them."""


class ReflectionService:
    """Starts reflection loops as background tasks of this process and answers about them.

    Args:
        db: the database.
        engine: the provider clients (for the reflector).
        runs: the run service (its queue executes the loops' runs; it cancels them).
    """

    def __init__(self, db: Database, engine: RunnerFactory, runs: RunService) -> None:
        self.db = db
        self.engine = engine
        self.runs = runs
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loops: dict[str, ReflectionLoop] = {}
        self._cancels: dict[str, asyncio.Event] = {}

    async def start(self, agent_id: str, body: ReflectionCreate) -> ReflectionAccepted:
        """Store the reflection and start its loop in the background.

        Raises:
            NotFound: no such agent or suite.
            Conflict: a reflection of this agent is still running.
            InvalidInput: the suite has fewer than two cases, or the reflector's model or
                provider cannot be used.
        """
        model = body.reflector_model or self.engine.settings.reflector_model
        try:
            provider, _ = parse_model(model)
        except ConfigError as exc:
            raise InvalidInput(
                str(exc), details=[{"field": "reflector_model", "message": str(exc)}]
            ) from exc
        if not provider_configured(provider, self.engine.settings):
            message = (
                f"The reflector's provider {provider!r} has no API key or base URL; set "
                f"{provider.upper()}_API_KEY on the server, or choose another reflector_model."
            )
            details = [{"field": "reflector_model", "message": message}]
            raise InvalidInput(message, details=details)
        if body.budget_usd is not None:
            # The agent, the judge (if the suite has model-graded checks) and the reflector all
            # spend against the budget: each needs a price, or the budget could not be kept.
            await require_budget_prices(
                self.db,
                self.engine.settings,
                field="budget_usd",
                agent_id=agent_id,
                suite_id=body.suite_id,
                reflector=reflector_spender(self.engine.settings, body.reflector_model),
            )
        async with self.db.write() as session:
            await agents_repo.get_agent(session, agent_id)
            suite = await suites_repo.get_suite(session, body.suite_id)
            await reflections_repo.fail_stale(session, older_than_s=STALE_AFTER_S)
            running = await reflections_repo.active_for_agent(session, agent_id)
            if running is not None:
                # Two loops on one agent would each promote their own versions over the other's.
                raise Conflict(
                    f"Reflection {running.id} of agent {agent_id!r} is still {running.status}; "
                    "wait for it or cancel it first.",
                    code="reflection_running",
                )
            if suite.case_count < 2:
                message = (
                    f"Suite {suite.id!r} has {suite.case_count} case(s); a reflection needs at "
                    "least two to keep some out as a holdout. Add cases to the suite."
                )
                raise InvalidInput(message, details=[{"field": "suite_id", "message": message}])
            record = await reflections_repo.create_reflection(
                session, agent_id, body.suite_id, body.model_dump(mode="json")
            )
        self._spawn(record.id)
        return ReflectionAccepted(
            reflection_id=record.id,
            status="queued",
            status_url=f"/api/v1/reflections/{record.id}",
        )

    def _reflector(self, model: str | None) -> Reflector:
        """The reflector for ``model`` (``provider:model``; None: the server's default)."""
        provider, name = parse_model(model or self.engine.settings.reflector_model)
        client = self.engine.clients.get(provider)
        return Reflector(client, name, label=f"{provider}:{name}")

    def _spawn(self, reflection_id: str) -> None:
        cancel = asyncio.Event()
        loop = ReflectionLoop(
            reflection_id,
            runs=self.runs,
            records=StoredReflections(self.db),
            reflector=self._reflector,
            cancel=cancel,
        )
        task = asyncio.create_task(loop.run(), name=f"reflection-{reflection_id}")
        self._tasks[reflection_id] = task
        self._loops[reflection_id] = loop
        self._cancels[reflection_id] = cancel

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(reflection_id, None)
            self._cancels.pop(reflection_id, None)
            self._loops.pop(reflection_id, None)

        task.add_done_callback(forget)

    async def get(self, reflection_id: str) -> ReflectionPublic:
        """One reflection (a dead loop's is failed first).

        Raises:
            NotFound: no such reflection.
        """
        if reflection_id not in self._tasks:
            async with self.db.write() as session:
                await reflections_repo.fail_stale(
                    session, older_than_s=STALE_AFTER_S, reflection_id=reflection_id
                )
        async with self.db.session() as session:
            return reflection_public(await reflections_repo.get_reflection(session, reflection_id))

    async def list(
        self, *, agent_id: str | None, limit: int, offset: int
    ) -> Page[ReflectionPublic]:
        """Reflections, newest first, optionally of one agent."""
        async with self.db.write() as session:
            await reflections_repo.fail_stale(session, older_than_s=STALE_AFTER_S)
        async with self.db.session() as session:
            page = await reflections_repo.list_reflections(
                session, agent_id=agent_id, limit=limit, offset=offset
            )
        return Page(
            items=[reflection_public(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    async def cancel(self, reflection_id: str) -> ReflectionPublic:
        """Stop the loop and its runs; what it measured is kept.

        The loop stops at once when it runs in this process, else at its next heartbeat.

        Raises:
            NotFound: no such reflection.
        """
        async with self.db.write() as session:
            await reflections_repo.request_cancel(session, reflection_id)
        task = self._tasks.get(reflection_id)
        event = self._cancels.get(reflection_id)
        if task is not None and event is not None:
            event.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), CANCEL_WAIT_S)
        return await self.get(reflection_id)

    async def report(self, reflection_id: str, fmt: str) -> tuple[bytes, str]:
        """The reflection's report as ``html`` or ``markdown``: (body, media type).

        Raises:
            NotFound: no such reflection.
            ValueError: another format.
        """
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"A reflection report is html or markdown, not {fmt!r}.")
        reflection = await self.get(reflection_id)
        writer = write_reflection_html if fmt == "html" else write_reflection_markdown
        buffer = io.StringIO()
        await asyncio.to_thread(writer, buffer, reflection)
        return buffer.getvalue().encode("utf-8"), MEDIA_TYPES[fmt]

    async def recover(self) -> int:
        """Fail the reflections whose server died (on start); returns how many."""
        async with self.db.write() as session:
            return await reflections_repo.fail_stale(session, older_than_s=STALE_AFTER_S)

    async def aclose(self) -> None:
        """Stop this process's loops; each is stored as failed with what it measured."""
        tasks = list(self._tasks.values())
        # Ask every loop to stop at its next safe point first: a task cancelled in the middle of
        # a write could leave SQLite's write lock held by a connection nobody finishes.
        for reflection_id, loop in list(self._loops.items()):
            loop.server_stopping = True
            event = self._cancels.get(reflection_id)
            if event is not None:
                event.set()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_S)
            for task in late:
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
