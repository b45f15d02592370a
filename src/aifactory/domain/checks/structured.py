"""Checks on JSON output: well-formed, valid against a schema, a value at a path.

Schemas and paths are compiled when the check is built, so a schema or a path that cannot be
valid is refused with the suite (a 422 over the API), not found out on every case.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import TYPE_CHECKING, Any, NoReturn

from aifactory.domain.checks.base import Check, CheckContext, Outcome, check
from aifactory.domain.models import AgentReply, TestCase
from aifactory.errors import CheckError, CheckSpecError

if TYPE_CHECKING:
    import referencing

# jsonschema (with referencing) and jsonpath-ng are imported by the first check that needs them:
# together they are a tenth of a second of every process that builds the check registry.

_DECODER = json.JSONDecoder()
# Scanning a long output for embedded JSON may take a while; past this size it runs in a
# thread so the event loop keeps serving other cases.
_INLINE_SCAN_CHARS = 20_000
_MISSING: Any = type("_Unset", (), {"__repr__": lambda self: "unset"})()


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON values, where ``true`` is not ``1`` (as it is in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _json_text(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_output(output: str) -> tuple[Any, str | None]:
    """The output parsed as JSON, or ``(None, why not)``.

    Raises:
        CheckError: the JSON is nested too deeply for the parser to decide.
    """
    try:
        return json.loads(output), None
    except json.JSONDecodeError as exc:
        return None, f"output is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError as exc:
        raise CheckError("Output JSON is nested too deeply to parse.") from exc


def _find_embedded(text: str, budget_s: float) -> tuple[int, Any] | None:
    """The first JSON object or array anywhere in ``text``: ``(offset, value)``."""
    started = time.monotonic()
    attempts = 0
    # The next '{' and '[' are tracked apart, so text without one of them is not rescanned.
    brace, bracket = text.find("{"), text.find("[")
    while brace >= 0 or bracket >= 0:
        if bracket < 0 or 0 <= brace < bracket:
            at, brace = brace, text.find("{", brace + 1)
        else:
            at, bracket = bracket, text.find("[", bracket + 1)
        try:
            value, _end = _DECODER.raw_decode(text, at)
        except (json.JSONDecodeError, RecursionError):
            attempts += 1
            # Text full of unbalanced brackets makes this scan quadratic; bound it in time.
            if attempts % 64 == 0 and time.monotonic() - started > budget_s:
                raise CheckError(
                    f"Looking for JSON in {len(text)} characters ran past its time limit of "
                    f"{budget_s:g} s; the output has too many brackets that open no JSON."
                ) from None
            continue
        return at, value
    return None


@check("json_valid")
def json_valid(contains: bool = False) -> Check:
    """Output is JSON; with ``contains``, some JSON object or array appears in it."""

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        if contains:
            if len(reply.output) > _INLINE_SCAN_CHARS:
                found = await asyncio.to_thread(_find_embedded, reply.output, ctx.regex_timeout_s)
            else:
                found = _find_embedded(reply.output, ctx.regex_timeout_s)
            if found is None:
                return Outcome(0.0, False, "output contains no JSON object or array")
            kind = "object" if isinstance(found[1], dict) else "array"
            return Outcome(1.0, True, f"JSON {kind} found at {found[0]}")
        _value, error = parse_output(reply.output)
        if error is not None:
            return Outcome(0.0, False, error)
        return Outcome(1.0, True, "output is valid JSON")

    return run


def _refuse_retrieval(uri: str) -> NoReturn:
    # A suite must never make the service fetch URLs (SSRF, slow or changing schemas).
    import referencing.exceptions

    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.cache
def _no_retrieval() -> referencing.Registry[Any]:
    import referencing

    return referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


@check("json_schema")
def json_schema(schema: dict[str, Any]) -> Check:
    """Output is JSON valid against the JSON Schema ``schema`` (no remote ``$ref``)."""
    import jsonschema
    import referencing.exceptions

    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise CheckSpecError(
            f"Check 'json_schema': the schema is not a valid JSON Schema at {where}: "
            f"{exc.message}.",
            field="schema",
        ) from exc
    validator = validator_cls(
        schema, registry=_no_retrieval(), format_checker=validator_cls.FORMAT_CHECKER
    )

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        document, error = parse_output(reply.output)
        if error is not None:
            return Outcome(0.0, False, error)
        try:
            problem = jsonschema.exceptions.best_match(validator.iter_errors(document))
        except referencing.exceptions.Unresolvable as exc:
            raise CheckError(
                f"The schema's $ref {exc.ref!r} cannot be resolved; remote references are "
                "never fetched, so put the referenced schema under '$defs'."
            ) from exc
        if problem is None:
            return Outcome(1.0, True, "output matches the schema")
        where = problem.json_path
        return Outcome(
            0.0,
            False,
            f"output does not match the schema at {where}: {problem.message}",
            details={"path": where, "validator": str(problem.validator)},
        )

    return run


@check("json_path")
def json_path(path: str, equals: Any = _MISSING, exists: bool | None = None) -> Check:
    """The value at JSON path ``path`` equals ``equals``, or exists (``exists``, default true).

    When the path selects several values, ``equals`` is compared with the list of them.
    """
    from jsonpath_ng.ext.parser import parse as parse_json_path

    try:
        expression = parse_json_path(path)
    except Exception as exc:  # jsonpath-ng raises a lexer error outside JSONPathError too
        raise CheckSpecError(
            f"Check 'json_path': path {path!r} does not parse: {exc}. Write it like '$.a.b[0]'.",
            field="path",
        ) from exc
    if equals is not _MISSING and exists is not None:
        raise CheckSpecError(
            "Check 'json_path' takes 'equals' or 'exists', not both.", field="equals"
        )
    want_exists = True if exists is None else exists

    async def run(reply: AgentReply, case: TestCase, ctx: CheckContext) -> Outcome:
        document, error = parse_output(reply.output)
        if error is not None:
            return Outcome(0.0, False, error)
        values = [m.value for m in expression.find(document)]
        if equals is _MISSING:
            if bool(values) == want_exists:
                return Outcome(1.0, True, f"{path} {'exists' if values else 'does not exist'}")
            return Outcome(0.0, False, f"{path} {'exists' if values else 'does not exist'}")
        if not values:
            return Outcome(0.0, False, f"{path} does not exist")
        got = values[0] if len(values) == 1 else values
        shown = _json_text(got)
        if json_equal(got, equals):
            return Outcome(1.0, True, f"{path} is {shown}")
        return Outcome(
            0.0,
            False,
            f"{path} is {shown}, not {_json_text(equals)}",
        )

    return run
