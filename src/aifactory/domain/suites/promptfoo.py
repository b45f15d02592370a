"""promptfoo configurations read as suites, mapped as promptfoo runs them.

One case per test x prompt. The input is the prompt template filled with the test's vars
(``defaultTest`` vars under the test's own); a var holding a list of strings expands as a
matrix, first var slowest, as promptfoo's ``generateVarCombinations`` does (other lists stay
whole). With no ``prompts`` the input is the ``input`` var, else the only var.

Names: the test's ``description``, else ``test N`` (1-based, in file order), then
``(var=value, ...)`` naming the matrix values when a test expands, then ``[prompt i]`` when
the file has several prompts.

Assertions map one to one onto checks (``not-X`` negates, ``weight`` is kept); ``defaultTest``
assertions come first, as in promptfoo.

A test whose provider (its own, or ``defaultTest``'s) is ``promptfoo:simulated-user`` is a
conversation with a simulated user: ``instructions`` (the provider's ``config``, else the test's
``vars.instructions``, filled with the vars) is the persona, ``maxTurns`` the ``max_turns``; its
assertions judge the whole conversation (``scope: "conversation"``). Such a test is one case,
whatever the prompts (in promptfoo they instruct the agent; here the agent under test answers).

``similar`` keeps promptfoo's default threshold of 0.75. Anything that would change what is
tested but has no counterpart (an assertion type, a file reference that cannot be read,
``scenarios``, nunjucks tags) refuses the whole file; things that only concern how promptfoo
calls models (``providers``, transforms, grader settings) are ignored with a warning on the
suite.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from pydantic import ValidationError

from aifactory.domain.models import TestCase
from aifactory.domain.suites.cases import finish_suite, validation_error
from aifactory.domain.suites.model import MAX_CASES, Suite, SuiteDefaults
from aifactory.domain.suites.promptfoo_assertions import assertions_of, map_assertion
from aifactory.domain.suites.promptfoo_prompts import (
    Prompt,
    fill_prompt,
    input_var,
    load_prompts,
    select_prompts,
)
from aifactory.domain.suites.reading import Context
from aifactory.domain.suites.references import is_ref, read_ref, ref_data
from aifactory.domain.suites.templates import TemplateError, as_text, render_template, shorten

SIMULATED_USER = "promptfoo:simulated-user"

_IGNORED_TOP = {
    "providers": "promptfoo 'providers' are ignored: the agent under test is chosen when the "
    "suite runs.",
    "nunjucksFilters": "promptfoo 'nunjucksFilters' are ignored.",
    "extensions": "promptfoo 'extensions' (hooks) are ignored.",
    "redteam": "The promptfoo 'redteam' section is ignored; only 'tests' become cases.",
}


def promptfoo_suite(doc: dict[str, Any], stem: str, ctx: Context) -> Suite:
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
    prompts = load_prompts(doc.get("prompts"), ctx)
    default = _test_dict(doc.get("defaultTest"), ctx, label="defaultTest", at="defaultTest")
    cases: list[TestCase] = []
    for number, (at, raw_test) in enumerate(_load_tests(doc.get("tests"), ctx), 1):
        test = _test_dict(raw_test, ctx, label=f"test {number}", at=at)
        title = test.get("description")
        title = title.strip()[:400] if isinstance(title, str) else ""
        label = title or f"test {number}"
        cases.extend(_test_cases(test, default, prompts, ctx, label=label, at=at))
        if len(cases) > MAX_CASES:
            raise ctx.error(
                f"The file expands to more than {MAX_CASES} cases; split it up.", case=label
            )
    return finish_suite(description or stem, description, SuiteDefaults(), cases, ctx)


def _test_cases(
    test: dict[str, Any],
    default: dict[str, Any],
    prompts: list[Prompt],
    ctx: Context,
    *,
    label: str,
    at: str,
) -> list[TestCase]:
    simulator = _simulator_config(test, default)
    for key in ("provider", "providers"):
        if key in test and not (key == "provider" and simulator is not None):
            ctx.warn(
                f"The '{key}' of test {label!r} is ignored: the agent under test is "
                "chosen when the suite runs."
            )
    options = {
        **_options(default, ctx, label="defaultTest", at="defaultTest"),
        **_options(test, ctx, label=label, at=at),
    }
    values = {
        **_vars(default, ctx, label="defaultTest", at="defaultTest"),
        **_vars(test, ctx, label=label, at=at),
    }
    assertions = assertions_of(default, ctx, label="defaultTest", at="defaultTest")
    assertions += assertions_of(test, ctx, label=label, at=at)
    threshold = test.get("threshold", default.get("threshold"))
    metadata = {**_mapping(default.get("metadata")), **_mapping(test.get("metadata"))}
    chosen = select_prompts(prompts, test.get("prompts"), ctx, label=label, at=at)
    combos, matrix_keys = _combinations(
        values, not options.get("disableVarExpansion"), ctx, label=label
    )
    if len(combos) * max(1, len(chosen)) > MAX_CASES:
        raise ctx.error(
            f"This test expands to more than {MAX_CASES} cases; split it up.", case=label
        )
    cases = []
    for combo in combos:
        checks = [map_assertion(raw, combo, ctx, label=label, at=a_at) for a_at, raw in assertions]
        base = label
        if matrix_keys:
            base += " (" + ", ".join(f"{k}={shorten(as_text(combo[k]))}" for k in matrix_keys) + ")"
        if simulator is not None:
            if prompts:
                ctx.warn(
                    "The prompts of promptfoo:simulated-user tests are not sent: in promptfoo "
                    "they instruct the agent, and here the agent under test answers."
                )
            conversation = _simulated_case(simulator, combo, checks, ctx, label=label, at=at)
            conversation |= {"name": base[:500], "metadata": metadata}
            if threshold is not None:
                conversation["threshold"] = threshold
            cases.append(_validated(conversation, ctx, label=label, at=at))
            continue
        missing: set[str] = set()
        inputs: list[tuple[str, Any]] = []
        for index, prompt in chosen:
            suffix = f" [prompt {index}]" if len(prompts) > 1 else ""
            filled = fill_prompt(prompt, combo, options, missing, ctx, label=label, at=at)
            inputs.append((base + suffix, filled))
        if not prompts:
            inputs.append((base, input_var(combo, options, ctx, label=label, at=at)))
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
            cases.append(_validated(raw_case, ctx, label=label, at=at))
    return cases


def _validated(raw_case: dict[str, Any], ctx: Context, *, label: str, at: str) -> TestCase:
    try:
        return TestCase.model_validate(raw_case)
    except ValidationError as exc:
        raise validation_error(
            exc, raw_case, ctx, case=label, prefix=at, what="a promptfoo test"
        ) from exc


def _provider_id(provider: Any) -> str | None:
    if isinstance(provider, str):
        return provider
    if isinstance(provider, dict) and isinstance(provider.get("id"), str):
        return str(provider["id"])
    return None


def _simulator_config(test: dict[str, Any], default: dict[str, Any]) -> dict[str, Any] | None:
    """The simulated-user provider's config when the test talks to one (its own provider
    first, else ``defaultTest``'s), else None."""
    provider = test["provider"] if "provider" in test else default.get("provider")
    if _provider_id(provider) != SIMULATED_USER:
        return None
    config = provider.get("config") if isinstance(provider, dict) else None
    return config if isinstance(config, dict) else {}


