"""The suite's own formats: YAML or JSON documents, and JSONL (one case a line)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from aifactory.domain.models import TestCase
from aifactory.domain.suites.cases import (
    apply_defaults,
    case_label,
    finish_suite,
    make_case,
    validate_specs,
    validation_error,
)
from aifactory.domain.suites.model import MAX_CASES, Suite, SuiteDefaults
from aifactory.domain.suites.reading import Context, load_json
from aifactory.errors import SuiteError

_SUITE_KEYS = ("name", "description", "defaults", "test_cases")


def native_suite(doc: Any, stem: str, ctx: Context) -> Suite:
    """A suite from a parsed YAML/JSON document (a mapping or a list of cases)."""
    if doc is None:
        raise ctx.error("The file is empty; write a suite with a 'test_cases' list.")
    if isinstance(doc, list):
        doc = {"test_cases": doc}
    if not isinstance(doc, dict):
        raise ctx.error("A suite is a mapping with a 'test_cases' list, or a list of test cases.")
    for key in doc:
        if key not in _SUITE_KEYS:
            raise ctx.error(
                f"This is not a suite field; the fields are {', '.join(_SUITE_KEYS)}.", at=str(key)
            )
    name, description = doc.get("name", stem), doc.get("description")
    if not isinstance(name, str) or not name.strip():
        raise ctx.error("The suite's name must be a non-empty string.", at="name")
    if description is not None and not isinstance(description, str):
        raise ctx.error("The suite's description must be a string.", at="description")
    raw_defaults = doc.get("defaults") or {}
    try:
        defaults = SuiteDefaults.model_validate(raw_defaults)
    except ValidationError as exc:
        raise validation_error(
            exc, raw_defaults, ctx, case=None, prefix="defaults", what="the defaults"
        ) from exc
    validate_specs(defaults.checks, ctx, case=None, prefix="defaults.checks")
    raw_cases = doc.get("test_cases")
    if not isinstance(raw_cases, list):
        raise ctx.error("The suite needs a 'test_cases' list.", at="test_cases")
    if len(raw_cases) > MAX_CASES:
        raise ctx.error(f"The file has more than {MAX_CASES} cases; split it up.")
    cases = []
    for index, raw in enumerate(raw_cases):
        prefix = f"test_cases[{index}]"
        if not isinstance(raw, dict):
            raise ctx.error(
                "A test case must be a mapping with at least an 'input'.", case=prefix, at=prefix
            )
        if "name" not in raw:
            raw = {"name": f"test {index + 1}", **raw}
        case = make_case(raw, ctx, label=case_label(raw, prefix), prefix=prefix)
        cases.append(apply_defaults(case, defaults))
    return finish_suite(name, description, defaults, cases, ctx)


def jsonl_cases(lines: Iterable[tuple[int, str]], ctx: Context) -> Iterator[TestCase]:
    """Yield one case per non-blank ``(line number, text)``; errors name the line."""
    for number, line in lines:
        if not line.strip():
            continue
        where = f"Line {number}"
        raw = load_json(line, ctx, where=where)
        if not isinstance(raw, dict):
            raise ctx.error(
                f"{where} must hold one test case, a JSON object.", case=f"line {number}"
            )
        if "name" not in raw:
            raw = {"name": f"line {number}", **raw}
        label = case_label(raw, f"line {number}")
        try:
            yield make_case(raw, ctx, label=label, prefix="")
        except SuiteError as exc:
            raise ctx.error(f"{exc.detail} (line {number})", case=exc.case, at=exc.field) from exc
