"""Where judge verdicts are kept, so re-scoring the same output costs nothing.

A verdict is keyed by a content hash (:func:`verdict_key`) of everything that decides it: the
judge model, the kind of grading, the criteria, the input, the output, the reference answer
and the sample index. Two stores ship: an in-memory LRU (per process) and a SQLite file
(shared by the processes of one machine, kept across runs). A store that fails to read or
write counts as a miss; the verdict is then simply asked for again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from collections import OrderedDict
from contextlib import closing
from pathlib import Path
from typing import Protocol

from aifactory.domain.checks.base import JudgeRequest, JudgeVerdict

log = logging.getLogger(__name__)

PROMPT_VERSION = 1
"""Part of every key: a change to the judge's prompts must not reuse old verdicts."""


def verdict_key(model: str, request: JudgeRequest) -> str:
    """The sha256 content hash a verdict is cached under."""
    parts = [
        PROMPT_VERSION,
        model,
        request.kind,
        request.criteria,
        request.input,
        request.output,
        request.expected,
        request.sample,
    ]
    if request.conversation is not None:
        parts.append(request.conversation)
    # JSON of a list keeps the parts apart: ("ab", "c") and ("a", "bc") never collide.
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


class VerdictCache(Protocol):
    """A store of judge verdicts by :func:`verdict_key`."""

    async def get(self, key: str) -> JudgeVerdict | None:
        """The verdict stored under ``key``, if any."""
        ...

    async def put(self, key: str, verdict: JudgeVerdict) -> None:
        """Store ``verdict`` under ``key``."""
        ...


class InMemoryVerdictCache:
    """An LRU of at most ``max_entries`` verdicts, in this process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1.")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, JudgeVerdict] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> JudgeVerdict | None:
        """The verdict under ``key`` (and mark it recently used)."""
        verdict = self._entries.get(key)
        if verdict is not None:
            self._entries.move_to_end(key)
        return verdict

    async def put(self, key: str, verdict: JudgeVerdict) -> None:
        """Store ``verdict``, forgetting the least recently used one when full."""
        self._entries[key] = verdict
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class SqliteVerdictCache:
    """Verdicts in a SQLite file, safe to share between processes.

    Each operation opens its own connection in a worker thread, so the event loop never
    blocks on the disk and no connection crosses threads.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False

    @classmethod
    def in_dir(cls, cache_dir: str | Path) -> SqliteVerdictCache:
        """The file ``judge-verdicts.sqlite3`` under ``cache_dir`` (``AIFACTORY_CACHE_DIR``)."""
        return cls(Path(cache_dir) / "judge-verdicts.sqlite3")

    async def get(self, key: str) -> JudgeVerdict | None:
        """The verdict under ``key``; None when absent or when the file cannot be read."""
        try:
            row = await asyncio.to_thread(self._get, key)
        except (OSError, sqlite3.Error) as exc:
            log.warning("Judge verdict cache %s could not be read: %s", self.path, exc)
            return None
        if row is None:
            return None
        score, passed, reasoning = row
        return JudgeVerdict(score=float(score), passed=bool(passed), reasoning=str(reasoning))

    async def put(self, key: str, verdict: JudgeVerdict) -> None:
        """Store ``verdict``; a file that cannot be written only costs the caching."""
        try:
            await asyncio.to_thread(self._put, key, verdict)
        except (OSError, sqlite3.Error) as exc:
            log.warning("Judge verdict cache %s could not be written: %s", self.path, exc)

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            with conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY,"
                    " score REAL NOT NULL, passed INTEGER NOT NULL, reasoning TEXT NOT NULL,"
                    " created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                )
            self._ready = True
        return conn

    def _get(self, key: str) -> tuple[float, int, str] | None:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT score, passed, reasoning FROM verdicts WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _put(self, key: str, verdict: JudgeVerdict) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO verdicts (key, score, passed, reasoning)"
                " VALUES (?, ?, ?, ?)",
                (key, verdict.score, int(verdict.passed), verdict.reasoning),
            )
