"""Suite files from strangers: bombs, deep nesting, bad bytes, and fuzzing for stray errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifactory.domain.suites import MAX_DEPTH, Suite, load_suite, parse_suite
from aifactory.errors import SuiteError

EXTENSIONS = ["suite.yaml", "suite.json", "suite.jsonl", "suite.csv"]


def parse_untrusted(data: bytes | str, filename: str) -> Suite:
    """Parse as the API does: no file references, no python checks."""
    return parse_suite(data, filename=filename, allow_file_refs=False, allow_python=False)


def billion_laughs(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    lines.append(f"test_cases: [{{name: boom, input: x, metadata: {{all: *l{levels - 1}}}}}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 40])
def test_a_yaml_alias_bomb_is_refused_quickly(levels: int) -> None:
    # 10^9 and 10^40 values if expanded: only refusing before anything expands can finish.
    with pytest.raises(SuiteError, match="alias bomb") as caught:
        parse_untrusted(billion_laughs(levels), "bomb.yaml")
    assert caught.value.file == "bomb.yaml"


def test_an_alias_bomb_built_from_merge_keys_is_refused() -> None:
    lines = ["a0: &a0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v, k9: v}"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(SuiteError, match="alias bomb"):
        parse_untrusted("\n".join(lines) + "\ntest_cases: []\n", "bomb.yaml")


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(SuiteError, match="recursive"):
        parse_untrusted(
            "test_cases: &loop [{name: a, input: x, metadata: {again: *loop}}]\n", "loop.yaml"
        )


def test_ordinary_anchors_and_aliases_still_work() -> None:
    text = """
test_cases:
  - name: a
    input: x
    checks: &common [{type: contains, value: ok}, {type: length, max: 100}]
  - name: b
    input: y
    checks: *common
