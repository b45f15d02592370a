"""Suite files in their own formats: YAML, JSON, JSONL and CSV, defaults, and errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifactory.domain.models import CheckSpec, Message, TestCase
from aifactory.domain.suites import Suite, dump_suite, iter_cases, load_suite, parse_suite
from aifactory.errors import SuiteError

SUITE = {
    "name": "support",
    "description": "Refund questions",
    "defaults": {
        "checks": [{"type": "length", "max": 500}],
        "tags": ["billing"],
        "vars": {"tone": "polite", "lang": "en"},
    },
    "test_cases": [
        {
            "name": "refund window",
            "input": "Can I get a refund after 40 days?",
            "expected": "No; refunds are possible within 30 days.",
            "checks": [
                {"type": "contains", "value": "30 days"},
                {"type": "llm_rubric", "rubric": "Politely refuses", "weight": 2},
            ],
            "tags": ["refunds"],
            "vars": {"lang": "fr"},
            "threshold": 0.8,
        },
        {
            "name": "conversation",
            "input": [
                {"role": "system", "content": "You are a support bot."},
                {"role": "user", "content": "Hi"},
            ],
            "checks": [{"type": "not_contains", "value": "sorry"}],
        },
    ],
}


def yaml_text(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def expected_cases() -> list[TestCase]:
    length = CheckSpec(type="length", max=500)
    return [
        TestCase(
            name="refund window",
            input="Can I get a refund after 40 days?",
            expected="No; refunds are possible within 30 days.",
            checks=[
                CheckSpec(type="contains", value="30 days"),
                CheckSpec(type="llm_rubric", rubric="Politely refuses", weight=2),
                length,
            ],
            tags=["refunds", "billing"],
            vars={"tone": "polite", "lang": "fr"},
            threshold=0.8,
        ),
        TestCase(
            name="conversation",
            input=[
                Message(role="system", content="You are a support bot."),
                Message(role="user", content="Hi"),
            ],
            checks=[CheckSpec(type="not_contains", value="sorry"), length],
            tags=["billing"],
            vars={"tone": "polite", "lang": "en"},
        ),
    ]


# --------------------------------------------------------------------------- YAML and JSON


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("suite.yaml", yaml_text(SUITE)),
        ("suite.yml", yaml_text(SUITE)),
        ("suite.json", json.dumps(SUITE)),
    ],
)
def test_yaml_and_json_suites_apply_their_defaults_to_every_case(filename: str, text: str) -> None:
    suite = parse_suite(text.encode(), filename=filename)
    assert suite.name == "support"
    assert suite.description == "Refund questions"
    assert suite.test_cases == expected_cases()
    assert suite.defaults.checks == [CheckSpec(type="length", max=500)]
    assert suite.warnings == []


def test_default_threshold_fills_only_cases_without_one() -> None:
    doc = {
        "defaults": {"threshold": 0.5},
        "test_cases": [{"name": "a", "input": "x"}, {"name": "b", "input": "y", "threshold": 1}],
    }
    suite = parse_suite(json.dumps(doc), filename="t.json")
    assert [c.threshold for c in suite.test_cases] == [0.5, 1.0]


def test_a_bare_list_of_cases_is_a_suite_named_after_the_file() -> None:
    text = "- input: What is 2+2?\n  checks: [{type: contains, value: 4}]\n- {input: Hi}\n"
    suite = parse_suite(text, filename="dir/arith.yaml")
    assert suite.name == "arith"
    assert [c.name for c in suite.test_cases] == ["test 1", "test 2"]
    assert suite.test_cases[0].checks == [CheckSpec(type="contains", value=4)]


def test_yaml_reads_yes_no_and_times_as_text() -> None:
    text = (
        "- {name: a, input: 'x', checks: [{type: equals, value: Yes}, "
        "{type: contains, value: 1:20}]}\n"
    )
    checks = parse_suite(text, filename="s.yaml").test_cases[0].checks
    assert [c.params["value"] for c in checks] == ["Yes", "1:20"]


def test_duplicate_case_names_load_with_a_warning() -> None:
    text = "- {name: same, input: a}\n- {name: same, input: b}\n"
    suite = parse_suite(text, filename="s.yaml")
    assert len(suite.test_cases) == 2
    assert any("'same'" in w for w in suite.warnings)


def test_a_check_repeated_by_many_cases_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from aifactory.domain.checks import build_check

    built: list[str] = []

    def counting(spec: CheckSpec, *, allow_python: bool = True) -> Any:
        built.append(spec.type)
        return build_check(spec, allow_python=allow_python)

    monkeypatch.setattr("aifactory.domain.suites.cases.build_check", counting)
    rows = "".join(
        f"- {{name: c{i}, input: q, checks: [{{type: contains, value: a}}, {{type: regex, "
        f"pattern: '{'b' if i % 2 else 'c'}'}}]}}\n"
        for i in range(50)
    )
    suite = parse_suite(rows, filename="s.yaml")
    assert len(suite.test_cases) == 50
    assert sorted(built) == ["contains", "regex", "regex"]
    # A bad check is still refused at the first case that has it.
    with pytest.raises(SuiteError) as caught:
        parse_suite(
            rows + "- {name: bad, input: q, checks: [{type: regex, pattern: '('}]}\n",
            filename="s.yaml",
        )
    assert caught.value.case == "bad"


# --------------------------------------------------------------------------- JSONL


def test_jsonl_reads_one_case_a_line_and_skips_blank_lines() -> None:
    lines = [json.dumps(c) for c in SUITE["test_cases"]]
    text = f"{lines[0]}\n\n   \n{lines[1]}\n" + json.dumps({"input": "unnamed"}) + "\n"
    suite = parse_suite(text, filename="cases.jsonl")
    assert [c.name for c in suite.test_cases] == ["refund window", "conversation", "line 5"]
    assert suite.test_cases[1].input == expected_cases()[1].input
    assert suite.name == "cases"


def test_jsonl_errors_name_the_line() -> None:
    broken = {"name": "broken", "input": "b", "checks": [{"type": "regex", "pattern": "("}]}
    text = '{"name": "ok", "input": "a"}\n\n' + json.dumps(broken) + "\n"
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, filename="cases.jsonl")
    err = caught.value
    assert (err.file, err.case, err.field) == ("cases.jsonl", "broken", "checks[0].pattern")
    assert "line 3" in str(err)


def test_jsonl_invalid_json_names_the_line() -> None:
    with pytest.raises(SuiteError, match="Line 2 is not valid JSON"):
        parse_suite('{"input": "a"}\n{"input": \n', filename="cases.jsonl")


# --------------------------------------------------------------------------- CSV

CSV = """\
name,input,expected,tags,threshold,check:contains,check:regex,check:contains_any,check:llm_rubric
refund,Refund after 40 days?,No.,"billing, refunds",0.5,30 days,^No\\b,policy|terms,Refuses politely
,"Hello, there",,,,,,"[""hi"", ""hello""]",
"""


def test_csv_rows_become_cases_with_check_columns() -> None:
    suite = parse_suite(CSV.encode(), filename="cases.csv")
    first, second = suite.test_cases
    assert first == TestCase(
        name="refund",
        input="Refund after 40 days?",
        expected="No.",
        tags=["billing", "refunds"],
        threshold=0.5,
        checks=[
            CheckSpec(type="contains", value="30 days"),
            CheckSpec(type="regex", pattern="^No\\b"),
            CheckSpec(type="contains_any", values=["policy", "terms"]),
            CheckSpec(type="llm_rubric", rubric="Refuses politely"),
        ],
    )
    assert second == TestCase(
        name="row 2",
        input="Hello, there",
        checks=[CheckSpec(type="contains_any", values=["hi", "hello"])],
    )


@pytest.mark.parametrize(
    ("column", "cell", "check"),
    [
        ("check:equals", "Paris", {"type": "equals", "value": "Paris"}),
        ("check:not_contains", "sorry", {"type": "not_contains", "value": "sorry"}),
        ("check:not_regex", "\\d", {"type": "not_regex", "pattern": "\\d"}),
        ("check:latency", "1500", {"type": "latency", "max_ms": 1500.0}),
        ("check:cost", "0.01", {"type": "cost", "max_usd": 0.01}),
        ("check:length", "10..200", {"type": "length", "min": 10, "max": 200}),
        ("check:length", "..200", {"type": "length", "max": 200}),
        ("check:length", "10..", {"type": "length", "min": 10}),
        ("check:length", "80", {"type": "length", "max": 80}),
        ("check:json_valid", "yes", {"type": "json_valid"}),
        ("check:json_valid", "contains", {"type": "json_valid", "contains": True}),
        (
            "check:json_schema",
            '{"type": "object"}',
            {"type": "json_schema", "schema": {"type": "object"}},
        ),
        ("check:json_path", "$.a.b", {"type": "json_path", "path": "$.a.b", "exists": True}),
        ("check:contains_all", "a | b", {"type": "contains_all", "values": ["a", "b"]}),
        ("check:tool_called", "refund", {"type": "tool_called", "name": "refund"}),
        ("check:similarity", "Paris", {"type": "similarity", "value": "Paris"}),
        ("check:factuality", "Paris", {"type": "factuality", "value": "Paris"}),
        (
            "check:python",
            '{"function": "os.path:basename"}',
            {"type": "python", "function": "os.path:basename"},
        ),
    ],
)
def test_csv_check_cells_fill_the_main_parameter(
    column: str, cell: str, check: dict[str, Any]
) -> None:
    text = f'input,{column}\nhello,"{cell.replace(chr(34), chr(34) * 2)}"\n'
    case = parse_suite(text, filename="c.csv").test_cases[0]
    assert [c.model_dump(exclude_defaults=True) for c in case.checks] == [check]


def test_csv_repeated_check_columns_give_several_checks_and_blank_rows_are_skipped() -> None:
    text = "input,check:contains,check:contains\r\nhi,a,b\r\n,,\r\nyo,,c\r\n"
    cases = parse_suite(text, filename="c.csv").test_cases
    assert [[c.params["value"] for c in case.checks] for case in cases] == [["a", "b"], ["c"]]
    assert [c.name for c in cases] == ["row 1", "row 3"]


def test_csv_with_a_byte_order_mark_from_a_spreadsheet() -> None:
    suite = parse_suite("\ufeffinput\nhi\n".encode(), filename="c.csv")
    assert suite.test_cases[0].input == "hi"


@pytest.mark.parametrize(
    ("text", "case", "field", "message"),
    [
        ("input,colour\nhi,red\n", None, "colour", "not known"),
        ("name,expected\na,b\n", None, None, "'input' column"),
        ("name,input,check:latency\nslow,hi,soon\n", "slow", "check:latency", "not a number"),
        ("name,input,check:regex\nbad,hi,(\n", "bad", "check:regex", "Row 1"),
        ("name,input,check:contans\ntypo,hi,x\n", "typo", "check:contans", "is not known"),
        ("name,input\nempty,\n", "empty", "input", "empty input"),
        ("name,input,threshold\nt,hi,2\n", "t", "threshold", "Invalid value"),
        ("input\nhi,extra\n", "row 1", None, "quote cells"),
        ('input,check:custom\nhi,"{""weight"": ""heavy""}"\n', "row 1", "check:custom", "weight"),
    ],
)
def test_csv_errors_name_the_row_and_the_column(
    text: str, case: str | None, field: str | None, message: str
) -> None:
    with pytest.raises(SuiteError, match=message) as caught:
        parse_suite(text, filename="c.csv")
    assert (caught.value.file, caught.value.case, caught.value.field) == ("c.csv", case, field)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", ["yaml", "json", "jsonl"])
def test_every_format_round_trips(fmt: str) -> None:
    suite = parse_suite(yaml_text(SUITE), filename="s.yaml")
    text = dump_suite(suite, fmt=fmt)  # type: ignore[arg-type]
    again = parse_suite(text, filename=f"again.{fmt}")
    assert again.test_cases == suite.test_cases
    if fmt != "jsonl":
        assert (again.name, again.description) == (suite.name, suite.description)


def test_csv_round_trips_through_json() -> None:
    suite = parse_suite(CSV, filename="c.csv")
    again = parse_suite(dump_suite(suite, fmt="json"), filename="c.json")
    assert again.test_cases == suite.test_cases


# --------------------------------------------------------------------------- files and streaming


def test_load_suite_and_iter_cases_read_files(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(yaml_text(SUITE), encoding="utf-8")
    (tmp_path / "s.jsonl").write_text(dump_suite(load_suite(tmp_path / "s.yaml"), fmt="jsonl"))
    (tmp_path / "s.csv").write_text(CSV, encoding="utf-8")
    assert load_suite(tmp_path / "s.yaml").test_cases == expected_cases()
    assert list(iter_cases(tmp_path / "s.yaml")) == expected_cases()
    assert list(iter_cases(tmp_path / "s.jsonl")) == expected_cases()
    assert list(iter_cases(tmp_path / "s.csv")) == parse_suite(CSV, filename="c.csv").test_cases


def test_iter_cases_streams_cases_before_reading_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    good = "".join(json.dumps({"name": f"c{i}", "input": "x"}) + "\n" for i in range(1000))
    path.write_text(good + "not json\n", encoding="utf-8")
    stream = iter_cases(path)
    assert next(stream).name == "c0"
    rest: list[TestCase] = []
    with pytest.raises(SuiteError, match="Line 1001"):
        rest.extend(stream)
    assert len(rest) == 999


def test_iter_cases_refuses_an_overlong_line(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"input": "x" * 5000}) + "\n", encoding="utf-8")
    with pytest.raises(SuiteError, match="longer than 1000 bytes"):
        list(iter_cases(path, max_line_bytes=1000))


def test_load_suite_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="does not exist") as caught:
        load_suite(tmp_path / "absent.yaml")
    assert caught.value.file == str(tmp_path / "absent.yaml")


@pytest.mark.parametrize("filename", ["suite.txt", "suite", "suite.yaml.bak", "suite.xml"])
def test_unknown_extensions_are_refused_naming_the_allowed_ones(filename: str) -> None:
    with pytest.raises(SuiteError, match=r"\.yaml, \.yml, \.json, \.jsonl, \.csv"):
        parse_suite("- {input: a}", filename=filename)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("doc", "case", "field", "message"),
    [
        (
            {
                "test_cases": [
                    {"name": "a", "input": "x"},
                    {
                        "name": "b",
                        "input": "y",
                        "checks": [
                            {"type": "contains", "value": "ok"},
                            {"type": "regex", "pattern": "(["},
                        ],
                    },
                ]
            },
            "b",
            "test_cases[1].checks[1].pattern",
            "does not compile",
        ),
        (
            {
                "test_cases": [
                    {"name": "a", "input": "x", "checks": [{"type": "contans", "value": "y"}]}
                ]
            },
            "a",
            "test_cases[0].checks[0].type",
            "Known types",
        ),
        (
            {"test_cases": [{"name": "a", "input": "x", "checks": [{"type": "length"}]}]},
            "a",
            "test_cases[0].checks[0].min",
            "length",
        ),
        (
            {"test_cases": [{"name": "a", "input": "x", "checks": [{"type": "contains"}]}]},
            "a",
            "test_cases[0].checks[0].value",
            "value",
        ),
        (
            {"test_cases": [{"name": "a", "input": "x", "checks": [{"value": "y"}]}]},
            "a",
            "test_cases[0].checks[0].type",
            "required",
        ),
        ({"test_cases": [{"name": "a", "inptu": "x"}]}, "a", "test_cases[0].inptu", "not a field"),
        ({"test_cases": [{"name": "a"}]}, "a", "test_cases[0].input", "required"),
        (
            {"test_cases": [{"input": [{"role": "robot", "content": "x"}]}]},
            "test 1",
            "test_cases[0].input[0].role",
            "Invalid value",
        ),
        ({"test_cases": ["just text"]}, "test_cases[0]", "test_cases[0]", "mapping"),
        ({"test_cases": []}, None, None, "no test cases"),
        ({"name": "s"}, None, "test_cases", "'test_cases' list"),
        (
            {"test_cases": [{"input": "x"}], "tests_cases": []},
            None,
            "tests_cases",
            "not a suite field",
        ),
        (
            {
                "defaults": {"checks": [{"type": "regex", "pattern": "("}]},
                "test_cases": [{"input": "x"}],
            },
            None,
            "defaults.checks[0].pattern",
            "does not compile",
        ),
        (
            {"defaults": {"threshold": 3}, "test_cases": [{"input": "x"}]},
            None,
            "defaults.threshold",
            "Invalid value",
        ),
    ],
)
def test_errors_name_the_file_the_case_and_the_field(
    doc: dict[str, Any], case: str | None, field: str | None, message: str
) -> None:
    with pytest.raises(SuiteError, match=message) as caught:
        parse_suite(json.dumps(doc), filename="suite.json")
    err = caught.value
    assert (err.file, err.case, err.field) == ("suite.json", case, field)
    assert str(err).startswith("suite.json")


def test_python_checks_are_refused_when_not_allowed() -> None:
    doc = {
        "test_cases": [
            {
                "name": "p",
                "input": "x",
                "checks": [{"type": "python", "function": "os.path:basename"}],
            }
        ]
    }
    assert parse_suite(json.dumps(doc), filename="s.json").test_cases[0].checks[0].type == "python"
    with pytest.raises(SuiteError, match="command line") as caught:
        parse_suite(json.dumps(doc), filename="s.json", allow_python=False)
    assert caught.value.field == "test_cases[0].checks[0].type"


def test_check_validation_can_be_turned_off() -> None:
    doc = {"test_cases": [{"name": "a", "input": "x", "checks": [{"type": "someday"}]}]}
    suite = parse_suite(json.dumps(doc), filename="s.json", validate_checks=False)
    assert suite.test_cases[0].checks == [CheckSpec(type="someday")]


def test_suite_model_is_a_plain_record() -> None:
    suite = Suite(name="x", test_cases=[TestCase(name="a", input="b")])
    assert Suite.model_validate(suite.model_dump()) == suite


def test_multiline_yaml_keeps_text_exactly() -> None:
    text = textwrap.dedent("""\
        test_cases:
          - name: letter
            input: |
              Dear team,
                indented line
              Bye
    """)
    case = parse_suite(text, filename="s.yaml").test_cases[0]
    assert case.input == "Dear team,\n  indented line\nBye\n"
