"""Turning raw mappings into test cases, with errors that name the case and the field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from aifactory.domain.checks import build_check
from aifactory.domain.models import CheckSpec, TestCase
from aifactory.domain.suites.model import MAX_CASES, Suite, SuiteDefaults
from aifactory.domain.suites.reading import Context
from aifactory.errors import CheckSpecError, SuiteError


def dotted_path(parts: Iterable[str | int]) -> str:
    """``('a', 0, 'b')`` as ``a[0].b``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def join_path(prefix: str, rest: str) -> str:
    """``prefix`` and ``rest`` joined as one field path."""
    if not rest:
        return prefix
    if not prefix:
        return rest
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"


def _loc_path(raw: Any, loc: tuple[str | int, ...]) -> str:
    # Pydantic puts union members ("str", "list[Message]") in locations; keep only real keys.
    parts: list[str | int] = []
    current = raw
    for item in loc:
        if isinstance(current, dict):
            parts.append(item)
            current = current.get(item)
        elif isinstance(current, list) and isinstance(item, int):
            parts.append(item)
            current = current[item] if 0 <= item < len(current) else None
        elif current is None:
            parts.append(item)
    return dotted_path(parts)


def validation_error(
    exc: ValidationError, raw: Any, ctx: Context, *, case: str | None, prefix: str, what: str
) -> SuiteError:
    # A misspelt field also shows up as a missing one; name the misspelling. Otherwise the
    # deepest location says the most (for `input`, the message, not "not a string").
    """A pydantic error on ``raw`` as a SuiteError naming the field under ``prefix``."""
    errors = exc.errors()
    first = max(errors, key=lambda e: (e["type"] == "extra_forbidden", len(e["loc"])))
    at = join_path(prefix, _loc_path(raw, first["loc"]))
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"This is not a field of {what}; remove it or fix its spelling."
    elif kind == "missing":
        message = f"This field is required in {what}; add it."
    else:
        message = f"Invalid value: {first['msg']}; fix it."
    return ctx.error(message, case=case, at=at)


def validate_specs(
    checks: Iterable[CheckSpec], ctx: Context, *, case: str | None, prefix: str
) -> None:
    """Build every check of a list; a bad one names ``prefix[i]`` and its parameter."""
    for index, spec in enumerate(checks):
        validate_spec(spec, ctx, case=case, at=f"{prefix}[{index}]")


def validate_spec(
    spec: CheckSpec,
    ctx: Context,
    *,
    case: str | None,
    at: str,
    rename: dict[str, str] | None = None,
) -> None:
    """Build ``spec`` with the registry; a bad check names the field at ``at``."""
    if not ctx.validate_checks:
        return
    try:
        key: str | None = spec.model_dump_json()
    except PydanticSerializationError:  # a parameter only Python can hold: built every time
        key = None
    if key is not None and key in ctx.built:
        return
    try:
        build_check(spec, allow_python=ctx.allow_python)
    except CheckSpecError as exc:
        param = exc.field.split(".")[0] if exc.field else ""
        if rename is not None:
            param = rename.get(param, param)
        raise ctx.error(f"{exc}", case=case, at=join_path(at, param)) from exc
    if key is not None:
        ctx.built.add(key)


def case_label(raw: Any, fallback: str) -> str:
    """How errors name a raw case: its name, else ``fallback``."""
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else fallback


def make_case(raw: dict[str, Any], ctx: Context, *, label: str, prefix: str) -> TestCase:
    """Validate ``raw`` as a TestCase and build its checks; errors name the field."""
    try:
        case = TestCase.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(
            exc, raw, ctx, case=label, prefix=prefix, what="a test case"
        ) from exc
    validate_specs(case.checks, ctx, case=label, prefix=join_path(prefix, "checks"))
    for index, turn in enumerate(case.turns or ()):
        validate_specs(
            turn.checks, ctx, case=label, prefix=join_path(prefix, f"turns[{index}].checks")
        )
    return case


def apply_defaults(case: TestCase, defaults: SuiteDefaults) -> TestCase:
    """``case`` with the suite's defaults merged under its own values."""
    if defaults == SuiteDefaults():
        return case
    return case.model_copy(
        update={
            "checks": [*case.checks, *defaults.checks],
            "threshold": case.threshold if case.threshold is not None else defaults.threshold,
            "tags": [*case.tags, *(t for t in defaults.tags if t not in case.tags)],
            "vars": {**defaults.vars, **case.vars},
        }
    )


def collect_cases(cases: Iterable[TestCase], ctx: Context) -> list[TestCase]:
    """The cases as a list, refusing a file with more than MAX_CASES."""
    out: list[TestCase] = []
    for case in cases:
        out.append(case)
        if len(out) > MAX_CASES:
            raise ctx.error(f"The file has more than {MAX_CASES} cases; split it up.")
    return out


def finish_suite(
    name: str, description: str | None, defaults: SuiteDefaults, cases: list[TestCase], ctx: Context
) -> Suite:
    """The Suite, refusing an empty one and warning about duplicate names."""
    if not cases:
        raise ctx.error("The file has no test cases; add at least one.")
    counts = Counter(c.name for c in cases)
    duplicates = sorted(n for n, count in counts.items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(n) for n in duplicates[:5])
        ctx.warn(
            f"Several cases share a name ({shown}); results and comparisons tell them "
            "apart only by position."
        )
    return Suite(
        name=name,
        description=description,
        defaults=defaults,
        test_cases=cases,
        warnings=ctx.warnings,
    )
