"""Model prices and the cost of a call.

Prices are USD per million tokens, from the providers' published list prices (standard tier,
no batch or cache discounts). A dated model name (``claude-sonnet-4-5-20250929``,
``gpt-4o-mini-2024-07-18``) takes the price of its family; the longest matching name wins, and
only a date, ``-latest`` or a version tag may follow it, so ``claude-opus-4-6`` never borrows
the price of ``claude-opus-4``. A model that matches nothing has no price, and its cost is
``None`` (never a made-up zero). ``AIFACTORY_PRICES`` adds models or overrides these figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aifactory.errors import ConfigError

if TYPE_CHECKING:
    from aifactory.settings import Settings


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost in USD of that many tokens."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


DEFAULT_PRICES: Mapping[str, Price] = {
    # Anthropic (https://www.anthropic.com/pricing)
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4-0": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4-6": Price(3.0, 15.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-sonnet-4-0": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-3-5-haiku": Price(0.80, 4.0),
    "claude-3-opus": Price(15.0, 75.0),
    "claude-3-haiku": Price(0.25, 1.25),
    # OpenAI (https://openai.com/api/pricing)
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.0),
    "gpt-4o-2024-05-13": Price(5.0, 15.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.0, 60.0),
    "o3": Price(2.0, 8.0),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
}

# What may follow a family name: a date (20250929, 2024-07-18), "-latest", or "@date"/"-v1".
_SUFFIX = re.compile(r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|v\d+(?:[.:]\d+)*))?")


class PriceTable:
    """Looks up a model's price; built from :data:`DEFAULT_PRICES` and the settings."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices = {name.lower(): price for name, price in (prices or DEFAULT_PRICES).items()}
        # Longest names first, so "gpt-4o-mini" is tried before "gpt-4o".
        self._names = sorted(self._prices, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> PriceTable:
        """The default prices, extended and overridden by ``AIFACTORY_PRICES``."""
        return cls({**DEFAULT_PRICES, **parse_prices(settings.prices)})

    def price(self, model: str) -> Price | None:
        """The price of ``model`` (a dated name takes its family's price); None when unknown."""
        name = model.strip().lower()
        if ":" in name and name.split(":", 1)[0] in ("anthropic", "openai"):
            name = name.split(":", 1)[1]
        exact = self._prices.get(name)
        if exact is not None:
            return exact
        for family in self._names:
            if name.startswith(family) and _SUFFIX.fullmatch(name[len(family) :]):
                return self._prices[family]
        return None

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """The cost in USD of a call, or None when the model's price is unknown."""
        price = self.price(model)
        return None if price is None else price.cost(input_tokens, output_tokens)


def parse_prices(raw: Mapping[str, Mapping[str, float]]) -> dict[str, Price]:
    """Turn ``{"model": {"input": x, "output": y}}`` into prices; raise ConfigError if malformed."""
    prices: dict[str, Price] = {}
    for model, entry in raw.items():
        try:
            input_price = float(entry["input"])
            output_price = float(entry["output"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"AIFACTORY_PRICES entry for {model!r} must be "
                '{"input": USD per million tokens, "output": USD per million tokens}.'
            ) from exc
        if input_price < 0 or output_price < 0:
            raise ConfigError(f"AIFACTORY_PRICES entry for {model!r} has a negative price.")
        prices[model] = Price(input_price, output_price)
    return prices


def cost_of(
    prices: PriceTable, models: tuple[str, ...], input_tokens: int, output_tokens: int
) -> float | None:
    """The cost under the first of ``models`` with a known price (the answer's model name,
    then the requested one: a proxy may answer with a name of its own)."""
    for model in models:
        cost = prices.cost(model, input_tokens, output_tokens)
        if cost is not None:
            return cost
    return None
