"""promptfoo assertions mapped onto checks, one to one; the rest refuses the file."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from aifactory.domain.models import CheckSpec
from aifactory.domain.suites.cases import validate_spec, validation_error
from aifactory.domain.suites.reading import Context, load_yaml
from aifactory.domain.suites.references import is_ref, read_ref, ref_data
from aifactory.domain.suites.templates import TemplateError, as_text, render_template

# promptfoo type -> (check type, the parameter its `value` goes to)
_ASSERTIONS: dict[str, tuple[str, str | None]] = {
    "equals": ("equals", "value"),
    "contains": ("contains", "value"),
    "icontains": ("icontains", "value"),
    "contains-any": ("contains_any", "values"),
    "contains-all": ("contains_all", "values"),
    "icontains-any": ("contains_any", "values"),
    "icontains-all": ("contains_all", "values"),
    "starts-with": ("starts_with", "value"),
    "regex": ("regex", "pattern"),
    "is-json": ("json_valid", None),
    "contains-json": ("json_valid", None),
    "similar": ("semantic_similarity", "value"),
    "llm-rubric": ("llm_rubric", "rubric"),
    "factuality": ("factuality", "value"),
    "latency": ("latency", None),
    "cost": ("cost", None),
}
# A check's parameter -> the assertion key it came from, so errors name the promptfoo field.
_PARAM_SOURCE = {
    "value": "value",
    "values": "value",
    "pattern": "value",
    "rubric": "value",
    "schema": "value",
    "max_ms": "threshold",
    "max_usd": "threshold",
    "threshold": "threshold",
}
_SIMILAR_THRESHOLD = 0.75  # promptfoo's default for `similar`


def assertions_of(
    test: dict[str, Any], ctx: Context, *, label: str, at: str
) -> list[tuple[str, Any]]:
    """The test's assertions, each with its field path."""
    raw = test.get("assert")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ctx.error("'assert' must be a list of assertions.", case=label, at=f"{at}.assert")
    return [(f"{at}.assert[{i}]", item) for i, item in enumerate(raw)]


def map_assertion(
    raw: Any, values: dict[str, Any], ctx: Context, *, label: str, at: str
) -> CheckSpec:
    """One promptfoo assertion as a validated check, its values filled with ``values``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ctx.error("An assertion must be a mapping with a 'type'.", case=label, at=at)
    kind: str = raw["type"]
    negate = kind.startswith("not-")
    base = kind.removeprefix("not-")
    if base not in _ASSERTIONS:
        raise ctx.error(
            f"Assertion type {kind!r} (in test {label!r}) has no counterpart in aifactory, so "
            f"the whole file is refused; remove it or use one of: {', '.join(_ASSERTIONS)} "
            "(each also as not-X).",
            case=label,
            at=f"{at}.type",
        )
    for key in ("transform", "provider", "rubricPrompt"):
        if key in raw:
            ctx.warn(f"The assertion's '{key}' ({at}) is ignored.")
    check_type, main = _ASSERTIONS[base]
    value = raw.get("value")
    if is_ref(value):
        value = (
            ref_data(value, ctx, label=label, at=f"{at}.value")
            if base == "is-json"
            else read_ref(value, ctx, label=label, at=f"{at}.value")[0]
        )
    try:
        value = render_value(value, values)
    except TemplateError as exc:
        raise ctx.error(
            f"The value cannot be filled: {exc}.", case=label, at=f"{at}.value"
        ) from exc
    params = _parameters(base, check_type, main, value, raw, ctx, label=label, at=at)
    spec_raw = {**params, "type": params.pop("type", check_type)}
    if negate:
        spec_raw["negate"] = True
    if "weight" in raw:
        spec_raw["weight"] = raw["weight"]
    try:
        spec = CheckSpec.model_validate(spec_raw)
    except ValidationError as exc:
        raise validation_error(
            exc, spec_raw, ctx, case=label, prefix=at, what="an assertion"
        ) from exc
    validate_spec(spec, ctx, case=label, at=at, rename=_PARAM_SOURCE)
    return spec


def _parameters(
    base: str,
    check_type: str,
    main: str | None,
    value: Any,
    raw: dict[str, Any],
    ctx: Context,
    *,
    label: str,
    at: str,
) -> dict[str, Any]:
    threshold = raw.get("threshold")
    if base in ("latency", "cost"):
        if threshold is None:
            raise ctx.error(
                f"A {base!r} assertion needs a 'threshold'.", case=label, at=f"{at}.threshold"
            )
        return {"max_ms" if base == "latency" else "max_usd": threshold}
    if base == "is-json":
        if value is None:
            return {}
        schema = (
            load_yaml(value, ctx, where=f"The schema of {at}") if isinstance(value, str) else value
        )
        return {"type": "json_schema", "schema": schema}
    if base == "contains-json":
        if value is not None:
            raise ctx.error(
                "'contains-json' with a schema has no counterpart in aifactory, so "
                "the whole file is refused; drop the value or use 'is-json'.",
                case=label,
                at=f"{at}.value",
            )
        return {"contains": True}
    if value is None and base != "factuality":
        raise ctx.error(f"A {base!r} assertion needs a 'value'.", case=label, at=f"{at}.value")
    params: dict[str, Any]
    if main == "values":
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
        params = {"values": [as_text(v) for v in items] if isinstance(items, list) else items}
        if base.startswith("icontains-"):
            params["ignore_case"] = True
    elif base == "similar":
        if isinstance(value, list):
            raise ctx.error(
                "'similar' with several values has no counterpart in aifactory, so "
                "the whole file is refused; give one value.",
                case=label,
                at=f"{at}.value",
            )
        params = {
            "value": as_text(value),
            "threshold": (_SIMILAR_THRESHOLD if threshold is None else threshold),
        }
    else:
        params = {} if value is None else {str(main): as_text(value)}
        if base == "llm-rubric" and threshold is not None:
            params["threshold"] = threshold
    return params


def render_value(value: Any, values: dict[str, Any]) -> Any:
    # promptfoo fills assertion values with the test's vars too.
    """An assertion value with the test's vars filled in, as promptfoo does."""
    if isinstance(value, str):
        return render_template(value, values, set())
    if isinstance(value, list):
        return [render_template(v, values, set()) if isinstance(v, str) else v for v in value]
    return value
