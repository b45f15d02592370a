"""``GET /api/v1/runs``: finding a run by the first characters of its id, as the dashboard shows."""

from __future__ import annotations

from tests.fakes.service import Service
from tests.fakes.store_factories import make_case, scripted_agent

from aifactory.domain.runs import NewRun
from aifactory.store import agents_repo, runs_repo
from aifactory.store.database import Database

IDS = (
    "abcd1234-0000-4000-8000-000000000001",
    "abcd1234-0000-4000-8000-000000000002",
    "abcd9999-0000-4000-8000-000000000003",
)


async def add_runs(database: Database) -> None:
    async with database.write() as session:
        await agents_repo.create_agent(session, scripted_agent("bot"))
        for run_id in IDS:
            new = NewRun(agent_id="bot", agent_version=1, id=run_id, name=run_id[-1])
            await runs_repo.create_run_with_pending_results(session, new, [make_case(0)])


async def test_id_prefix_finds_the_runs_whose_id_starts_with_it(
    service: Service, database: Database
) -> None:
    await add_runs(database)

    one = await service.client.list_runs(id_prefix="abcd9999")
    assert [r.run_id for r in one.items] == [IDS[2]]
    both = await service.client.list_runs(id_prefix="abcd1234")
    assert both.total == 2
    assert sorted(r.run_id for r in both.items) == list(IDS[:2])
    assert (await service.client.list_runs(id_prefix=IDS[0])).total == 1
    assert (await service.client.list_runs(id_prefix="0bcd")).total == 0
    assert (await service.client.list_runs()).total == 3


async def test_an_id_prefix_is_hex_and_dashes_only(service: Service, database: Database) -> None:
    await add_runs(database)
    # A LIKE wildcard must not match every run.
    for prefix in ("%", "abcd_", "ABCD"):
        response = await service.http.get("/api/v1/runs", params={"id_prefix": prefix})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"].endswith("id_prefix")
