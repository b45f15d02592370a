"""promptfoo configurations read as suites, mapped as promptfoo runs them.

One case per test x prompt. The input is the prompt template filled with the test's vars
(``defaultTest`` vars under the test's own); a var holding a list of strings expands as a
matrix, first var slowest, as promptfoo's ``generateVarCombinations`` does (other lists stay
whole). With no ``prompts`` the input is the ``input`` var, else the only var.

Names: the test's ``description``, else ``test N`` (1-based, in file order), then
``(var=value, ...)`` naming the matrix values when a test expands, then ``[prompt i]`` when
the file has several prompts.

Assertions map one to one onto checks (``not-X`` negates, ``weight`` is kept); ``defaultTest``
assertions come first, as in promptfoo. ``similar`` keeps promptfoo's default threshold of
0.75. Anything that would change what is tested but has no counterpart (an assertion type,
a file reference that cannot be read, ``scenarios``, nunjucks tags) refuses the whole file;
things that only concern how promptfoo calls models (``providers``, transforms, grader
settings) are ignored with a warning on the suite.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from pydantic import ValidationError

from aifactory.domain.models import CheckSpec, TestCase
from aifactory.domain.suites import (
    MAX_CASES,
    Suite,
    SuiteDefaults,
    _Ctx,
    _decode,
    _load_json,
    _load_yaml,
    _read_file,
    _suite,
    _validate_check,
    _validation_error,
)
from aifactory.errors import SuiteError

ChatTemplate = tuple[tuple[str, str], ...]

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
_TEXT_REFS = (".txt", ".md", ".json", ".yaml", ".yml")
_ROLES = ("system", "user", "assistant")
_IGNORED_TOP = {
    "providers": "promptfoo 'providers' are ignored: the agent under test is chosen when the "
    "suite runs.",
    "nunjucksFilters": "promptfoo 'nunjucksFilters' are ignored.",
    "extensions": "promptfoo 'extensions' (hooks) are ignored.",
    "redteam": "The promptfoo 'redteam' section is ignored; only 'tests' become cases.",
}


@dataclass(frozen=True, slots=True)
class _Prompt:
    label: str
    template: str | ChatTemplate


class _TemplateError(ValueError):
    """A prompt or value template this reader cannot fill like nunjucks would."""


def promptfoo_suite(doc: dict[str, Any], stem: str, ctx: _Ctx) -> Suite:
    """Map a parsed promptfoo configuration onto a :class:`Suite`.

    Raises:
        SuiteError: The file uses something with no counterpart; names the test and field.
    """
    for key, message in _IGNORED_TOP.items():
        if key in doc:
            ctx.warn(message)
    if "scenarios" in doc:
        raise ctx.error(
            "promptfoo 'scenarios' are not supported; write each combination out as a test.",
            at="scenarios",
        )
    description = doc.get("description")
    description = description if isinstance(description, str) and description.strip() else None
    prompts = _load_prompts(doc.get("prompts"), ctx)
    default = _test_dict(doc.get("defaultTest"), ctx, label="defaultTest", at="defaultTest")
    cases: list[TestCase] = []
    for number, (at, raw_test) in enumerate(_load_tests(doc.get("tests"), ctx), 1):
        test = _test_dict(raw_test, ctx, label=f"test {number}", at=at)
        title = test.get("description")
        label = (
            title.strip()[:400] if isinstance(title, str) and title.strip() else (f"test {number}")
        )
        cases.extend(_test_cases(test, default, prompts, ctx, label=label, at=at))
        if len(cases) > MAX_CASES:
            raise ctx.error(
                f"The file expands to more than {MAX_CASES} cases; split it up.", case=label
            )
    return _suite(description or stem, description, SuiteDefaults(), cases, ctx)


def _test_cases(
    test: dict[str, Any],
    default: dict[str, Any],
    prompts: list[_Prompt],
    ctx: _Ctx,
    *,
    label: str,
    at: str,
) -> list[TestCase]:
    for key in ("provider", "providers"):
        if key in test:
            ctx.warn(
                f"The '{key}' of test {label!r} is ignored: the agent under test is "
                "chosen when the suite runs."
            )
    options = {**_options(default, ctx, "defaultTest"), **_options(test, ctx, label)}
    values = {
        **_vars(default, ctx, label="defaultTest", at="defaultTest"),
        **_vars(test, ctx, label=label, at=at),
    }
    assertions = _assertions(default, ctx, label="defaultTest", at="defaultTest")
    assertions += _assertions(test, ctx, label=label, at=at)
    threshold = test.get("threshold", default.get("threshold"))
    metadata = {**_mapping(default.get("metadata")), **_mapping(test.get("metadata"))}
    chosen = _select_prompts(prompts, test.get("prompts"), ctx, label=label, at=at)
    combos, matrix_keys = _combinations(
        values, not options.get("disableVarExpansion"), ctx, label=label
    )
    cases = []
    for combo in combos:
        checks = [_map_assertion(raw, combo, ctx, label=label, at=a_at) for a_at, raw in assertions]
        base = label
        if matrix_keys:
            base += " (" + ", ".join(f"{k}={_short(_text(combo[k]))}" for k in matrix_keys) + ")"
        missing: set[str] = set()
        inputs: list[tuple[str, Any]] = []
        for index, prompt in chosen:
            suffix = f" [prompt {index}]" if len(prompts) > 1 else ""
            filled = _fill_prompt(prompt, combo, options, missing, ctx, label=label, at=at)
            inputs.append((base + suffix, filled))
        if not prompts:
            inputs.append((base, _input_var(combo, options, ctx, label=label, at=at)))
        if missing:
            ctx.warn(
                f"Test {label!r} does not set {', '.join(sorted(missing))}; the prompt "
                "renders it as empty text, as promptfoo does."
            )
        for name, case_input in inputs:
            raw_case: dict[str, Any] = {
                "name": name[:500],
                "input": case_input,
                "checks": checks,
                "vars": combo,
                "metadata": metadata,
            }
            if threshold is not None:
                raw_case["threshold"] = threshold
            try:
                cases.append(TestCase.model_validate(raw_case))
            except ValidationError as exc:
                raise _validation_error(
                    exc, raw_case, ctx, case=label, prefix=at, what="a promptfoo test"
                ) from exc
    return cases


# --------------------------------------------------------------------------- file references


def _read_ref(ref: str, ctx: _Ctx, *, label: str | None, at: str) -> tuple[str, str]:
    """The text of a ``file://`` reference and its lower-case suffix."""
    if not ctx.allow_file_refs:
        raise ctx.error(
            f"The file reference {ref!r} is refused: file references are not "
            "allowed here (over the API none are); put the content in the file "
            "itself.",
            case=label,
            at=at,
        )
    target = ref.removeprefix("file://")
    suffix = Path(target).suffix.lower()
    if any(ch in target for ch in "*?[") or suffix not in _TEXT_REFS:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved: only text files "
            f"({', '.join(_TEXT_REFS)}) are read, never code or globs; put the "
            "content in the file itself.",
            case=label,
            at=at,
        )
    if ctx.base_dir is None:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved without the suite "
            "file's folder; load the suite from disk.",
            case=label,
            at=at,
        )
    path = Path(target)
    full = path if path.is_absolute() else ctx.base_dir / path
    sub = _Ctx(str(full), max_bytes=ctx.max_bytes)
    try:
        return _decode(_read_file(full, sub), sub), suffix
    except SuiteError as exc:
        raise ctx.error(
            f"The file reference {ref!r} cannot be resolved: {exc.detail}", case=label, at=at
        ) from exc


