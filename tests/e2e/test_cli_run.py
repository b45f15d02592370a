"""``aifactory run`` end to end, as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import junitparser
import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"


def aifactory(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200"},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


AGENT = """
kind: scripted
config:
  responses:
    - {match: capital of france, output: Paris is the capital of France.}
  default: I do not know.
"""


def test_quickstart_runs_offline_writes_reports_and_fails_on_its_planted_failure(
    tmp_path: Path,
) -> None:
    junit = tmp_path / "report.xml"
    md = tmp_path / "report.md"
    js = tmp_path / "report.json"
    proc = aifactory(
        "run",
        str(QUICKSTART / "suite.yaml"),
        "--agent",
        str(QUICKSTART / "agent.yaml"),
        "--junit",
        str(junit),
        "--markdown",
        str(md),
        "--json",
        str(js),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "knows the refund policy exactly" in proc.stdout
    assert "83.3%" in proc.stdout

    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [case for suite in suites for case in suite]
    assert len(cases) == 6
    failed = [c for c in cases if not c.is_passed]
    assert [c.name for c in failed] == ["knows the refund policy exactly"]
    assert "thirty days" in failed[0].result[0].message

    report = json.loads(js.read_text())
    assert report["summary"]["passed"] == 5
    assert len(report["results"]) == 6
    assert "knows the refund policy exactly" in md.read_text()


def test_exit_zero_when_every_case_passes(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(
        tmp_path / "suite.yaml",
        """
test_cases:
  - name: capital
    input: What is the capital of France?
    checks: [{type: contains, value: Paris}]
""",
    )
    proc = aifactory("run", str(suite), "--agent", str(agent), "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100.0%" in proc.stdout


def test_fail_under_accepts_a_partial_pass_rate(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(
        tmp_path / "suite.jsonl",
        "\n".join(
            json.dumps(c)
            for c in [
                {
                    "name": "a",
                    "input": "capital of france?",
                    "checks": [{"type": "contains", "value": "Paris"}],
                },
                {
                    "name": "b",
                    "input": "capital of spain?",
                    "checks": [{"type": "contains", "value": "Madrid"}],
                },
            ]
        ),
    )
    assert aifactory("run", str(suite), "--agent", str(agent), "-q", cwd=tmp_path).returncode == 1
    proc = aifactory(
        "run", str(suite), "--agent", str(agent), "-q", "--fail-under", "0.5", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("suite_text", "message"),
    [
        (
            "test_cases:\n  - name: x\n    input: y\n    checks: [{type: contans, value: z}]\n",
            "Known types",
        ),
        (
            "test_cases:\n  - name: x\n    input: y\n"
            "    checks: [{type: regex, pattern: '(unclosed'}]\n",
            "pattern",
        ),
        ("test_cases: [\n", "suite.yaml"),
    ],
)
def test_bad_input_exits_two_with_a_clear_message(
    tmp_path: Path, suite_text: str, message: str
) -> None:
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(tmp_path / "suite.yaml", suite_text)
    proc = aifactory("run", str(suite), "--agent", str(agent), cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_agent_file_exits_two(tmp_path: Path) -> None:
    suite = write(tmp_path / "suite.yaml", "test_cases: [{name: a, input: b}]\n")
    proc = aifactory("run", str(suite), "--agent", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "nope.yaml" in proc.stderr


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("agent.yaml", "kind: scripted\nconfig: {default: [x\n", "at line 3, column 1"),
        ("agent.json", '{"kind": "scripted",\n "config": }\n', "at line 2, column 12"),
    ],
)
def test_a_malformed_agent_file_is_named_with_its_line_and_column(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    suite = write(tmp_path / "suite.yaml", "test_cases: [{name: a, input: b}]\n")
    agent = write(tmp_path / name, text)
    proc = aifactory("run", str(suite), "--agent", str(agent), cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert f"The agent file {agent} is not valid" in line
    assert line.endswith(f"{where}.")


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("suite.yaml", "test_cases:\n  - {name: a, input: [b\n", "at line 3, column 1"),
        ("suite.json", '{"test_cases": [\n  {"name": "a",}\n]}\n', "at line 2, column 16"),
    ],
)
def test_a_malformed_suite_file_is_named_with_its_line_and_column(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(tmp_path / name, text)
    proc = aifactory("run", str(suite), "--agent", str(agent), cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {suite}: The file is not valid")
    assert line.endswith(f"{where}.")


def test_names_and_reasons_with_square_brackets_print_verbatim(tmp_path: Path) -> None:
    # Rich reads [tags] as markup: unescaped, "[/quote]" crashed the run with a MarkupError
    # and "[source]" (or an ":emoji:" code) vanished from the table.
    agent = write(tmp_path / "agent.yaml", "kind: scripted\nconfig: {default: 'hi :wave:'}\n")
    suite = write(
        tmp_path / "suite.yaml",
        """
name: "[bold]release[/bold] checks"
test_cases:
  - name: "[/quote]"
    input: hello
    checks: [{type: contains, value: "[source] :smile:"}]
  - name: "fine [red]"
    input: hello
    checks: [{type: contains, value: hi}]
""",
    )
    proc = aifactory("run", str(suite), "--agent", str(agent), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "MarkupError" not in proc.stderr and "Traceback" not in proc.stderr
    assert "│ [/quote] │ failed │ contains: output does not contain '[source] :smile:'" in (
        proc.stdout
    )
    assert "aifactory run: [bold]release[/bold] checks" in proc.stdout


def test_the_missing_extra_hint_keeps_its_brackets(tmp_path: Path) -> None:
    # "[embeddings]" in the install hint was read as a Rich tag and vanished from the table.
    stub = tmp_path / "no-extra" / "sentence_transformers"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('the embeddings extra is missing')\n")
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(
        tmp_path / "suite.yaml",
        "test_cases:\n  - {name: meaning, input: hi, expected: hello,"
        " checks: [{type: semantic_similarity}]}\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "aifactory", "run", str(suite), "--agent", str(agent), "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "COLUMNS": "1000",
            "PYTHONPATH": str(stub.parent),
        },
    )
    assert proc.returncode == 1, proc.stderr
    assert "-e '.[embeddings]' in the project's clone" in proc.stdout


def test_repeat_and_cache(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", AGENT)
    suite = write(
        tmp_path / "suite.yaml",
        """
test_cases:
  - {name: capital, input: capital of france, checks: [{type: contains, value: Paris}]}
""",
    )
    out = tmp_path / "r.json"
    proc = aifactory(
        "run",
        str(suite),
        "--agent",
        str(agent),
        "-q",
        "--repeat",
        "3",
        "--cache",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first = json.loads(out.read_text())
    assert first["summary"]["completed"] == 3
    assert [r["cached"] for r in first["results"]] == [False, False, False]
    aifactory(
        "run",
        str(suite),
        "--agent",
        str(agent),
        "-q",
        "--repeat",
        "3",
        "--cache",
        "--json",
        str(out),
        cwd=tmp_path,
    )
    again = json.loads(out.read_text())
    assert [r["cached"] for r in again["results"]] == [True, True, True]


def test_checks_lists_every_type_with_parameters(tmp_path: Path) -> None:
    proc = aifactory("checks", "--json", cwd=tmp_path)
    assert proc.returncode == 0
    listed = json.loads(proc.stdout)
    for name in (
        "equals",
        "contains",
        "regex",
        "json_schema",
        "json_path",
        "llm_rubric",
        "factuality",
        "tool_called",
        "semantic_similarity",
        "python",
    ):
        assert name in listed
    assert "pattern" in listed["regex"]["parameters"]
