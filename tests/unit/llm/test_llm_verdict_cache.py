"""Verdict caches: keys, the in-memory LRU and the SQLite file."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from aifactory.domain.checks.base import JudgeRequest, JudgeVerdict
from aifactory.llm.verdict_cache import InMemoryVerdictCache, SqliteVerdictCache, verdict_key

REQUEST = JudgeRequest(kind="rubric", criteria="Polite", input="Hi", output="Hello!")
VERDICT = JudgeVerdict(score=0.75, passed=True, reasoning="Polite enough.")


def test_key_covers_every_part() -> None:
    base = verdict_key("m", REQUEST)
    assert verdict_key("m", REQUEST) == base
    assert len(base) == 64
    variants = [
        verdict_key("other-model", REQUEST),
        verdict_key("m", replace(REQUEST, kind="factuality")),
        verdict_key("m", replace(REQUEST, criteria="Rude")),
        verdict_key("m", replace(REQUEST, input="Hey")),
        verdict_key("m", replace(REQUEST, output="Hello")),
        verdict_key("m", replace(REQUEST, expected="Hello!")),
        verdict_key("m", replace(REQUEST, sample=1)),
        # Moving text between fields must not collide.
        verdict_key("m", replace(REQUEST, criteria="PoliteH", input="i")),
    ]
    assert len({base, *variants}) == len(variants) + 1


async def test_lru_forgets_the_least_recently_used() -> None:
    cache = InMemoryVerdictCache(max_entries=2)
    await cache.put("a", VERDICT)
    await cache.put("b", VERDICT)
    assert await cache.get("a") == VERDICT  # "a" is now the most recent
    await cache.put("c", VERDICT)
    assert await cache.get("b") is None
    assert await cache.get("a") == VERDICT
    assert await cache.get("c") == VERDICT
    assert len(cache) == 2


async def test_sqlite_round_trip_across_instances(tmp_path: Path) -> None:
    await SqliteVerdictCache(tmp_path / "deep" / "v.sqlite3").put("k", VERDICT)
    again = SqliteVerdictCache(tmp_path / "deep" / "v.sqlite3")
    assert await again.get("k") == VERDICT
    assert await again.get("missing") is None
    await again.put("k", replace(VERDICT, score=0.1, passed=False))
    assert await again.get("k") == replace(VERDICT, score=0.1, passed=False)


async def test_unusable_cache_file_is_a_miss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    cache = SqliteVerdictCache.in_dir(blocker)
    with caplog.at_level(logging.WARNING):
        await cache.put("k", VERDICT)
        assert await cache.get("k") is None
    assert "could not be written" in caplog.text
    assert "could not be read" in caplog.text
