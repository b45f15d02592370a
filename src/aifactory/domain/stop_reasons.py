"""Why a conversation ended, in the words the dashboard and the reports show."""

from __future__ import annotations

STOP_REASON_WORDS = {
    "completed": "scripted turns done",
    "goal_reached": "goal reached",
    "gave_up": "user gave up",
    "max_turns": "turn limit reached",
    "agent_error": "agent error",
}
"""Each :data:`~aifactory.domain.models.StopReason` as people read it."""


def stop_reason_words(reason: str | None) -> str:
    """A conversation's stop reason in words (``goal_reached`` → ``goal reached``); a
    conversation cut short by an error of its own (no stop reason) "stopped early"."""
    if not reason:
        return "stopped early"
    return STOP_REASON_WORDS.get(reason, reason.replace("_", " "))
