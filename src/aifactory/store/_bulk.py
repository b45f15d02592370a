"""Helpers for bulk writes: chunking any iterable, and case serialisation."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, TypeVar

from aifactory.domain.models import TestCase

T = TypeVar("T")

CHUNK_SIZE = 1000
"""Rows per INSERT: large enough to amortise round trips, small enough to bound memory."""


async def chunked(
    items: Iterable[T] | AsyncIterable[T], size: int = CHUNK_SIZE
) -> AsyncIterator[list[T]]:
    """Yield lists of at most ``size`` items from a sync or async iterable."""
    chunk: list[T] = []
    if isinstance(items, AsyncIterable):
        async for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    else:
        for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def case_to_json(case: TestCase) -> dict[str, Any]:
    """A test case as stored: JSON, defaults left out to keep 100,000-case suites small."""
    return case.model_dump(mode="json", exclude_defaults=True)


def case_from_json(data: dict[str, Any]) -> TestCase:
    """A stored test case back as the domain model."""
    return TestCase.model_validate(data)


def tags_column(case: TestCase) -> str:
    """The ``,a,b,`` form of a case's tags that tag filters match with LIKE."""
    return f",{','.join(case.tags)}," if case.tags else ""


def like_tag(tag: str) -> str:
    """The LIKE pattern matching ``tag`` in a tags column (LIKE wildcards escaped with ``\\``)."""
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%,{escaped},%"


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (the typed Result hides ``rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)
