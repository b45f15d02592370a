"""Each agent's count of finished results, spread over a few rows so writers do not queue.

Every finished result adds one to its agent's count, in the transaction that writes it, so the
history's total (``GET /agents/{id}/results``) and ``cases_executed`` (``/metrics``) are O(1) and
always match the rows. One counter row per agent was a hot row: every single run and every batch
completion of an agent updated it, and on PostgreSQL each held its lock until its commit came
back, while its process served other requests (or, for the batch runner, sat at a lower CPU
priority). A quarter of a busy server's writing sessions were waiting for that lock.

So an agent's count is the sum of up to :data:`SHARDS` rows of ``agent_result_counts``; a
transaction (a session) adds to one of them, picked at random, with an upsert: two writers meet
on a row one time in :data:`SHARDS`. A call adds to its agents in id order.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Executable

from aifactory.store._bulk import rowcount
from aifactory.store.tables import Agent, AgentResultCount

SHARDS = 16
"""Rows an agent's count is spread over."""

_agents = cast(Table, Agent.__table__)
_counts = cast(Table, AgentResultCount.__table__)


def _upsert(dialect: Any, source: Any) -> Any:
    """``INSERT INTO agent_result_counts SELECT source``, adding ``n`` to a row already there."""
    statement = dialect.insert(_counts).from_select(["agent_id", "shard", "n"], source)
    return statement.on_conflict_do_update(
        index_elements=[_counts.c.agent_id, _counts.c.shard],
        set_={"n": _counts.c.n + statement.excluded.n},
    )


def _add(dialect: Any) -> Executable:
    # From the live agent (no row when it was deleted). SQLite needs the SELECT's WHERE to parse
    # an upsert after INSERT ... SELECT; it has one.
    live = select(
        _agents.c.id,
        bindparam("shard", type_=Integer),
        bindparam("n", type_=Integer),
    ).where(_agents.c.id == bindparam("agent"), _agents.c.deleted_at.is_(None))
    return cast(Executable, _upsert(dialect, live))


_ADD = {"postgresql": _add(postgresql), "sqlite": _add(sqlite)}


def add_one_from(agent_id: ColumnElement[Any]) -> Any:
    """A PostgreSQL statement adding 1 to the count of each ``agent_id`` of its FROM (a CTE of
    live agents), on the shard bound as ``shard``, returning the agents counted. For a caller
    folding its writes into one statement (:func:`results_repo.record_result`)."""
    source = select(agent_id, bindparam("shard", type_=Integer), literal(1, Integer))
    return _upsert(postgresql, source).returning(_counts.c.agent_id)


def shard_for(session: AsyncSession) -> int:
    """The shard this session's transaction adds to: one for all its calls, picked at random."""
    shard: int = session.info.setdefault("count_shard", random.randrange(SHARDS))
    return shard


def agent_total(agent_id: ColumnElement[Any]) -> ColumnElement[int]:
    """The count of ``agent_id`` (a column or bound parameter) as a scalar subquery, 0 if none."""
    return (
        select(func.coalesce(func.sum(_counts.c.n), 0))
        .where(_counts.c.agent_id == agent_id)
        .scalar_subquery()
    )


ALL_AGENTS_TOTAL = select(func.coalesce(func.sum(_counts.c.n), 0))
"""Finished results over every agent: one row, one column."""


async def add(session: AsyncSession, counts: Mapping[str, int]) -> set[str]:
    """Add ``counts`` (agent id to finished results) to the agents' counts, in this transaction.

    Returns:
        The agents counted; an agent missing from it is deleted or was never stored, and the
        caller decides whether that is an error.
    """
    statement = _ADD[session.get_bind().dialect.name]
    shard = shard_for(session)
    counted = set()
    for agent_id in sorted(counts):  # one order for every writer: no two wait on each other
        params = {"agent": agent_id, "shard": shard, "n": counts[agent_id]}
        done = await session.execute(statement, params)
        if rowcount(done):
            counted.add(agent_id)
    return counted
