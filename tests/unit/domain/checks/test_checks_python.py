"""The ``python`` check: an author's function decides, from the command line only."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from aifactory.domain.checks import CheckContext, build_check, run_check
from aifactory.domain.models import AgentReply, CheckResult, CheckSpec, TestCase
from aifactory.errors import CheckSpecError

CASE = TestCase(name="greeting", input="Say hello", expected="hello")

USER_CHECKS = textwrap.dedent(
    """
    def says_expected(output, case):
        return case.expected in output.lower()

    def share_of_words(output, case):
        return len(output.split()) / 4

    def verdict(output, case):
        return {"score": 0.4, "passed": True, "reason": "good enough for a greeting"}

    def passed_only(output, case):
        return {"passed": output.startswith("Hello")}

    async def checks_async(output, case):
        return output.endswith("!")

    def crashes(output, case):
        raise KeyError("missing")

    def returns_text(output, case):
        return "yes"

    def says_nothing(output, case):
        return {"reason": "hmm"}

    def wordy_score(output, case):
        return {"score": "high"}

    not_a_function = 3
    """
)


@pytest.fixture
def checks_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_checks.py"
    path.write_text(USER_CHECKS)
    return path


async def check(spec: dict[str, Any], output: str) -> CheckResult:
    built = build_check(CheckSpec.model_validate({"type": "python", **spec}))
    return await run_check(built, AgentReply(output=output), CASE, CheckContext())


@pytest.mark.parametrize(
    ("function", "output", "passed", "score"),
    [
        ("says_expected", "Hello there", True, 1.0),
        ("says_expected", "Good day", False, 0.0),
        ("share_of_words", "one two three", True, 0.75),
        ("share_of_words", "one", False, 0.25),
        ("verdict", "hi", True, 0.4),
        ("passed_only", "Hello", True, 1.0),
        ("passed_only", "Bye", False, 0.0),
        ("checks_async", "Hello!", True, 1.0),
        ("checks_async", "Hello", False, 0.0),
    ],
)
async def test_python_function_from_a_file_decides(
    checks_file: Path, function: str, output: str, passed: bool, score: float
) -> None:
    result = await check({"function": f"{checks_file}:{function}"}, output)

    assert (result.passed, result.score) == (passed, score)


async def test_a_dict_reason_becomes_the_check_reason(checks_file: Path) -> None:
    result = await check({"function": f"{checks_file}:verdict"}, "hi")

    assert result.reason == "good enough for a greeting"


async def test_a_score_passes_at_the_given_threshold(checks_file: Path) -> None:
    spec = {"function": f"{checks_file}:share_of_words", "threshold": 0.2}

    assert (await check(spec, "one")).passed


async def test_a_module_function_is_found_on_the_import_path(
    checks_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(checks_file.parent))

    result = await check({"function": "my_checks:says_expected"}, "hello")

    assert result.passed


@pytest.mark.parametrize(
    ("function", "words"),
    [
        ("crashes", "raised KeyError"),
        ("returns_text", "returned str"),
        ("says_nothing", "without 'score' or 'passed'"),
        ("wordy_score", "non-numeric 'score'"),
    ],
)
async def test_a_function_that_misbehaves_is_an_error(
    checks_file: Path, function: str, words: str
) -> None:
    result = await check({"function": f"{checks_file}:{function}"}, "hello")

    assert result.status == "error"
    assert words in result.reason


def test_python_checks_are_refused_over_the_api(checks_file: Path) -> None:
    spec = CheckSpec.model_validate({"type": "python", "function": f"{checks_file}:says_expected"})

    with pytest.raises(CheckSpecError, match="only allowed from the command line"):
        build_check(spec, allow_python=False)


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("no_colon_here", "must look like 'module:function'"),
        ("{dir}/missing.py:f", "does not exist"),
        ("{dir}/my_checks.py:nothing", "has no function 'nothing'"),
        ("{dir}/my_checks.py:not_a_function", "has no function 'not_a_function'"),
        ("aifactory_no_such_module:f", "importing 'aifactory_no_such_module' failed"),
        ("{dir}/broken.py:f", "importing .*broken.py' failed: SyntaxError"),
    ],
)
def test_a_function_that_cannot_be_found_is_refused_when_built(
    checks_file: Path, reference: str, words: str
) -> None:
    (checks_file.parent / "broken.py").write_text("def f(:\n")
    spec = {"type": "python", "function": reference.format(dir=checks_file.parent)}

    with pytest.raises(CheckSpecError, match=words):
        build_check(CheckSpec.model_validate(spec))
