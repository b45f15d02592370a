"""Similarity checks: rapidfuzz string similarity and embedding (semantic) similarity."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.checks import CheckContext, build_check, embeddings, run_check
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckSpecError

EXPECTED = "Refunds are possible within 30 days."
CASE = TestCase(name="refund window", input="Refund after 40 days?", expected=EXPECTED)
NO_EXPECTED = TestCase(name="open question", input="Tell me a joke")


class TableEmbedder:
    """An embedder that looks vectors up in a table, and counts its calls."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.calls: list[list[str]] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(texts)
        return [self.table[t] for t in texts]


async def check(
    spec: dict[str, Any], output: str, *, case: TestCase = CASE, **ctx: Any
) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_check(built, AgentReply(output=output), case, CheckContext(**ctx))


async def test_similarity_compares_with_expected_by_default() -> None:
    same = await check({"type": "similarity"}, EXPECTED + "\n")
    close = await check({"type": "similarity"}, "Refunds are possible within 30 day.")
    far = await check({"type": "similarity"}, "Sorry, I cannot help with that.")

    assert (same.passed, same.score) == (True, 1.0)
    assert close.passed
    assert 0.8 <= close.score < 1.0
    assert not far.passed
    assert far.reason.startswith(f"similarity {far.score:.2f} is below the threshold 0.8")


async def test_similarity_value_and_threshold_override_the_defaults() -> None:
    spec = {"type": "similarity", "value": "thirty days", "threshold": 0.5}

    result = await check(spec, "thirty-day window")

    assert result.details is not None
    assert result.details["threshold"] == 0.5
    assert result.passed is (result.score >= 0.5)
    assert result.score == pytest.approx(0.642857, abs=1e-4)  # rapidfuzz ratio 64.29


async def test_similarity_without_a_reference_is_an_error() -> None:
    result = await check({"type": "similarity"}, "anything", case=NO_EXPECTED)

    assert result.status == "error"
    assert "'value'" in result.reason
    assert "'expected'" in result.reason


async def test_negated_similarity_passes_for_different_text() -> None:
    assert (await check({"type": "not_similarity"}, "Completely unrelated words")).passed
    assert not (await check({"type": "similarity", "negate": True}, EXPECTED)).passed


@given(output=st.text(max_size=30), reference=st.text(max_size=30))
async def test_similarity_score_is_in_unit_interval(output: str, reference: str) -> None:
    result = await check({"type": "similarity", "value": reference}, output)

    assert 0.0 <= result.score <= 1.0
    assert result.passed is (result.score >= 0.8)


@given(text=st.text(min_size=1, max_size=30))
async def test_similarity_of_a_text_with_itself_is_one(text: str) -> None:
    assert (await check({"type": "similarity", "value": text}, text)).score == 1.0


async def test_semantic_similarity_uses_the_context_embedder() -> None:
    embedder = TableEmbedder(
        {EXPECTED: [1.0, 0.0], "You have a month.": [0.9, 0.1], "Hello": [0.0, 1.0]}
    )

    close = await check({"type": "semantic_similarity"}, "You have a month.", embedder=embedder)
    far = await check({"type": "semantic_similarity"}, "Hello", embedder=embedder)

    assert close.passed
    assert close.score == pytest.approx(0.9 / (0.81 + 0.01) ** 0.5)
    assert not far.passed
    assert far.score == 0.0
    assert embedder.calls[0] == ["You have a month.", EXPECTED]


async def test_semantic_similarity_clips_opposite_meanings_to_zero() -> None:
    embedder = TableEmbedder({"yes": [1.0, 0.0], "no": [-1.0, 0.0]})

    result = await check(
        {"type": "semantic_similarity", "value": "no", "threshold": 0.1}, "yes", embedder=embedder
    )

    assert (result.score, result.passed) == (0.0, False)


async def test_semantic_similarity_without_a_reference_is_an_error() -> None:
    embedder = TableEmbedder({})

    result = await check(
        {"type": "semantic_similarity"}, "anything", case=NO_EXPECTED, embedder=embedder
    )

    assert result.status == "error"
    assert embedder.calls == []


async def test_an_embedder_returning_the_wrong_number_of_vectors_is_an_error() -> None:
    class Broken:
        async def embed(self, texts: list[str]) -> list[list[float]]:
            return [[1.0]]

    result = await check({"type": "semantic_similarity"}, "x", embedder=Broken())

    assert result.status == "error"
    assert "1 vectors for 2 texts" in result.reason


async def test_semantic_similarity_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setattr(embeddings, "_DEFAULT", None)

    result = await check({"type": "semantic_similarity"}, "Refunds within a month.")

    assert result.status == "error"
    # Installed from the clone: no package index serves ai-factory-testing.
    assert "pip install -c requirements/lock.txt -e '.[embeddings]'" in result.reason
    assert "clone" in result.reason


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "similarity", "threshold": 1.5}, "threshold"),
        ({"type": "similarity", "threshold": "high"}, "threshold"),
        ({"type": "semantic_similarity", "threshold": -0.1}, "threshold"),
        ({"type": "semantic_similarity", "value": {"text": "x"}}, "value"),
    ],
)
def test_invalid_similarity_specs_are_refused(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(CheckSpecError) as caught:
        build_check(CheckSpec.model_validate(spec))

    assert caught.value.field == field
