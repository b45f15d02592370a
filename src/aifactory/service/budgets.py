"""Budgets given over the API are refused before anything starts when they cannot be kept.

A batch's ``metadata.budget_usd`` and a reflection's ``budget_usd`` are 422 ``invalid_request``
when a model that would spend against them has no known price (see
:mod:`aifactory.engine.budget`), and a batch's budget that is not a number of dollars is 422 too
(the workers would otherwise ignore it).
"""

from __future__ import annotations

import math
from typing import Any

from aifactory.domain.models import TestCase
from aifactory.engine.budget import (
    Spender,
    UnpricedBudget,
    agent_spender,
    case_is_judged,
    judge_spender,
    priced,
    require_prices,
    simulator_spender,
)
from aifactory.errors import InvalidInput
from aifactory.llm.pricing import PriceTable
from aifactory.settings import Settings
from aifactory.store import agents_repo, suites_repo
from aifactory.store.database import Database


def batch_budget(metadata: dict[str, Any]) -> float | None:
    """A batch's ``metadata.budget_usd``, or None when it has none.

    Raises:
        InvalidInput: the budget is not a finite number of dollars, 0 or more.
    """
    value = metadata.get("budget_usd")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        message = (
            f"metadata.budget_usd must be a number of US dollars, 0 or more, not {value!r}; "
            "leave it out for no budget."
        )
        raise InvalidInput(message, details=[{"field": "metadata.budget_usd", "message": message}])
    return float(value)


class _Spenders:
    """What a run's cases would spend on: the judge, and their simulated users' models."""

    def __init__(self) -> None:
        self.judged = False
        self.models: dict[str | None, None] = {}

    def add(self, case: TestCase) -> None:
        self.judged = self.judged or case_is_judged(case)
        if case.simulated_user is not None:
            self.models[case.simulated_user.model] = None

    def simulators(self, settings: Settings) -> list[Spender]:
        return [simulator_spender(settings, model) for model in self.models]


async def require_budget_prices(
    db: Database,
    settings: Settings,
    *,
    field: str,
    agent_id: str,
    test_cases: list[TestCase] | None = None,
    suite_id: str | None = None,
    reflector: Spender | None = None,
) -> None:
    """Refuse (422) a budget that a model without a price could overspend unseen.

    Args:
        db: Where the stored agent and suite are read.
        settings: The judge model and ``AIFACTORY_PRICES``.
        field: The request field that holds the budget, for the message and ``details``.
        agent_id: The stored agent (its current version's config).
        test_cases: The run's cases, or
        suite_id: the stored suite they come from (read only when the judge or the default
            simulated user has no price).
        reflector: The reflector, for a reflection.

    Raises:
        InvalidInput: a spender's model has no price; the message names it and AIFACTORY_PRICES.
        NotFound: no such agent or suite.
    """
    prices = PriceTable.from_settings(settings)
    judge = judge_spender(settings)
    async with db.session() as session:
        spec = (await agents_repo.get_agent(session, agent_id)).spec
        spenders = _Spenders()
        if not priced(judge, prices) or not priced(simulator_spender(settings), prices):
            if test_cases is not None:
                for case in test_cases:
                    spenders.add(case)
            elif suite_id is not None:
                async for case in suites_repo.iter_suite_cases(session, suite_id):
                    spenders.add(case)
    try:
        require_prices(
            [
                agent_spender(spec),
                judge if spenders.judged else None,
                reflector,
                *spenders.simulators(settings),
            ],
            prices,
            budget=field,
        )
    except UnpricedBudget as exc:
        details = [{"field": field, "message": str(exc), "models": [s.model for s in exc.missing]}]
        raise InvalidInput(str(exc), details=details) from exc
