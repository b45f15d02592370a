"""Filling promptfoo templates as nunjucks does, for the plain ``{{ var }}`` subset."""

from __future__ import annotations

import json
import math
import re
from typing import Any


class TemplateError(ValueError):
    """A prompt or value template this reader cannot fill like nunjucks would."""


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
_VARIABLE = re.compile(r"\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*((?:\|\s*\w+\s*)*)")
_FILTERS = ("dump", "safe", "trim", "upper", "lower")


def render_template(template: str, values: dict[str, Any], missing: set[str]) -> str:
    """Fill ``{{ var }}`` like nunjucks; unknown vars become empty text and go to ``missing``."""
    if "{%" in template or "{#" in template:
        raise TemplateError(
            "it uses nunjucks tags ({% %} or {# #}), which are not "
            "supported; use plain {{ variable }} substitutions"
        )

    def fill(match: re.Match[str]) -> str:
        expression = _VARIABLE.fullmatch(match.group(1))
        if expression is None:
            raise TemplateError(
                f"{match.group(0)!r} is not a plain variable; only "
                f"{{{{ name }}}} and the filters {', '.join(_FILTERS)} are "
                "supported"
            )
        name = expression.group(1)
        found, value = _lookup(values, name)
        if not found:
            missing.add(name)
            value = ""
        for filter_name in (f.strip() for f in expression.group(2).split("|")[1:]):
            if filter_name not in _FILTERS:
                raise TemplateError(
                    f"the filter {filter_name!r} is not supported; use {', '.join(_FILTERS)}"
                )
            if filter_name == "dump":
                value = compact_json(value)
            elif filter_name == "trim":
                value = as_text(value).strip()
            elif filter_name == "upper":
                value = as_text(value).upper()
            elif filter_name == "lower":
                value = as_text(value).lower()
        return as_text(value)

    return _EXPRESSION.sub(fill, template)


def _lookup(values: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


def as_text(value: Any) -> str:
    """A var as promptfoo writes it into a prompt: JSON for structures, JS-style numbers."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return compact_json(value)
    return str(value)


def compact_json(value: Any) -> str:
    # Compact, like JavaScript's JSON.stringify, which promptfoo (and nunjucks' dump) use.
    """JSON without spaces, as JavaScript's JSON.stringify writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def shorten(text: str, limit: int = 30) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