def _simulated_case(
    config: dict[str, Any],
    values: dict[str, Any],
    checks: list[Any],
    ctx: Context,
    *,
    label: str,
    at: str,
) -> dict[str, Any]:
    """The fields of a conversation with a simulated user, from the provider's config."""
    instructions = config.get("instructions", values.get("instructions"))
    if not isinstance(instructions, str) or not instructions.strip():
        raise ctx.error(
            "A promptfoo:simulated-user test needs 'instructions' (in the provider's config or "
            "in vars.instructions) saying who the user is and what they want.",
            case=label,
            at=f"{at}.vars.instructions",
        )
    try:
        persona = render_template(instructions, values, set()).strip()
    except TemplateError as exc:
        raise ctx.error(
            f"The instructions cannot be filled: {exc}.", case=label, at=f"{at}.vars.instructions"
        ) from exc
    user: dict[str, Any] = {"persona": persona}
    if "maxTurns" in config:
        user["max_turns"] = config["maxTurns"]
    return {
        "simulated_user": user,
        "checks": [c.model_copy(update={"scope": "conversation"}) for c in checks],
        "vars": values,
    }


def _load_tests(raw: Any, ctx: Context) -> list[tuple[str, Any]]:
    if raw is None or raw == []:
        return [("tests", {})]  # promptfoo runs each prompt once when there are no tests
    if is_ref(raw):
        raw = [raw]
    if not isinstance(raw, list):
        raise ctx.error("'tests' must be a list of tests.", at="tests")
    tests: list[tuple[str, Any]] = []
    for index, item in enumerate(raw):
        at = f"tests[{index}]"
        if is_ref(item):
            loaded = ref_data(item, ctx, label=None, at=at)
            items = loaded if isinstance(loaded, list) else [loaded]
            tests.extend((f"{at}[{j}]", test) for j, test in enumerate(items))
        else:
            tests.append((at, item))
    return tests


def _test_dict(raw: Any, ctx: Context, *, label: str, at: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if is_ref(raw):
        raw = ref_data(raw, ctx, label=label, at=at)
    if not isinstance(raw, dict):
        raise ctx.error("A test must be a mapping with 'vars' and 'assert'.", case=label, at=at)
    return raw


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _options(test: dict[str, Any], ctx: Context, *, label: str, at: str) -> dict[str, Any]:
    options = test.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ctx.error("'options' must be a mapping.", case=label, at=f"{at}.options")
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


def _vars(test: dict[str, Any], ctx: Context, *, label: str, at: str) -> dict[str, Any]:
    raw = test.get("vars")
    if raw is None:
        return {}
    if is_ref(raw):
        raw = ref_data(raw, ctx, label=label, at=f"{at}.vars")
    if not isinstance(raw, dict):
        raise ctx.error("'vars' must be a mapping of names to values.", case=label, at=f"{at}.vars")
    values = {}
    for key, value in raw.items():
        if is_ref(value):
            value, _ = read_ref(value, ctx, label=label, at=f"{at}.vars.{key}")
        values[str(key)] = value
    return values


def _combinations(
    values: dict[str, Any], expand: bool, ctx: Context, *, label: str
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
