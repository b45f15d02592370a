"""``aifactory report`` and ``compare`` against a real server; ``aifactory run --html``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import junitparser
from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client

KEY = "afk_insights-cli-key-0123456789abcdefghijklmnop"


def cli(*args: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200"}
    if url is not None:
        env |= {"AIFACTORY_SERVER": url, "AIFACTORY_API_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


CASES = [
    {"name": f"refund {i}", "input": f"refund {i}", "checks": [{"type": "contains", "value": "30"}]}
    for i in range(10)
]


def test_compare_fails_on_a_significant_regression_and_report_downloads(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server, Client(server.url, api_key=KEY) as client:
        client.create_agent({"id": "bot", "kind": "scripted", "config": {"default": "30 days"}})
        good = client.submit_batch("bot", test_cases=CASES, name="good").run_id
        client.wait_for_run(good, timeout=60)
        client.update_agent("bot", config={"default": "no idea"})
        bad = client.submit_batch("bot", test_cases=CASES, name="bad").run_id
        client.wait_for_run(bad, timeout=60)

        md, page = tmp_path / "cmp.md", tmp_path / "cmp.html"
        args = ("--fail-on-regression", "--markdown", str(md), "--html", str(page))
        worse = cli("compare", good, bad, *args, cwd=tmp_path, url=server.url)
        assert worse.returncode == 1, worse.stdout + worse.stderr
        assert "regressed" in worse.stdout and "10 regressed" in worse.stdout
        assert "**regressed**" in md.read_text()
        assert "<svg" in page.read_text()

        better = cli("compare", bad, good, "--fail-on-regression", cwd=tmp_path, url=server.url)
        assert better.returncode == 0, better.stdout + better.stderr
        assert "improved" in better.stdout

        xml = tmp_path / "bad.xml"
        got = cli("report", bad, "--format", "junit", "-o", str(xml), cwd=tmp_path, url=server.url)
        assert got.returncode == 0, got.stderr
        (suite,) = list(junitparser.JUnitXml.fromfile(str(xml)))
        assert (suite.tests, suite.failures) == (10, 10)

        missing = cli("report", "no-such-run", cwd=tmp_path, url=server.url)
        assert missing.returncode == 2 and "404 not_found" in missing.stderr


def test_run_writes_an_html_report(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "kind: scripted\nconfig:\n  responses:\n    - {match: france, output: Paris}\n"
        "  default: '<script>alert(1)</script>'\n"
    )
    (tmp_path / "suite.yaml").write_text(
        "name: capitals\ntest_cases:\n"
        "  - {name: france, input: capital of france?, checks: [{type: contains, value: Paris}],"
        " tags: [europe]}\n"
        "  - {name: peru, input: capital of peru?, checks: [{type: contains, value: Lima}],"
        " tags: [americas]}\n"
    )
    report = tmp_path / "report.html"
    proc = cli(
        "run", "suite.yaml", "--agent", "agent.yaml", "--html", str(report), "-q", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    document = report.read_text()
    assert document.startswith("<!DOCTYPE html>")
    assert "capitals" in document and "peru" in document
    # Both cases, the failed one first, the passed one collapsed like it.
    assert document.count('<details class="case"') == 2
    assert document.index('data-status="failed"') < document.index('data-status="passed"')
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "<script>alert(1)" not in document
