"""What the run page shows of a run's conversations: how many passed, how they ended, the pass
rate of each scripted turn, and the turns simulated users took to their goal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aifactory.domain.stop_reasons import stop_reason_words
from aifactory.web.charts import IntervalBar, interval_bar


@dataclass(frozen=True, slots=True)
class TurnRow:
    """How often the replies to one scripted turn passed that turn's checks."""

    turn: str
    passed: int
    total: int
    pass_rate: float | None
    ci: Mapping[str, Any] | None
    bar: IntervalBar | None


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A run's conversation figures."""

    total: int
    passed: int
    pass_rate: float | None
    pass_rate_ci: Mapping[str, Any] | None
    mean_turns: float | None
    stop_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    """``(reason, in words, count)``."""
    turns: list[TurnRow] = field(default_factory=list)
    simulated: int = 0
    goal_reached: int = 0
    mean_turns_to_goal: float | None = None
    turns_to_goal_ci: Mapping[str, Any] | None = None


def conversation_view(summary: Mapping[str, Any]) -> ConversationView | None:
    """The conversation figures of a stored run summary; None when the run had none."""
    figures = summary.get("conversations")
    if not isinstance(figures, Mapping) or not figures.get("total"):
        return None
    turns = []
    for turn, row in (figures.get("by_turn") or {}).items():
        ci = row.get("pass_rate_ci") or {}
        rate = row.get("pass_rate")
        turns.append(
            TurnRow(
                turn=str(turn),
                passed=int(row.get("passed", 0)),
                total=int(row.get("total", 0)),
                pass_rate=rate,
                ci=ci or None,
                bar=interval_bar(
                    rate,
                    ci.get("low"),
                    ci.get("high"),
                    title=f"turn {turn}: {row.get('passed', 0)} of {row.get('total', 0)} passed",
                ),
            )
        )
    turns.sort(key=lambda row: int(row.turn) if row.turn.isdigit() else 0)
    return ConversationView(
        total=int(figures.get("total", 0)),
        passed=int(figures.get("passed", 0)),
        pass_rate=figures.get("pass_rate"),
        pass_rate_ci=figures.get("pass_rate_ci"),
        mean_turns=figures.get("mean_turns"),
        stop_reasons=[
            (reason, stop_reason_words(reason), int(count))
            for reason, count in (figures.get("stop_reasons") or {}).items()
        ],
        turns=turns,
        simulated=int(figures.get("simulated", 0)),
        goal_reached=int(figures.get("goal_reached", 0)),
        mean_turns_to_goal=figures.get("mean_turns_to_goal"),
        turns_to_goal_ci=figures.get("turns_to_goal_ci"),
    )
