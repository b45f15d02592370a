"""A fake agent and reflector for reflection tests, answering through :class:`FakeLLMServer`.

The agent is an ``llm`` agent whose answers depend on its system prompt: it knows an item's code
only for ``easy`` questions, for every question once its prompt says :data:`HINT`, and for the
items its prompt lists by heart (a prompt that memorised the train cases). The reflector answers
the forced ``proposal`` tool with what a :data:`Proposer` makes of the prompt it was shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fakes.fake_llm import Behaviour, Hang, Reply, last_user_text, system_prompt

BASE_PROMPT = "You answer questions about item codes."
HINT = "Always cite the item code."
MODEL = "claude-haiku-4-5"
CASES = 40
EASY = 10

Proposer = Callable[[str], list[dict[str, str]]]


def is_reflector(body: dict[str, Any]) -> bool:
    return (body.get("tool_choice") or {}).get("name") == "proposal"


def agent_answer(body: dict[str, Any]) -> str:
    question, system = last_user_text(body), system_prompt(body)
    item = re.search(r"item (\d+)", question)
    assert item is not None, question
    code = f"CODE-{item.group(1)}"
    knows = "(easy)" in question or HINT in system or f"item {item.group(1)} -> {code}" in system
    return f"The code is {code}." if knows else "I don't know."


class Script:
    """The fake server's responder: the agent's answers, and the reflector's proposals."""

    def __init__(self, proposer: Proposer, *, tokens: int | None = None) -> None:
        self.proposer = proposer
        self.tokens = tokens
        self.reflector_prompts: list[str] = []
        self.agent_hangs = False
        self.reflector_garbage = False

    def __call__(self, body: dict[str, Any]) -> Behaviour | str:
        if is_reflector(body):
            prompt = last_user_text(body)
            self.reflector_prompts.append(prompt)
            if self.reflector_garbage:
                return Reply(text="I would rather talk about the weather.")
            return Reply(
                structured={"candidates": self.proposer(prompt)},
                input_tokens=self.tokens,
                output_tokens=0 if self.tokens else None,
            )
        if self.agent_hangs:
            return Hang(3600)  # an hour: anything that ends these calls sooner stopped them
        return Reply(
            text=agent_answer(body),
            input_tokens=self.tokens,
            output_tokens=0 if self.tokens else None,
        )


def improving(_: str) -> list[dict[str, str]]:
    return [
        {
            "rationale": "It never cites codes; tell it to.",
            "system_prompt": f"{BASE_PROMPT}\n{HINT}",
        },
        {"rationale": "Politeness helps.", "system_prompt": f"{BASE_PROMPT}\nBe polite."},
    ]


def memorising(prompt: str) -> list[dict[str, str]]:
    """A prompt that lists the answers of every case the reflector was shown (overfitting)."""
    items = sorted(set(re.findall(r"code for item (\d+)", prompt)), key=int)
    answers = "\n".join(f"item {i} -> CODE-{i}" for i in items)
    return [
        {"rationale": "Learn the failing answers.", "system_prompt": f"{BASE_PROMPT}\n{answers}"}
    ]


def question(i: int) -> str:
    tag = "easy" if i < EASY else "hard"
    return f"What is the code for item {i}? ({tag})"


def agent_spec(*, max_concurrency: int = 16) -> dict[str, Any]:
    """The ``coder`` agent: the fake model behind :data:`BASE_PROMPT`."""
    return {
        "id": "coder",
        "kind": "llm",
        "config": {"provider": "anthropic", "model": MODEL, "system_prompt": BASE_PROMPT},
        "max_concurrency": max_concurrency,
        "rate_limit_per_minute": 1_000_000,
    }


def suite_spec() -> dict[str, Any]:
    """The ``codes`` suite: :data:`CASES` questions, the first :data:`EASY` tagged ``easy``."""
    return {
        "id": "codes",
        "name": "codes",
        "test_cases": [
            {
                "name": f"item {i}",
                "input": question(i),
                "checks": [{"type": "contains", "value": f"CODE-{i}"}],
                "tags": ["easy" if i < EASY else "hard"],
            }
            for i in range(CASES)
        ],
    }
