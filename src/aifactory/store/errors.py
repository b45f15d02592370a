"""Errors the store raises on purpose; the API maps them to 404 and 409."""

from __future__ import annotations

from aifactory.errors import AIFactoryError


class StoreError(AIFactoryError):
    """Base of the store's own errors."""


class NotFound(StoreError):
    """A record that does not exist (or was deleted)."""

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"No {kind} with id {id!r} exists. Check the id, or list the {kind}s.")
        self.kind = kind
        self.id = id


class Conflict(StoreError):
    """A write that clashes with what is stored: a taken id, a reused idempotency key."""

    def __init__(self, message: str, *, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code
