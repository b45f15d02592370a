"""What the operations endpoints report: the database's state, runs by status, cases executed."""

from __future__ import annotations

from typing import Any

from aifactory.service.probe import DatabaseProbe
from aifactory.store import runs_repo
from aifactory.store.database import Database


class OperationsService:
    """Counts and checks for ``/health`` and ``/api/v1/metrics``."""

    def __init__(self, db: Database, probe: DatabaseProbe | None = None) -> None:
        self.db = db
        self.probe = probe

    async def database_ok(self) -> bool:
        """Whether the database answers (a check shared by concurrent callers when probed)."""
        return await (self.probe.ok() if self.probe is not None else self.db.ping())

    async def run_counts(self) -> tuple[dict[str, int], int]:
        """Runs by status, and cases executed over all runs."""
        async with self.db.session(snapshot=False) as session:
            return await runs_repo.run_counts(session)

    def pool_status(self) -> dict[str, Any]:
        """The connection pool's size and how many connections are checked out."""
        return self.db.pool_status()
