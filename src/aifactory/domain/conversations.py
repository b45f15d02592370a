"""Conversations as data: a transcript as text, its size bound, and what a result says of it.

The records themselves (:class:`~aifactory.domain.models.Turn`,
:class:`~aifactory.domain.models.SimulatedUser`,
:class:`~aifactory.domain.models.TranscriptEntry`) live with the other records in
:mod:`aifactory.domain.models`; this module holds what is done with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aifactory.domain.models import (
    AgentReply,
    Message,
    SimulatedUser,
    TestCase,
    TestResult,
    ToolCall,
    TranscriptEntry,
    Usage,
)

TRANSCRIPT_LIMIT_BYTES = 256 * 1024
"""A stored transcript is cut to this size (its JSON), with a marker where it was cut."""
_ENTRY_SHARE = 8
"""A single message is first cut to this share of the limit, so one huge reply cannot push
out the rest of the conversation."""
_ENTRY_OVERHEAD = 256


def render(entries: Iterable[TranscriptEntry | Message]) -> str:
    """The transcript as text, one ``role: content`` paragraph per message.

    Text checks with ``scope: "conversation"`` read this, and judges are shown it.
    """
    return "\n\n".join(f"{entry.role}: {entry.content}" for entry in entries)


def replies(entries: Iterable[TranscriptEntry]) -> list[TranscriptEntry]:
    """The agent's replies of a transcript, in order."""
    return [entry for entry in entries if entry.role == "assistant"]


def as_reply(entry: TranscriptEntry) -> AgentReply:
    """An assistant entry as the :class:`AgentReply` it was."""
    return AgentReply(
        output=entry.content,
        tool_calls=list(entry.tool_calls),
        usage=entry.usage or Usage(),
        latency_ms=entry.latency_ms or 0.0,
    )


def whole(entries: Sequence[TranscriptEntry]) -> AgentReply:
    """The conversation seen as one reply: the transcript as text, every tool call in order,
    the summed latency and usage. Case checks with ``scope: "conversation"`` judge this."""
    calls: list[ToolCall] = []
    usage = Usage()
    latency = 0.0
    for entry in replies(entries):
        calls.extend(entry.tool_calls)
        if entry.usage is not None:
            usage = usage + entry.usage
        latency += entry.latency_ms or 0.0
    return AgentReply(output=render(entries), tool_calls=calls, usage=usage, latency_ms=latency)


def single_exchange(case: TestCase, reply: AgentReply) -> list[TranscriptEntry]:
    """A single-turn case and its reply as a transcript of one exchange."""
    entries = [
        TranscriptEntry(role=m.role, content=m.content, turn=1)
        for m in case.messages()
        if m.role != "system"
    ]
    entries.append(
        TranscriptEntry(
            role="assistant",
            content=reply.output,
            turn=1,
            tool_calls=list(reply.tool_calls),
            latency_ms=reply.latency_ms,
            usage=reply.usage,
        )
    )
    return entries


def _size(entry: TranscriptEntry) -> int:
    """The entry's JSON size, exact only when a cheap upper bound says it may matter."""
    return len(entry.model_dump_json())


def _cut_content(entry: TranscriptEntry, limit: int) -> TranscriptEntry:
    text = entry.content
    if len(text.encode("utf-8")) <= limit:
        return entry
    kept = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
    marker = f"\n[… {len(text) - len(kept)} characters cut]"
    return entry.model_copy(update={"content": kept + marker})


def bound(
    entries: Sequence[TranscriptEntry], limit: int = TRANSCRIPT_LIMIT_BYTES
) -> list[TranscriptEntry]:
    """``entries`` cut to at most about ``limit`` bytes of JSON, with a marker where cut.

    A message longer than an eighth of the limit is cut first, with ``[… N characters cut]`` at
    its end. If the transcript is still too long, the first message and as many of the last as
    fit are kept, and one ``system`` entry in between says how many were left out.
    """
    rough = sum(4 * len(e.content) + _ENTRY_OVERHEAD for e in entries)
    if rough <= limit:
        return list(entries)
    sizes = [_size(e) for e in entries]
    if sum(sizes) <= limit:
        return list(entries)
    shortened = [_cut_content(e, limit // _ENTRY_SHARE) for e in entries]
    sizes = [_size(e) for e in shortened]
    if sum(sizes) <= limit or len(shortened) < 2:
        return shortened
    marker_size = _ENTRY_OVERHEAD
    budget = limit - sizes[0] - marker_size
    tail: list[TranscriptEntry] = []
    for entry, size in zip(reversed(shortened[1:]), reversed(sizes[1:]), strict=True):
        if size > budget:
            break
        budget -= size
        tail.append(entry)
    tail.reverse()
    left_out = len(shortened) - 1 - len(tail)
    if left_out == 0:
        return shortened
    marker = TranscriptEntry(
        role="system",
        content=(
            f"[… {left_out} message{'s' if left_out != 1 else ''} cut here to keep the "
            f"transcript under {limit // 1024} KB]"
        ),
    )
    return [shortened[0], marker, *tail]


def failing_turns(result: TestResult) -> list[int]:
    """The turns whose reply failed (or errored on) one of that turn's checks."""
    turns: list[int] = []
    for entry in result.transcript or ():
        if entry.turn is not None and any(not c.passed for c in entry.checks):
            turns.append(entry.turn)
    return turns


@dataclass(frozen=True, slots=True)
class SimulatorTurn:
    """What the simulated user says next, or that it is done (and how it ended)."""

    message: str
    done: bool
    outcome: str | None = None
    """``"goal_reached"`` or ``"gave_up"`` when done."""
    usage: Usage = field(default_factory=Usage)


class UserSimulator(Protocol):
    """A model that plays the user (the ``simulator`` role, beside the judge and reflector).

    It is shown the persona, the goal and the transcript, never the checks.
    """

    async def next_turn(
        self, user: SimulatedUser, transcript: Sequence[TranscriptEntry]
    ) -> SimulatorTurn:
        """What the user says next; raise :class:`~aifactory.errors.SimulatorError` when the
        model cannot be reached or gives no usable answer after its retries."""
        ...


class SimulatorSource(Protocol):
    """Gives the simulator for a case's ``simulated_user.model`` (None: the default model)."""

    def simulator(self, model: str | None) -> UserSimulator:
        """The simulator; raise :class:`~aifactory.errors.SimulatorError` when the model's
        provider is not configured."""
        ...
