"""Budgets that can be kept: every model that would spend against one must have a known price.

A call to a model without a price costs ``None`` (never a made-up figure), and a budget can only
add up what it knows: a run whose agent, judge or reflector has no price would overspend its
budget without noticing. So a budget is refused before anything runs (a 422 over the API, exit
2 on the command line) while any model that would spend against it is unpriced, naming the model
and ``AIFACTORY_PRICES``, which adds prices (0 for a free local model).

The spenders are the agent's own model (``llm`` agents), the judge (when a case has a
model-graded check), the simulated user (cases with a ``simulated_user``) and the reflector
(reflections). ``http`` agents are not priced here: their spend is what they report in
``usage.cost_usd``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aifactory.domain.checks.base import resolve_type
from aifactory.domain.models import AgentSpec, TestCase
from aifactory.errors import CheckSpecError, ConfigError
from aifactory.llm.pricing import PriceTable

if TYPE_CHECKING:
    from aifactory.settings import Settings

JUDGE_CHECK_TYPES = frozenset({"llm_rubric", "factuality", "goal_completed"})
"""Check types that call the judge model (``not_X`` forms included)."""


@dataclass(frozen=True, slots=True)
class Spender:
    """A model that spends against a budget, and the setting or field that chooses it."""

    role: str
    model: str
    source: str


class UnpricedBudget(ConfigError):
    """A budget that cannot be kept: a model that would spend against it has no price."""

    def __init__(self, missing: Sequence[Spender], *, budget: str) -> None:
        self.missing = tuple(missing)
        self.budget = budget
        names = "; ".join(f"{s.role}'s model {s.model!r} (from {s.source})" for s in missing)
        example = _bare(missing[0].model)
        super().__init__(
            f"{budget} cannot be kept: no price is known for {names}, so what "
            f"{'they spend' if len(missing) > 1 else 'it spends'} would count as nothing. Give "
            f"{'each' if len(missing) > 1 else 'it'} a price in AIFACTORY_PRICES (USD per "
            "million tokens, "
            f'for example AIFACTORY_PRICES=\'{{"{example}": {{"input": 1.0, "output": '
            f"5.0}}}}'; 0 for a free local model), or run without {budget}."
        )


def _bare(model: str) -> str:
    provider, sep, rest = model.partition(":")
    return rest if sep and provider.strip().lower() in ("anthropic", "openai") else model


def agent_spender(spec: AgentSpec) -> Spender | None:
    """The agent's own model (``llm`` agents only; others are not priced by model)."""
    if spec.kind != "llm":
        return None
    model = spec.config.get("model")
    if not isinstance(model, str) or not model.strip():
        return None
    provider = spec.config.get("provider") or "anthropic"
    label = spec.id or spec.name
    where = f"agent {label!r} config.model" if label else "the agent's config.model"
    return Spender("the agent", f"{provider}:{model.strip()}", where)


def judge_spender(settings: Settings) -> Spender:
    """The judge of model-graded checks."""
    return Spender("the judge", settings.judge_model, "AIFACTORY_JUDGE_MODEL")


def simulator_spender(settings: Settings, model: str | None = None) -> Spender:
    """The simulated user of a case (its own ``simulated_user.model`` or the default)."""
    if model:
        return Spender("the simulated user", model, "simulated_user.model")
    if settings.simulator_model:
        return Spender("the simulated user", settings.simulator_model, "AIFACTORY_SIMULATOR_MODEL")
    return Spender(
        "the simulated user",
        settings.judge_model,
        "AIFACTORY_JUDGE_MODEL (the simulator's default)",
    )


def reflector_spender(settings: Settings, model: str | None = None) -> Spender:
    """The reflector of a reflection (its own ``reflector_model`` or the server's)."""
    if model:
        return Spender("the reflector", model, "reflector_model")
    return Spender("the reflector", settings.reflector_model, "AIFACTORY_REFLECTOR_MODEL")


def is_judged(check_type: str) -> bool:
    """Whether a check of this type calls the judge."""
    try:
        resolved, _ = resolve_type(check_type)
    except CheckSpecError:
        return False
    return resolved.name in JUDGE_CHECK_TYPES


def case_is_judged(case: TestCase) -> bool:
    """Whether ``case`` has a model-graded check (its scripted turns' checks included)."""
    if any(is_judged(check.type) for check in case.checks):
        return True
    return any(is_judged(check.type) for turn in case.turns or () for check in turn.checks)


def uses_judge(cases: Iterable[TestCase]) -> bool:
    """Whether any of ``cases`` has a model-graded check (stops at the first)."""
    return any(case_is_judged(case) for case in cases)


def priced(spender: Spender, prices: PriceTable) -> bool:
    """Whether ``spender``'s model has a price."""
    return prices.price(spender.model) is not None


def require_prices(spenders: Iterable[Spender | None], prices: PriceTable, *, budget: str) -> None:
    """Refuse a budget that some of ``spenders`` could overspend unseen.

    Args:
        spenders: The models that would spend against the budget (None entries are skipped).
        prices: The price table in force (defaults and ``AIFACTORY_PRICES``).
        budget: How the budget was given (``budget_usd``, ``--budget-usd``, …), for the message.

    Raises:
        UnpricedBudget: a spender's model has no price; the message names each one.
    """
    missing = [s for s in spenders if s is not None and not priced(s, prices)]
    if missing:
        raise UnpricedBudget(missing, budget=budget)


def require_run_prices(
    settings: Settings,
    spec: AgentSpec,
    cases: Callable[[], Iterable[TestCase]],
    *,
    budget: str,
    reflector: Spender | None = None,
) -> None:
    """Refuse ``budget`` for a run of ``spec`` over ``cases`` unless every spender has a price.

    Args:
        settings: The judge model and ``AIFACTORY_PRICES``.
        spec: The agent under test.
        cases: Gives the run's cases; called only when the judge or the default simulated user
            has no price, to see whether a case would call one (so a large suite file is read
            again only then). A case that names its own simulator model is checked then.
        budget: How the budget was given, for the message.
        reflector: The reflector, for a reflection.

    Raises:
        UnpricedBudget: the agent's, the judge's (when used), a simulated user's or the
            reflector's model is unpriced.
    """
    prices = PriceTable.from_settings(settings)
    spenders = [agent_spender(spec), reflector]
    judge = judge_spender(settings)
    simulator = simulator_spender(settings)
    if not priced(judge, prices) or not priced(simulator, prices):
        judged = False
        models: dict[str | None, None] = {}
        for case in cases():
            judged = judged or case_is_judged(case)
            if case.simulated_user is not None:
                models[case.simulated_user.model] = None
        if judged:
            spenders.append(judge)
        spenders.extend(simulator_spender(settings, model) for model in models)
    require_prices(spenders, prices, budget=budget)