"""
    suite = parse_untrusted(text, "anchors.yaml")
    assert suite.test_cases[0].checks == suite.test_cases[1].checks
    assert len(suite.test_cases[1].checks) == 2


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


@pytest.mark.parametrize(
    ("filename", "body"),
    [
        ("deep.yaml", "test_cases: [{name: a, input: x, metadata: {m: " + nested(10_000) + "}}]"),
        (
            "deep.json",
            '{"test_cases": [{"name": "a", "input": "x", "metadata": {"m": '
            + nested(10_000)
            + "}}]}",
        ),
        ("deep.json", nested(200_000)),
        ("deep.jsonl", '{"name": "a", "input": "x", "metadata": {"m": ' + nested(500) + "}}"),
        ("deep.yaml", "a: " + nested(100_000, "{x: ", "}")),
        ("deep.yaml", "test_cases: [{name: a, input: x, metadata: {m: " + nested(200) + "}}]"),
        ("deep.yaml", "a:\n" + "".join("  " * i + "- \n" for i in range(1, 300))),
    ],
)
def test_deep_nesting_is_refused(filename: str, body: str) -> None:
    # libyaml stops at 1000 levels itself; below that the reader's own limit applies.
    with pytest.raises(SuiteError, match=f"more than {MAX_DEPTH} deep|maximum nesting depth"):
        parse_untrusted(body, filename)


def test_moderate_nesting_is_fine() -> None:
    doc = {"test_cases": [{"name": "a", "input": "x", "metadata": {"m": json.loads(nested(30))}}]}
    assert (
        parse_untrusted(json.dumps(doc), "ok.json").test_cases[0].metadata
        == doc["test_cases"][0]["metadata"]
    )


@pytest.mark.parametrize("filename", EXTENSIONS)
def test_invalid_utf8_is_refused_naming_the_offset(filename: str) -> None:
    data = b'- {"name": "caf\xe9", "input": "x"}\n'
    with pytest.raises(SuiteError, match=r"not valid UTF-8.*offset 15") as caught:
        parse_untrusted(data, filename)
    assert caught.value.file == filename


def test_utf16_files_are_refused_as_not_utf8() -> None:
    with pytest.raises(SuiteError, match="UTF-8"):
        parse_untrusted('[{"name": "a", "input": "x"}]'.encode("utf-16"), "s.json")


@pytest.mark.parametrize("filename", EXTENSIONS)
def test_files_over_the_size_limit_are_refused(filename: str) -> None:
    with pytest.raises(SuiteError, match="more than the limit of 100"):
        parse_suite(b"x" * 101, filename=filename, max_bytes=100)


def test_load_suite_refuses_a_large_file_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"input": "x"}\n' * 100)
    with pytest.raises(SuiteError, match="1500 bytes, more than the limit of 1000"):
        load_suite(path, max_bytes=1000)


def test_yaml_tags_that_would_run_code_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f'test_cases: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(SuiteError, match="not valid YAML"):
        parse_untrusted(text, "evil.yaml")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        (
            "s.json",
            '{"test_cases": [{"name": "a", "input": "x", "threshold": ' + "9" * 5000 + "}]}",
        ),
        ("s.yaml", "test_cases: [{name: a, input: x, threshold: " + "9" * 5000 + "}]"),
        ("s.json", '{"test_cases": [{"name": "a", "input": "x", "threshold": 1e999}]}'),
        ("s.yaml", "a: 1\n---\nb: 2\n"),
        ("s.yaml", "{[1, 2]: x}"),
        ("s.yaml", ""),
        ("s.json", ""),
        ("s.csv", ""),
        ("s.jsonl", "\n\n"),
        ("s.yaml", "just a string"),
    ],
)
def test_odd_documents_are_suite_errors(filename: str, text: str) -> None:
    with pytest.raises(SuiteError):
        parse_untrusted(text, filename)


def test_a_promptfoo_matrix_that_explodes_is_refused_before_expanding() -> None:
    values = ", ".join(f"v{i}: [a, b, c, d, e, f, g, h, i, j]" for i in range(12))
    text = f"prompts: ['{{{{v0}}}}']\ntests: [{{vars: {{{values}}}}}]\n"
    with pytest.raises(SuiteError, match="more than 100000 cases"):
        parse_untrusted(text, "promptfooconfig.yaml")


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_suite_errors(data: bytes | str, filename: str) -> None:
    try:
        suite = parse_untrusted(data, filename)
    except SuiteError:
        return
    assert suite.test_cases


@FUZZ
@given(data=st.binary(max_size=300), filename=st.sampled_from(EXTENSIONS))
def test_arbitrary_bytes_give_a_suite_or_a_suite_error(data: bytes, filename: str) -> None:
    only_suite_errors(data, filename)


@FUZZ
@given(text=st.text(max_size=300), filename=st.sampled_from(EXTENSIONS))
def test_arbitrary_text_gives_a_suite_or_a_suite_error(text: str, filename: str) -> None:
    only_suite_errors(text, filename)


YAML_TOKENS = st.sampled_from(
    [
        "- ",
        "  ",
        "\n",
        ": ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "<<: ",
        "'",
        '"',
        "test_cases",
        "tests",
        "prompts",
        "defaultTest",
        "input",
        "name",
        "checks",
        "type",
        "contains",
        "regex",
        "value",
        "vars",
        "assert",
        "threshold",
        "weight",
        "file://x.txt",
        "{{x}}",
        "x",
        "1",
        "-1.5",
        "true",
        "null",
        "not-contains",
        "llm-rubric",
        "javascript",
        "check:contains",
        "check:length",
        ",",
        "!!str ",
        "!!binary ",
        "? ",
        "|\n",
        "#",
    ]
)


@FUZZ
@given(tokens=st.lists(YAML_TOKENS, max_size=60), filename=st.sampled_from(EXTENSIONS))
def test_token_soup_gives_a_suite_or_a_suite_error(tokens: list[str], filename: str) -> None:
    only_suite_errors("".join(tokens), filename)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "input",
            "contains",
            "regex",
            "(",
            "{{q}}",
            "not-icontains-any",
            "equals",
            "llm_rubric",
            "length",
            "similar",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "input",
                    "expected",
                    "checks",
                    "type",
                    "value",
                    "values",
                    "pattern",
                    "vars",
                    "assert",
                    "threshold",
                    "weight",
                    "negate",
                    "tags",
                    "metadata",
                    "role",
                    "content",
                    "description",
                    "prompts",
                    "raw",
                    "options",
                    "min",
                    "max",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@FUZZ
@given(
    value=JSON_VALUES,
    wrapper=st.sampled_from(["test_cases", "tests", "defaultTest", "defaults", None]),
    as_yaml=st.booleans(),
)
def test_structured_documents_give_a_suite_or_a_suite_error(
    value: Any, wrapper: str | None, as_yaml: bool
) -> None:
    doc = (
        value
        if wrapper is None
        else {wrapper: value, "prompts": ["{{q}} {{input}}"]}
        if (wrapper in ("tests", "defaultTest"))
        else {wrapper: value}
    )
    if as_yaml:
        only_suite_errors(yaml.safe_dump(doc), "suite.yaml")
    else:
        only_suite_errors(json.dumps(doc), "suite.json")
        if isinstance(value, dict):
            only_suite_errors(json.dumps(value) + "\n", "suite.jsonl")
