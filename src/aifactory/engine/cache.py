"""Response cache: an unchanged case against an unchanged agent version is not paid for twice."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

from aifactory.domain.models import AgentReply, TestCase


def cache_key(agent_key: str, case: TestCase, repeat_index: int = 0) -> str:
    """Content hash of the agent version, the case's input and vars (and the repeat index).

    The repeat index is part of the key so that ``repeat`` still measures variation.
    """
    payload: dict[str, Any] = {
        "agent": agent_key,
        "input": case.input
        if isinstance(case.input, str)
        else [m.model_dump() for m in case.messages()],
        "vars": case.vars,
        "repeat": repeat_index,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache(Protocol):
    """Stores agent replies by :func:`cache_key`."""

    def get(self, key: str) -> AgentReply | None: ...

    def set(self, key: str, reply: AgentReply) -> None: ...


class MemoryCache:
    """An LRU cache in memory."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: OrderedDict[str, AgentReply] = OrderedDict()
        self.max_entries = max_entries

    def get(self, key: str) -> AgentReply | None:
        reply = self._data.get(key)
        if reply is not None:
            self._data.move_to_end(key)
        return reply

    def set(self, key: str, reply: AgentReply) -> None:
        self._data[key] = reply
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)


class DiskCache:
    """A cache in a SQLite file, kept across command-line runs."""

    def __init__(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path / "responses.sqlite3", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)"
        )

    def get(self, key: str) -> AgentReply | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return AgentReply.model_validate_json(row[0]) if row else None

    def set(self, key: str, reply: AgentReply) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)",
                (key, reply.model_dump_json()),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
