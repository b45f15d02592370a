"""JUnit XML: one ``testcase`` per case, failures and errors with their reasons."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from aifactory.domain.models import RunSummary, TestResult
from aifactory.domain.stop_reasons import stop_reason_words
from aifactory.domain.turn_failures import failing_turn

_INVALID_XML = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x9, 0xA, 0xD)] + [0xFFFE, 0xFFFF], None
)


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (agent output is arbitrary text)."""
    return text.translate(_INVALID_XML)


def _attr(text: str) -> str:
    return quoteattr(_clean(text))


def _case_name(result: TestResult) -> str:
    name = result.test_case.name
    return f"{name} [repeat {result.repeat_index}]" if result.repeat_index else name


def _transcript_lines(result: TestResult) -> list[str]:
    """A conversation as text: each message with its turn, each reply's checks under it."""
    lines: list[str] = []
    for entry in result.transcript or ():
        who = {"user": "user", "assistant": "agent"}.get(entry.role, "--")
        turn = f"[turn {entry.turn}] " if entry.turn is not None else ""
        lines.append(f"{turn}{who}: {entry.content}")
        for call in entry.tool_calls:
            lines.append(f"    tool call: {call.name}")
        for check in entry.checks:
            lines.append(f"    [{check.status}] {check.type}: {check.reason}")
    return lines


def _conversation_line(result: TestResult) -> str:
    turns = result.turns or 0
    line = (
        f"conversation: {turns} agent repl{'y' if turns == 1 else 'ies'}, "
        f"ended: {stop_reason_words(result.stop_reason)}"
    )
    turn = failing_turn(result)
    if turn:
        line += "; failed: " + ("the whole conversation" if turn == "all" else f"turn {turn}")
    return line


def write_junit(
    out: IO[str], results: Iterable[TestResult], summary: RunSummary, *, suite_name: str
) -> None:
    """Write a JUnit XML document for the run to ``out``, streaming the results."""
    seconds = (summary.latency_ms.get("avg", 0.0) * summary.completed) / 1000
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<testsuites name={_attr(suite_name)} tests="{summary.completed}" '
        f'failures="{summary.failed}" errors="{summary.errored}" time="{seconds:.3f}">\n'
    )
    out.write(
        f'  <testsuite name={_attr(suite_name)} tests="{summary.completed}" '
        f'failures="{summary.failed}" errors="{summary.errored}" skipped="0" '
        f'time="{seconds:.3f}">\n'
    )
    for result in results:
        classname = ".".join(result.test_case.tags) or suite_name
        seconds_case = (result.latency_ms or 0.0) / 1000
        out.write(
            f"    <testcase name={_attr(_case_name(result))} classname={_attr(classname)} "
            f'time="{seconds_case:.3f}">'
        )
        if result.status != "passed":
            tag = "error" if result.status == "error" else "failure"
            message = result.error if result.status == "error" and result.error else result.feedback
            body_lines = [f"score: {result.score:.3f}"]
            if result.transcript is not None:
                body_lines.append(_conversation_line(result))
            for check in result.checks:
                body_lines.append(f"[{check.status}] {check.type}: {check.reason}")
            if result.transcript is not None:
                body_lines.append("transcript:")
                body_lines.extend(_transcript_lines(result))
            elif result.output is not None:
                body_lines.append("output:")
                body_lines.append(result.output)
            out.write(
                f"\n      <{tag} message={_attr(message or result.status)} "
                f"type={_attr(result.status)}>{escape(_clean(chr(10).join(body_lines)))}</{tag}>\n"
                "    "
            )
        elif result.transcript is not None:
            lines = [_conversation_line(result), *_transcript_lines(result)]
            out.write(
                f"\n      <system-out>{escape(_clean(chr(10).join(lines)))}</system-out>\n    "
            )
        out.write("</testcase>\n")
    out.write("  </testsuite>\n</testsuites>\n")
