"""Checks that score how close the output is to a reference: by characters or by meaning."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from aifactory.domain.checks.base import Check, CheckContext, Outcome, check
from aifactory.domain.checks.embeddings import default_embedder
from aifactory.domain.checks.text import Text
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import CheckError

Threshold = Annotated[float, Field(ge=0, le=1)]


def _reference(name: str, value: str | None, case: TestCase) -> str:
    reference = value if value is not None else case.expected
    if reference is None:
        raise CheckError(
            f"Check {name!r} has nothing to compare with: give it a 'value' or give the case "
            "an 'expected' answer."
        )
    return reference


def _scored(kind: str, score: float, threshold: float) -> Outcome:
    passed = score >= threshold
    relation = "reaches" if passed else "is below"
    return Outcome(
        score=score,
        passed=passed,
        reason=f"{kind} {score:.2f} {relation} the threshold {threshold:g}",
        details={"similarity": score, "threshold": threshold},
    )


@check("similarity")
def similarity(value: Text | None = None, threshold: Threshold = 0.8) -> Check:
    """String similarity to ``value`` (default: the case's ``expected``) reaches ``threshold``.

    The score is rapidfuzz's normalised Indel similarity, ``fuzz.ratio / 100``: 1 for equal
    texts, 0 for texts with no character in common. Surrounding whitespace is ignored.
    """
    from rapidfuzz import fuzz  # imported by the first similarity check, not the registry

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        reference = _reference("similarity", value, case)
        score = fuzz.ratio(reply.output.strip(), reference.strip()) / 100.0
        return _scored("similarity", score, threshold)

    return run


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@check("semantic_similarity", io_bound=True)
def semantic_similarity(value: Text | None = None, threshold: Threshold = 0.8) -> Check:
    """Meaning similarity to ``value`` (default: ``expected``) reaches ``threshold``.

    The score is the cosine similarity of the two texts' embeddings, clipped to [0, 1]. It
    uses the context's embedder, or the local all-MiniLM-L6-v2 model of the ``embeddings``
    extra.
    """

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        reference = _reference("semantic_similarity", value, case)
        embedder = ctx.embedder if ctx.embedder is not None else default_embedder()
        vectors = await embedder.embed([reply.output, reference])
        if len(vectors) != 2:
            raise CheckError(
                f"The embedder returned {len(vectors)} vectors for 2 texts; check the embedder."
            )
        score = min(1.0, max(0.0, cosine(vectors[0], vectors[1])))
        return _scored("semantic similarity", score, threshold)

    return run
