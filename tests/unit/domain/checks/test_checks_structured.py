"""JSON checks: well-formed output, schema validation and values at a JSON path."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckSpecError

CASE = TestCase(name="order lookup", input="Where is order 42?")
ORDER = '{"order": {"id": 42, "status": "shipped", "items": [{"sku": "A1"}, {"sku": "B2"}]}}'
SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


async def check(spec: dict[str, Any], output: str, **ctx: Any) -> CheckResult:
    built = build_check(CheckSpec.model_validate(spec))
    return await run_check(built, AgentReply(output=output), CASE, CheckContext(**ctx))


async def test_json_valid_needs_the_whole_output_to_be_json() -> None:
    assert (await check({"type": "json_valid"}, ' {"a": [1, 2]}\n')).passed
    wrapped = await check({"type": "json_valid"}, 'Here you go: {"a": 1}')

    assert not wrapped.passed
    assert wrapped.reason.startswith("output is not JSON: Expecting value at line 1 column 1")


async def test_json_valid_with_contains_finds_json_anywhere() -> None:
    spec = {"type": "json_valid", "contains": True}
    found = await check(spec, 'Sure! [draft] Here: {"a": {"b": [1]}} Done.')
    none = await check(spec, "No JSON here, just {braces} and [brackets.")

    assert found.passed
    assert found.reason == "JSON object found at 20"
    assert not none.passed
    assert none.reason == "output contains no JSON object or array"


async def test_json_valid_with_contains_ignores_bare_scalars() -> None:
    assert not (await check({"type": "json_valid", "contains": True}, 'just "text" 42')).passed


async def test_searching_pathological_text_for_json_ends_as_an_error() -> None:
    result = await check(
        {"type": "json_valid", "contains": True}, '{"a": ' * 60000, regex_timeout_s=0.2
    )

    assert result.status == "error"
    assert "time limit" in result.reason


@given(value=json_values)
async def test_json_valid_accepts_every_serialised_json_value(value: Any) -> None:
    assert (await check({"type": "json_valid"}, json.dumps(value))).passed
    assert (
        await check({"type": "json_valid", "contains": True}, f"x {json.dumps([value])} y")
    ).passed


@given(text=st.text(alphabet='{}[]",:0123456789.aeflnrstu -', max_size=20))
async def test_json_valid_agrees_with_json_loads(text: str) -> None:
    try:
        json.loads(text)
        expected = True
    except ValueError:
        expected = False

    assert (await check({"type": "json_valid"}, text)).passed is expected


async def test_json_schema_passes_valid_output_and_explains_invalid_output() -> None:
    spec = {"type": "json_schema", "schema": SCHEMA}
    good = await check(spec, '{"name": "Ada", "age": 36}')
    bad = await check(spec, '{"name": "Ada", "age": -1}')
    not_json = await check(spec, "Ada, 36")

    assert good.passed
    assert not bad.passed
    assert bad.reason == (
        "output does not match the schema at $.age: -1 is less than the minimum of 0"
    )
    assert not not_json.passed
    assert not_json.status == "failed"
    assert not_json.reason.startswith("output is not JSON")


async def test_json_schema_resolves_local_refs() -> None:
    schema = {
        "$defs": {"sku": {"type": "string", "pattern": "^[A-Z][0-9]$"}},
        "type": "array",
        "items": {"$ref": "#/$defs/sku"},
    }

    assert (await check({"type": "json_schema", "schema": schema}, '["A1", "B2"]')).passed
    assert not (await check({"type": "json_schema", "schema": schema}, '["a1"]')).passed


async def test_json_schema_never_fetches_a_remote_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[Any] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: fetched.append(a))
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}

    result = await check({"type": "json_schema", "schema": schema}, '{"a": 1}')

    assert result.status == "error"
    assert "https://example.com/a.json" in result.reason
    assert "never fetched" in result.reason
    assert fetched == []


async def test_json_path_exists_by_default_and_can_require_absence() -> None:
    assert (await check({"type": "json_path", "path": "$.order.status"}, ORDER)).passed
    missing = await check({"type": "json_path", "path": "$.order.refund"}, ORDER)
    absent = await check({"type": "json_path", "path": "$.order.refund", "exists": False}, ORDER)

    assert not missing.passed
    assert missing.reason == "$.order.refund does not exist"
    assert absent.passed


@pytest.mark.parametrize(
    ("path", "equals", "passed"),
    [
        ("$.order.id", 42, True),
        ("$.order.id", "42", False),
        ("$.order.status", "shipped", True),
        ("$.order.items[0]", {"sku": "A1"}, True),
        ("$.order.items[*].sku", ["A1", "B2"], True),
        ("$.order.items[?(@.sku == 'B2')].sku", "B2", True),
        ("$.flag", 1, False),
        ("$.flag", True, True),
        ("$.nothing", None, True),
        ("$.absent", None, False),
    ],
)
async def test_json_path_equals_compares_json_values(path: str, equals: Any, passed: bool) -> None:
    output = json.dumps({**json.loads(ORDER), "flag": True, "nothing": None})

    result = await check({"type": "json_path", "path": path, "equals": equals}, output)

    assert result.passed is passed


async def test_json_path_reason_shows_the_value_found() -> None:
    result = await check({"type": "json_path", "path": "$.order.id", "equals": "7"}, ORDER)

    assert result.reason == '$.order.id is 42, not "7"'


async def test_json_path_on_text_that_is_not_json_fails() -> None:
    result = await check({"type": "json_path", "path": "$.a"}, "not json")

    assert result.status == "failed"
    assert result.reason.startswith("output is not JSON")


async def test_negated_json_checks_flip() -> None:
    assert (await check({"type": "not_json_valid"}, "plain text")).passed
    assert not (await check({"type": "json_valid", "negate": True}, "[1]")).passed


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"type": "json_schema", "schema": {"type": "strnig"}},
            "schema",
            "not a valid JSON Schema",
        ),
        ({"type": "json_schema", "schema": {"minimum": "0"}}, "schema", "not a valid JSON Schema"),
        ({"type": "json_schema", "schema": "object"}, "schema", "valid dictionary"),
        ({"type": "json_schema"}, "schema", "Missing required argument"),
        ({"type": "json_path", "path": "$.a[("}, "path", "does not parse"),
        ({"type": "json_path", "path": "$.a", "equals": 1, "exists": True}, "equals", "not both"),
        ({"type": "json_path", "path": "$.a", "exists": "sometimes"}, "exists", "boolean"),
        ({"type": "json_valid", "contains": "yes please"}, "contains", "boolean"),
    ],
)
def test_invalid_json_specs_are_refused_when_built(
    spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(CheckSpecError, match=words) as caught:
        build_check(CheckSpec.model_validate(spec))

    assert caught.value.field == field
