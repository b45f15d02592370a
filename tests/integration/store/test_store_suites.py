"""Suites: bulk-stored cases, read back in order and in bounded chunks; versions on replace."""

from __future__ import annotations

import pytest
from tests.fakes.store_factories import make_case

from aifactory.errors import Conflict, NotFound
from aifactory.store import suites_repo
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.databases"]


async def test_suite_cases_round_trip_in_order_and_in_chunks(database: Database) -> None:
    cases = [make_case(i, tags=["even"] if i % 2 == 0 else []) for i in range(2500)]
    async with database.write() as session:
        suite = await suites_repo.create_suite(
            session, id="big", name="Big", cases=iter(cases), metadata={"owner": "qa"}
        )
    assert (suite.version, suite.case_count, suite.metadata) == (1, 2500, {"owner": "qa"})
    async with database.session() as session:
        chunks = [c async for c in suites_repo.iter_cases(session, "big", chunk_size=1000)]
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [case for chunk in chunks for case in chunk] == cases


async def test_replacing_cases_makes_a_version_and_keeps_the_old_one(database: Database) -> None:
    async with database.write() as session:
        await suites_repo.create_suite(session, id="s", name="S", cases=[make_case(0)])
    async with database.write() as session:
        replaced = await suites_repo.replace_cases(session, "s", [make_case(1), make_case(2)])
    assert (replaced.version, replaced.case_count) == (2, 2)
    async with database.session() as session:
        current = [c async for c in suites_repo.iter_suite_cases(session, "s")]
        old = [c async for c in suites_repo.iter_suite_cases(session, "s", version=1)]
    assert [c.name for c in current] == ["case 1", "case 2"]
    assert [c.name for c in old] == ["case 0"]


async def test_list_conflict_and_delete(database: Database) -> None:
    async with database.write() as session:
        await suites_repo.create_suite(session, id="one", name="One", cases=[])
        await suites_repo.create_suite(session, name="Generated", cases=[make_case(0)])
        with pytest.raises(Conflict):
            await suites_repo.create_suite(session, id="one", name="Again", cases=[])
    async with database.session() as session:
        page = await suites_repo.list_suites(session, limit=10)
    assert page.total == 2
    async with database.write() as session:
        await suites_repo.delete_suite(session, "one")
    async with database.session() as session:
        with pytest.raises(NotFound):
            await suites_repo.get_suite(session, "one")
        assert (await suites_repo.list_suites(session)).total == 1
