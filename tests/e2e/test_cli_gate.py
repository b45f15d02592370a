"""The CI gate end to end: ``aifactory run … --baseline FILE`` and ``aifactory compare`` of run
files, as a CI job runs them: real processes, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aifactory.reports.gate import MARKER

CASES = 10
FLIPPED = 6  # b = 6, c = 0: McNemar's p = 2 / 2**6 = 0.03 < 0.05


def aifactory(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "250"},
    )


def suite(path: Path, *, name: str = "gate demo", prefix: str = "case", cases: int = CASES) -> Path:
    lines = [f"name: {name}", "test_cases:"]
    for i in range(cases):
        lines.append(
            f"  - {{name: '{prefix} {i:02d}', input: 'question q{i:02d}', "
            "checks: [{type: contains, value: ok}]}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def agent(path: Path, *, broken: int = 0, latency_ms: int = 0) -> Path:
    """A scripted agent that answers 'ok' except to the first ``broken`` questions."""
    rules = "".join(f"    - {{match: q{i:02d}, output: nope}}\n" for i in range(broken))
    path.write_text(
        "id: support-bot\nkind: scripted\nconfig:\n"
        + (f"  responses:\n{rules}" if rules else "")
        + f"  default: ok, done\n  latency_ms: {latency_ms}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    suite(tmp_path / "suite.yaml")
    agent(tmp_path / "good.yaml")
    agent(tmp_path / "bad.yaml", broken=FLIPPED, latency_ms=5)
    return tmp_path


def baseline(project: Path, agent_file: str = "good.yaml") -> Path:
    proc = aifactory(
        "run", "suite.yaml", "--agent", agent_file, "-q", "--json", "base.json",
        "--metadata", "branch=main", "--metadata", "commit=abc123", cwd=project,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return project / "base.json"


def test_the_json_report_is_a_baseline(project: Path) -> None:
    document = json.loads(baseline(project).read_text())
    assert document["suite"] == "gate demo"
    assert document["agent"] == "support-bot"
    assert document["metadata"] == {"branch": "main", "commit": "abc123"}
    assert document["meta"] == {"suite": "gate demo", "agent": "support-bot"}
    assert document["summary"]["passed"] == CASES
    assert len(document["results"]) == CASES


def test_planted_regressions_exit_one_naming_the_flips(project: Path) -> None:
    baseline(project)
    proc = aifactory(
        "run", "suite.yaml", "--agent", "bad.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", "--fail-under", "0", "--markdown", "comment.md", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "gate demo against the baseline (base.json): regressed" in out
    assert f"{CASES} pairs · {FLIPPED} regressed · 0 improved · McNemar p = 0.03125" in out
    assert "100.0% (72.2% – 100.0%)" in out and "40.0% (16.8% – 68.7%)" in out
    for i in range(FLIPPED):
        assert f"case {i:02d}" in out.split("Regressions")[1]
    assert "cost" in out and "latency p50" in out
    assert "gate failed: this run is significantly worse than the baseline" in proc.stderr

    comment = (project / "comment.md").read_text()
    assert comment.startswith(MARKER + "\n## 🔴 gate demo: **regressed**")
    assert f"### Regressions ({FLIPPED})" in comment
    assert "| case 05 | 0 | passed | failed | 1.00 → 0.00 |" in comment
    assert "(agent support\\-bot, branch main, commit abc123)" in comment
    # The run's own report is folded under the comparison.
    assert "<details><summary>This run's report</summary>" in comment
    assert "## gate demo — ❌ failed" in comment


def test_a_regression_without_fail_on_regression_is_reported_not_fatal(project: Path) -> None:
    baseline(project)
    proc = aifactory(
        "run", "suite.yaml", "--agent", "bad.yaml", "-q", "--baseline", "base.json",
        "--fail-under", "0", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "regressed" in proc.stdout
    assert "gate passed." in proc.stderr


def test_improvements_exit_zero(project: Path) -> None:
    baseline(project, "bad.yaml")
    proc = aifactory(
        "run", "suite.yaml", "--agent", "good.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", "--markdown", "comment.md", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "against the baseline (base.json): improved" in proc.stdout
    assert "Improvements (not passed → passed)" in proc.stdout
    comment = (project / "comment.md").read_text()
    assert "## 🟢 gate demo: **improved**" in comment
    assert f"### Improvements ({FLIPPED})" in comment
    assert "**✅ The gate passes.**" in comment


def test_the_suite_still_fails_its_own_bar(project: Path) -> None:
    baseline(project)
    # One flip is no significant change, but a failed case fails the suite without --fail-under.
    agent(project / "one.yaml", broken=1)
    proc = aifactory(
        "run", "suite.yaml", "--agent", "one.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", "--markdown", "comment.md", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no significant change" in proc.stdout
    assert "gate failed: 1 of 10 cases did not pass" in proc.stderr
    assert (
        "**❌ The gate fails:** 1 of 10 cases did not pass." in (project / "comment.md").read_text()
    )
    passing = aifactory(
        "run", "suite.yaml", "--agent", "one.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", "--fail-under", "0.9", cwd=project,
    )  # fmt: skip
    assert passing.returncode == 0, passing.stderr


def test_flips_are_cut_at_twenty_with_a_count(tmp_path: Path) -> None:
    suite(tmp_path / "suite.yaml", cases=25)
    agent(tmp_path / "good.yaml")
    agent(tmp_path / "bad.yaml", broken=25)
    baseline(tmp_path)
    proc = aifactory(
        "run", "suite.yaml", "--agent", "bad.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", "--markdown", "comment.md", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "…and 5 more; write them with --markdown." in proc.stdout
    flips = proc.stdout.split("Regressions")[1]
    assert "case 19" in flips and "case 20" not in flips
    comment = (tmp_path / "comment.md").read_text()
    assert "### Regressions (25)" in comment and "…and 5 more." in comment


def test_a_baseline_of_another_suite_exits_two_naming_the_unpaired_cases(project: Path) -> None:
    baseline(project)
    suite(project / "other.yaml", name="billing", prefix="invoice", cases=3)
    proc = aifactory(
        "run", "other.yaml", "--agent", "good.yaml", "-q", "--baseline", "base.json",
        "--fail-on-regression", cwd=project,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "another suite ('gate demo'; this run's is 'billing')" in line
    assert "10 of its cases do not pair: 'case 00', 'case 01'" in line
    assert "3 of this run's have no partner in it: 'invoice 00', 'invoice 01', 'invoice 02'" in line
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("base", "says"),
    [
        ("missing.json", "The baseline file missing.json does not exist"),
        ("suite.yaml", "The baseline file suite.yaml is not valid JSON"),
        ("latest", "There is no baseline file latest; a run id or 'latest' is read from a server"),
        ("notes.json", "notes.json is not the --json output of a run"),
    ],
)
def test_a_bad_baseline_is_exit_two_before_the_run(project: Path, base: str, says: str) -> None:
    (project / "notes.json").write_text('{"hello": 1}')
    proc = aifactory(
        "run", "suite.yaml", "--agent", "good.yaml", "--baseline", base, "--json", "head.json",
        cwd=project,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {says}"), proc.stderr
    assert not (project / "head.json").exists()  # nothing ran


def test_bad_metadata_is_exit_two(project: Path) -> None:
    proc = aifactory("run", "suite.yaml", "--agent", "good.yaml", "--metadata", "x", cwd=project)
    assert proc.returncode == 2
    assert "--metadata takes KEY=VALUE (like branch=main), not 'x'" in proc.stderr


def test_compare_two_run_files(project: Path) -> None:
    baseline(project)
    proc = aifactory("run", "suite.yaml", "--agent", "bad.yaml", "-q", "--json", "head.json",
                     cwd=project)  # fmt: skip
    assert proc.returncode == 1
    gate = aifactory(
        "compare", "base.json", "head.json", "--fail-on-regression", "--markdown", "c.md",
        "--html", "c.html", cwd=project,
    )  # fmt: skip
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "regressed" in gate.stdout and "case 00" in gate.stdout
    assert (project / "c.md").read_text().startswith(MARKER)
    assert "<html" in (project / "c.html").read_text()
    lenient = aifactory("compare", "base.json", "head.json", "--json", cwd=project)
    assert lenient.returncode == 0
    assert json.loads(lenient.stdout)["verdict"] == "regressed"
    backwards = aifactory("compare", "head.json", "base.json", "--fail-on-regression", cwd=project)
    assert backwards.returncode == 0 and "improved" in backwards.stdout
