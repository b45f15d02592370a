"""CSV: one row per result, safe to open in a spreadsheet.

Agent output is untrusted: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return would run as a formula in Excel, LibreOffice or Google Sheets (CSV injection), so such
cells get a leading single quote, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any

from aifactory.domain.models import TestResult

COLUMNS = (
    "case_index",
    "repeat_index",
    "name",
    "tags",
    "status",
    "passed",
    "score",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "judge_cost_usd",
    "feedback",
    "error",
    "output",
    "checks",
    "agent_id",
    "agent_version",
    "result_id",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A cell's text, defused when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        # Negative numbers are data, not formulas: keep them numeric.
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _row(result: TestResult) -> list[str]:
    case = result.test_case
    checks = json.dumps(
        [
            {"type": c.type, "status": c.status, "score": c.score, "reason": c.reason}
            for c in result.checks
        ],
        ensure_ascii=False,
    )
    values: list[Any] = [
        result.case_index,
        result.repeat_index,
        case.name,
        ",".join(case.tags),
        result.status,
        result.passed,
        result.score,
        result.latency_ms,
        result.usage.input_tokens,
        result.usage.output_tokens,
        result.usage.cost_usd,
        result.judge_usage.cost_usd,
        result.feedback,
        result.error,
        result.output,
        checks,
        result.agent_id,
        result.agent_version,
        result.id,
    ]
    return [safe_cell(v) for v in values]


def write_csv(out: IO[str], results: Iterable[TestResult], *, header: bool = True) -> None:
    """Write a header (unless ``header`` is False: a later chunk) and one row per result."""
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for result in results:
        writer.writerow(_row(result))
