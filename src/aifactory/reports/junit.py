"""JUnit XML: one ``testcase`` per case, failures and errors with their reasons."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from aifactory.domain.models import RunSummary, TestResult

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
            for check in result.checks:
                body_lines.append(f"[{check.status}] {check.type}: {check.reason}")
            if result.output is not None:
                body_lines.append("output:")
                body_lines.append(result.output)
            out.write(
                f"\n      <{tag} message={_attr(message or result.status)} "
                f"type={_attr(result.status)}>{escape(_clean(chr(10).join(body_lines)))}</{tag}>\n"
                "    "
            )
        out.write("</testcase>\n")
    out.write("  </testsuite>\n</testsuites>\n")
