"""CSV suites: one case a row, with ``check:TYPE`` columns (the table is in the package doc)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from aifactory.domain.checks import build_check
from aifactory.domain.models import CheckSpec, TestCase
from aifactory.domain.suites.cases import dotted_path, validation_error
from aifactory.domain.suites.reading import Context
from aifactory.errors import CheckSpecError

_CSV_FIXED = ("name", "input", "expected", "tags", "threshold")
_CSV_MAIN = {
    **dict.fromkeys(
        (
            "equals",
            "contains",
            "icontains",
            "not_contains",
            "starts_with",
            "ends_with",
            "similarity",
            "semantic_similarity",
            "factuality",
        ),
        "value",
    ),
    "regex": "pattern",
    "contains_any": "values",
    "contains_all": "values",
    "llm_rubric": "rubric",
    "latency": "max_ms",
    "cost": "max_usd",
    "json_schema": "schema",
    "json_path": "path",
    "json_valid": "contains",
    "length": "min..max",
    "tool_called": "name",
}
_YES = {"yes", "true", "1", "x", "y"}


def csv_cases(lines: Iterable[str], ctx: Context) -> Iterator[TestCase]:
    """Yield the cases of CSV text, one per non-blank row."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None:
            raise ctx.error("The CSV file is empty; it needs a header row with at least 'input'.")
        columns = _csv_columns(header, ctx)
        for number, row in enumerate(reader, 1):
            if any(cell.strip() for cell in row):
                yield _csv_case(row, number, columns, ctx)
    except csv.Error as exc:
        raise ctx.error(f"The CSV cannot be read near line {reader.line_num}: {exc}.") from exc


def _csv_columns(header: list[str], ctx: Context) -> list[str]:
    columns = []
    for raw in header:
        column = raw.strip().lower()
        if column.startswith("check:"):
            column = "check:" + column[6:].strip()
            if column == "check:":
                raise ctx.error("A 'check:' column needs a type, e.g. 'check:contains'.", at=raw)
        elif column not in _CSV_FIXED:
            raise ctx.error(
                f"This column is not known; use {', '.join(_CSV_FIXED)} or check:TYPE.",
                at=raw or "(empty header)",
            )
        elif column in columns:
            raise ctx.error("This column appears twice; keep one.", at=raw)
        columns.append(column)
    if "input" not in columns:
        raise ctx.error("The CSV header needs an 'input' column.")
    return columns


def _csv_case(row: list[str], number: int, columns: list[str], ctx: Context) -> TestCase:
    if len(row) > len(columns):
        raise ctx.error(
            f"Row {number} has {len(row)} cells but the header has {len(columns)} "
            "columns; quote cells that contain commas.",
            case=f"row {number}",
        )
    cells = dict.fromkeys(_CSV_FIXED, "")
    checks: list[tuple[str, CheckSpec]] = []
    label = f"row {number}"
    for column, cell in zip(columns, row, strict=False):
        if column == "name" and cell.strip():
            label = cell.strip()
        if not column.startswith("check:"):
            cells[column] = cell
    for column, cell in zip(columns, row, strict=False):
        if column.startswith("check:") and cell.strip():
            try:
                checks.append((column, _csv_check(column[6:], cell.strip())))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = dotted_path(problem["loc"]) or "the check"
                raise ctx.error(
                    f"Row {number}: {where}: {problem['msg']}; fix the cell.", case=label, at=column
                ) from exc
            except ValueError as exc:
                raise ctx.error(f"Row {number}: {exc}", case=label, at=column) from exc
    if not cells["input"].strip():
        raise ctx.error(
            f"Row {number} has an empty input; every row needs one.", case=label, at="input"
        )
    raw: dict[str, Any] = {"name": label, "input": cells["input"]}
    if cells["expected"]:
        raw["expected"] = cells["expected"]
    if cells["tags"].strip():
        raw["tags"] = [t.strip() for t in re.split(r"[,|]", cells["tags"]) if t.strip()]
    if cells["threshold"].strip():
        raw["threshold"] = cells["threshold"].strip()
    raw["checks"] = [spec for _, spec in checks]
    try:
        case = TestCase.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, raw, ctx, case=label, prefix="", what="a test case") from exc
    if ctx.validate_checks:
        for column, spec in checks:
            try:
                build_check(spec, allow_python=ctx.allow_python)
            except CheckSpecError as exc:
                raise ctx.error(f"Row {number}: {exc}", case=label, at=column) from exc
    return case


def _csv_check(check_type: str, cell: str) -> CheckSpec:
    base = (
        check_type[4:]
        if check_type not in _CSV_MAIN and check_type.startswith("not_")
        else (check_type)
    )
    main = _CSV_MAIN.get(base)
    params: dict[str, Any]
    if main is None:
        params = {"value": cell}
        if cell.startswith("{"):
            parsed = _json_cell(cell, "the parameters")
            if not isinstance(parsed, dict):
                raise ValueError("the cell must be a JSON object of parameters.")
            params = parsed
    elif main == "values":
        values = (
            _json_cell(cell, "the list")
            if cell.startswith("[")
            else [v.strip() for v in cell.split("|") if v.strip()]
        )
        if not isinstance(values, list):
            raise ValueError("the cell must be 'a|b|c' or a JSON list.")
        params = {"values": values}
    elif main in ("max_ms", "max_usd"):
        params = {main: _number(cell)}
    elif main == "schema":
        params = {"schema": _json_cell(cell, "the schema")}
    elif main == "path":
        params = {"path": cell, "exists": True}
    elif main == "contains":
        if cell.lower() == "contains":
            params = {"contains": True}
        elif cell.lower() in _YES:
            params = {}
        else:
            raise ValueError(
                "a json_valid cell is 'contains', or yes/true/1/x for the whole output."
            )
    elif main == "min..max":
        params = _length_cell(cell)
    else:
        params = {main: cell}
    return CheckSpec.model_validate({**params, "type": check_type})


def _json_cell(cell: str, what: str) -> Any:
    try:
        return json.loads(cell)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not valid JSON ({exc}).") from exc


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{cell!r} is not a number; write a number such as 1500.") from None


def _length_cell(cell: str) -> dict[str, Any]:
    low, sep, high = cell.partition("..")
    try:
        if not sep:
            return {"max": int(cell)}
        bounds = {
            "min": int(low) if low.strip() else None,
            "max": int(high) if high.strip() else None,
        }
    except ValueError:
        raise ValueError(
            f"{cell!r} is not a length; write MIN..MAX, MIN.., ..MAX or MAX."
        ) from None
    return {k: v for k, v in bounds.items() if v is not None}