def _ref_data(ref: str, ctx: _Ctx, *, label: str | None, at: str) -> Any:
    text, suffix = _read_ref(ref, ctx, label=label, at=at)
    where = f"The referenced file {ref!r}"
    if suffix == ".json":
        return _load_json(text, ctx, where=where)
    if suffix in (".yaml", ".yml"):
        return _load_yaml(text, ctx, where=where)
    raise ctx.error(f"{where} must be YAML or JSON here.", case=label, at=at)


def _is_ref(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith("file://")


# --------------------------------------------------------------------------- prompts


def _load_prompts(raw: Any, ctx: _Ctx) -> list[_Prompt]:
    entries: list[tuple[str, str | None, str]] = []  # (source, label, field)
    if raw is None:
        return []
    if isinstance(raw, str):
        entries.append((raw, None, "prompts"))
    elif isinstance(raw, dict):  # the older {path: label} form
        entries.extend(
            (str(k), v if isinstance(v, str) else None, f"prompts.{k}") for k, v in raw.items()
        )
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            at = f"prompts[{index}]"
            if isinstance(item, dict):
                source = item.get("raw", item.get("id"))
                label = item.get("label") or item.get("id")
                if not isinstance(source, str):
                    raise ctx.error(
                        "A prompt object needs 'raw' text or an 'id' naming a file.", at=at
                    )
                entries.append((source, label if isinstance(label, str) else None, at))
            elif isinstance(item, str):
                entries.append((item, None, at))
            else:
                raise ctx.error(
                    "A prompt must be text, a file reference or an object with 'raw'.", at=at
                )
    else:
        raise ctx.error("'prompts' must be a list of prompts.", at="prompts")
    prompts: list[_Prompt] = []
    for source, label, at in entries:
        for template in _prompt_templates(source, ctx, at):
            try:
                for text in [template] if isinstance(template, str) else [c for _, c in template]:
                    _render_template(text, {}, set())
            except _TemplateError as exc:
                raise ctx.error(f"The prompt cannot be filled: {exc}.", at=at) from exc
            prompts.append(_Prompt(label or source, template))
    if not prompts:
        raise ctx.error("'prompts' is empty; add a prompt or remove the key.", at="prompts")
    return prompts


def _prompt_templates(source: str, ctx: _Ctx, at: str) -> list[str | ChatTemplate]:
    if not _is_ref(source):
        return [_inline_chat(source) or source]
    text, suffix = _read_ref(source, ctx, label=None, at=at)
    if suffix in (".txt", ".md"):
        # promptfoo reads several prompts from one text file, separated by a '---' line.
        return [part.strip() for part in re.split(r"^-{3,}\s*$", text, flags=re.M) if part.strip()]
    parsed = _ref_data(source, ctx, label=None, at=at)
    chat = _as_chat(parsed)
    if chat is not None:
        return [chat]
    if isinstance(parsed, str):
        return [parsed]
    raise ctx.error(
        f"The prompt file {source!r} must hold text or a chat (a list of "
        "{role, content} messages).",
        at=at,
    )


def _as_chat(value: Any) -> ChatTemplate | None:
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for message in value:
        if not (
            isinstance(message, dict)
            and message.get("role") in _ROLES
            and isinstance(message.get("content"), str)
        ):
            return None
        messages.append((str(message["role"]), str(message["content"])))
    return tuple(messages)


def _inline_chat(source: str) -> ChatTemplate | None:
    if not source.lstrip().startswith("["):
        return None
    try:
        return _as_chat(json.loads(source))
    except (ValueError, RecursionError):
        return None


def _select_prompts(
    prompts: list[_Prompt], wanted: Any, ctx: _Ctx, *, label: str, at: str
) -> list[tuple[int, _Prompt]]:
    numbered = list(enumerate(prompts, 1))
    if wanted is None:
        return numbered
    names = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ctx.error(
            "A test's 'prompts' must be a list of prompt labels.", case=label, at=f"{at}.prompts"
        )

    def chosen(prompt: _Prompt) -> bool:
        return any(
            prompt.label == n or (n.endswith("*") and prompt.label.startswith(n[:-1]))
            for n in names
        )

    selected = [(i, p) for i, p in numbered if chosen(p)]
    if not selected:
        raise ctx.error(
            "None of the file's prompts has one of these labels; fix the labels.",
            case=label,
            at=f"{at}.prompts",
        )
    return selected


def _fill_prompt(
    prompt: _Prompt,
    values: dict[str, Any],
    options: dict[str, Any],
    missing: set[str],
    ctx: _Ctx,
    *,
    label: str,
    at: str,
) -> str | list[dict[str, str]]:
    try:
        if isinstance(prompt.template, str):
            prefix, suffix = options.get("prefix", ""), options.get("suffix", "")
            return (
                _text(prefix) + _render_template(prompt.template, values, missing) + (_text(suffix))
            )
        return [
            {"role": role, "content": _render_template(content, values, missing)}
            for role, content in prompt.template
        ]
    except _TemplateError as exc:  # e.g. a var itself that is not a string
        raise ctx.error(f"The prompt cannot be filled: {exc}.", case=label, at=at) from exc


def _input_var(
    values: dict[str, Any], options: dict[str, Any], ctx: _Ctx, *, label: str, at: str
) -> str | list[dict[str, str]]:
    if "input" in values:
        value = values["input"]
    elif len(values) == 1:
        value = next(iter(values.values()))
    else:
        raise ctx.error(
            f"The test has no prompt to fill: the file has no 'prompts' and its "
            f"{len(values)} vars include no 'input'; add 'prompts' or an 'input' "
            "var.",
            case=label,
            at=f"{at}.vars",
        )
    chat = _as_chat(value)
    if chat is not None:
        return [{"role": role, "content": content} for role, content in chat]
    return _text(options.get("prefix", "")) + _text(value) + _text(options.get("suffix", ""))


# --------------------------------------------------------------------------- templates

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
_VARIABLE = re.compile(r"\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*((?:\|\s*\w+\s*)*)")
_FILTERS = ("dump", "safe", "trim", "upper", "lower")


def _render_template(template: str, values: dict[str, Any], missing: set[str]) -> str:
    """Fill ``{{ var }}`` like nunjucks; unknown vars become empty text and go to ``missing``."""
    if "{%" in template or "{#" in template:
        raise _TemplateError(
            "it uses nunjucks tags ({% %} or {# #}), which are not "
            "supported; use plain {{ variable }} substitutions"
        )

    def fill(match: re.Match[str]) -> str:
        expression = _VARIABLE.fullmatch(match.group(1))
        if expression is None:
            raise _TemplateError(
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
                raise _TemplateError(
                    f"the filter {filter_name!r} is not supported; use {', '.join(_FILTERS)}"
                )
            if filter_name == "dump":
                value = _json(value)
            elif filter_name == "trim":
                value = _text(value).strip()
            elif filter_name == "upper":
                value = _text(value).upper()
            elif filter_name == "lower":
                value = _text(value).lower()
        return _text(value)

    return _EXPRESSION.sub(fill, template)


def _lookup(values: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _text(value: Any) -> str:
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
        return _json(value)
    return str(value)


def _json(value: Any) -> str:
    # Compact, like JavaScript's JSON.stringify, which promptfoo (and nunjucks' dump) use.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- tests and vars


def _load_tests(raw: Any, ctx: _Ctx) -> list[tuple[str, Any]]:
    if raw is None or raw == []:
        return [("tests", {})]  # promptfoo runs each prompt once when there are no tests
    if _is_ref(raw):
        raw = [raw]
    if not isinstance(raw, list):
        raise ctx.error("'tests' must be a list of tests.", at="tests")
    tests: list[tuple[str, Any]] = []
    for index, item in enumerate(raw):
        at = f"tests[{index}]"
        if _is_ref(item):
            loaded = _ref_data(item, ctx, label=None, at=at)
            items = loaded if isinstance(loaded, list) else [loaded]
            tests.extend((f"{at}[{j}]", test) for j, test in enumerate(items))
        else:
            tests.append((at, item))
    return tests


def _test_dict(raw: Any, ctx: _Ctx, *, label: str, at: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if _is_ref(raw):
        raw = _ref_data(raw, ctx, label=label, at=at)
    if not isinstance(raw, dict):
        raise ctx.error("A test must be a mapping with 'vars' and 'assert'.", case=label, at=at)
    return raw


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _options(test: dict[str, Any], ctx: _Ctx, label: str) -> dict[str, Any]:
    options = test.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ctx.error("'options' must be a mapping.", case=label, at="options")
    if "transform" in options:
        ctx.warn(
            f"options.transform of {label!r} is ignored: checks see the agent's output as it is."
        )
    for key in ("provider", "rubricPrompt"):
        if key in options:
            ctx.warn(
                f"options.{key} of {label!r} is ignored: the judge is set by AIFACTORY_JUDGE_MODEL."
            )
    return options


def _vars(test: dict[str, Any], ctx: _Ctx, *, label: str, at: str) -> dict[str, Any]:
    raw = test.get("vars")
    if raw is None:
        return {}
    if _is_ref(raw):
        raw = _ref_data(raw, ctx, label=label, at=f"{at}.vars")
    if not isinstance(raw, dict):
        raise ctx.error("'vars' must be a mapping of names to values.", case=label, at=f"{at}.vars")
    values = {}
    for key, value in raw.items():
        if _is_ref(value):
            value, _ = _read_ref(value, ctx, label=label, at=f"{at}.vars.{key}")
        values[str(key)] = value
    return values


def _combinations(
    values: dict[str, Any], expand: bool, ctx: _Ctx, *, label: str
) -> tuple[list[dict[str, Any]], list[str]]:
    keys = [
        k
        for k, v in values.items()
        if expand and isinstance(v, list) and v and isinstance(v[0], str)
    ]
    if not keys:
        return [values], []
    if math.prod(len(values[k]) for k in keys) > MAX_CASES:
        raise ctx.error(
            f"The vars of this test expand to more than {MAX_CASES} cases; shorten the lists.",
            case=label,
        )
    combos = [
        {**values, **dict(zip(keys, combo, strict=True))}
        for combo in itertools.product(*(values[k] for k in keys))
    ]
    return combos, keys


# --------------------------------------------------------------------------- assertions


def _assertions(test: dict[str, Any], ctx: _Ctx, *, label: str, at: str) -> list[tuple[str, Any]]:
    raw = test.get("assert")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ctx.error("'assert' must be a list of assertions.", case=label, at=f"{at}.assert")
    return [(f"{at}.assert[{i}]", item) for i, item in enumerate(raw)]


def _map_assertion(
    raw: Any, values: dict[str, Any], ctx: _Ctx, *, label: str, at: str
) -> CheckSpec:
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
    if _is_ref(value):
        value = (
            _ref_data(value, ctx, label=label, at=f"{at}.value")
            if base == "is-json"
            else _read_ref(value, ctx, label=label, at=f"{at}.value")[0]
        )
    try:
        value = _render_value(value, values)
    except _TemplateError as exc:
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
        raise _validation_error(
            exc, spec_raw, ctx, case=label, prefix=at, what="an assertion"
        ) from exc
    _validate_check(spec, ctx, case=label, at=at, rename=_PARAM_SOURCE)
    return spec


def _parameters(
    base: str,
    check_type: str,
    main: str | None,
    value: Any,
    raw: dict[str, Any],
    ctx: _Ctx,
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
            _load_yaml(value, ctx, where=f"The schema of {at}") if isinstance(value, str) else value
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
        params = {"values": [_text(v) for v in items] if isinstance(items, list) else items}
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
            "value": _text(value),
            "threshold": (_SIMILAR_THRESHOLD if threshold is None else threshold),
        }
    else:
        params = {} if value is None else {str(main): _text(value)}
        if base == "llm-rubric" and threshold is not None:
            params["threshold"] = threshold
    return params


def _render_value(value: Any, values: dict[str, Any]) -> Any:
    # promptfoo fills assertion values with the test's vars too.
    if isinstance(value, str):
        return _render_template(value, values, set())
    if isinstance(value, list):
        return [_render_template(v, values, set()) if isinstance(v, str) else v for v in value]
    return value
