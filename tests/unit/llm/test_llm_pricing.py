"""Model prices: dated names, unknown models, and settings overrides."""

from __future__ import annotations

import pytest

from aifactory.errors import ConfigError
from aifactory.llm.pricing import DEFAULT_PRICES, Price, PriceTable
from aifactory.settings import load_settings


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-5", "claude-opus-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-mini", "gpt-5-mini"),
        ("o3-2025-04-16", "o3"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("openai:gpt-4o", "gpt-4o"),
    ],
)
def test_dated_names_take_their_family_price(model: str, family: str) -> None:
    assert PriceTable().price(model) == DEFAULT_PRICES[family]


def test_published_figures() -> None:
    table = PriceTable()
    assert table.price("claude-opus-4-1") == Price(15.0, 75.0)
    assert table.price("claude-opus-4-5") == Price(5.0, 25.0)
    assert table.price("claude-sonnet-4") == Price(3.0, 15.0)
    assert table.price("claude-haiku-4-5") == Price(1.0, 5.0)
    assert table.price("gpt-4o") == Price(2.5, 10.0)
    assert table.price("gpt-4o-2024-05-13") == Price(5.0, 15.0)  # the launch price
    assert table.price("gpt-5") == Price(1.25, 10.0)


@pytest.mark.parametrize("model", ["claude-opus-4-9", "gpt-5.9", "llama3:8b", "mystery", ""])
def test_unknown_models_have_no_price(model: str) -> None:
    table = PriceTable()
    assert table.price(model) is None
    assert table.cost(model, 1000, 1000) is None


def test_cost_is_per_million_tokens() -> None:
    assert PriceTable().cost("claude-sonnet-4-5", 2_000, 1_000) == pytest.approx(0.006 + 0.015)
    assert PriceTable().cost("gpt-4o-mini", 0, 0) == 0.0


def test_settings_add_and_override_prices() -> None:
    settings = load_settings(
        {
            "AIFACTORY_PRICES": '{"llama3": {"input": 0.1, "output": 0.2},'
            ' "gpt-4o": {"input": 1, "output": 4}}'
        }
    )
    table = PriceTable.from_settings(settings)
    assert table.price("llama3") == Price(0.1, 0.2)
    assert table.price("gpt-4o-2024-11-20") == Price(1.0, 4.0)  # overridden family
    assert table.price("gpt-4o-mini") == DEFAULT_PRICES["gpt-4o-mini"]  # untouched
    assert table.cost("llama3", 10_000_000, 0) == pytest.approx(1.0)


def test_malformed_price_settings_are_a_config_error() -> None:
    settings = load_settings({"AIFACTORY_PRICES": '{"m": {"in": 1}}'})
    with pytest.raises(ConfigError, match="AIFACTORY_PRICES entry for 'm'"):
        PriceTable.from_settings(settings)
