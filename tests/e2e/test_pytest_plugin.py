"""The pytest plugin end to end: the sample project in examples/pytest, repeats and flaky tests,
the judge, a stored agent on a real server, the run it writes and the gate on it, and a session
that does not use it.

Each run is a pytest of its own in a subprocess. Plugin autoloading is off there and the plugin
is named with ``-p``, so the tests hold whether or not the package was installed since the
entry point was added (one test checks the entry point itself).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes.fake_llm import FakeLLMServer, Reply
from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "pytest"
KEY = "afk_pytest-plugin-key-0123456789abcdefghijklmn"
SAMPLE_TESTS = 6  # three tests and three suite cases; the rubric test needs a judge


def environment(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "COLUMNS": "200",
        **more,
    }


def pytest_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "aifactory.pytest_plugin",
            "-p", "no:cacheprovider", *args]  # fmt: skip


def run_pytest(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pytest_args(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        env=env or environment(cwd),
    )


def sample(tmp_path: Path) -> Path:
    """A copy of the sample project (its tests must not write into the repository)."""
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return copy


def results(path: Path) -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for result in json.loads(path.read_text())["results"]:
        by_name.setdefault(result["test_case"]["name"], []).append(result)
    return by_name


def test_the_sample_project_runs_through_the_plugin_and_writes_a_run(tmp_path: Path) -> None:
    project = sample(tmp_path)
    proc = run_pytest(project, "--aifactory-agent", "agent.yaml", "--aifactory-json", "run.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{SAMPLE_TESTS} passed, 1 skipped" in proc.stdout
    assert "llm_rubric needs a judge" in proc.stdout
    assert f"agent support-bot: {SAMPLE_TESTS} tests, {SAMPLE_TESTS} results" in proc.stdout
    assert "pass rate 100.0% (95% CI 61.0% – 100.0%): 6 passed, 0 failed, 0 errors" in proc.stdout
    assert "run written to run.json" in proc.stdout

    document = json.loads((project / "run.json").read_text())
    assert (document["suite"], document["agent"]) == ("sample", "support-bot")
    assert document["summary"]["passed"] == SAMPLE_TESTS
    by_name = results(project / "run.json")
    refund = by_name["tests/test_support_bot.py::test_refund_window"][0]
    assert refund["status"] == "passed"
    assert refund["output"].startswith("Refunds are possible within 30 days")
    assert [c["type"] for c in refund["checks"]] == ["contains", "not_icontains"]
    assert refund["test_case"]["input"] == "Can I get a refund after 40 days?"
    case = by_name["tests/test_support_bot.py::test_suite_case[order status is JSON]"][0]
    assert [c["type"] for c in case["checks"]] == ["json_valid", "json_path"]
    assert sorted({r["case_index"] for rs in by_name.values() for r in rs}) == list(range(6))


def test_a_failing_expect_is_a_failed_case_and_anything_else_an_error(tmp_path: Path) -> None:
    shutil.copy(SAMPLE / "agent.yaml", tmp_path / "agent.yaml")
    (tmp_path / "test_outcomes.py").write_text(
        "import pytest\n"
        "from aifactory.pytest_plugin import check, expect\n\n"
        "def test_wrong_policy(aifactory_agent):\n"
        "    expect(aifactory_agent('refund after 40 days?')).contains('90 days')\n\n"
        "def test_no_judge(aifactory_agent):\n"
        "    expect(aifactory_agent('refund?')).llm_rubric('polite')\n\n"
        "def test_crash(aifactory_agent):\n"
        "    raise RuntimeError('the test itself broke')\n\n"
        "def test_skipped(aifactory_agent):\n"
        "    pytest.skip('not today')\n\n"
        "def test_plain_strings_need_no_agent():\n"
        "    expect('Refunds within 30 days').icontains('REFUNDS').regex(pattern='\\\\d+ days')\n"
        "    check('{\"a\": 1}', {'type': 'json_path', 'path': '$.a', 'equals': 1})\n\n"
        "def test_unknown_check(aifactory_agent):\n"
        "    expect(aifactory_agent('refund?')).contans('x')\n"
    )
    proc = run_pytest(tmp_path, "--aifactory-agent", "agent.yaml", "--aifactory-json", "r.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4 failed, 1 passed, 1 skipped" in proc.stdout
    by_name = results(tmp_path / "r.json")
    assert set(by_name) == {
        "test_outcomes.py::test_wrong_policy",
        "test_outcomes.py::test_no_judge",
        "test_outcomes.py::test_crash",
        "test_outcomes.py::test_unknown_check",
    }  # the skipped test is no case, the test without the agent neither
    wrong = by_name["test_outcomes.py::test_wrong_policy"][0]
    assert (wrong["status"], wrong["score"]) == ("failed", 0.0)
    assert "Check 'contains' failed: output does not contain '90 days'" in wrong["feedback"]
    assert wrong["checks"][0]["passed"] is False
    no_judge = by_name["test_outcomes.py::test_no_judge"][0]
    assert no_judge["status"] == "error"
    assert "CheckError: Check 'llm_rubric' could not run" in no_judge["error"]
    crash = by_name["test_outcomes.py::test_crash"][0]
    assert crash["status"] == "error" and "RuntimeError: the test itself broke" in crash["error"]
    unknown = by_name["test_outcomes.py::test_unknown_check"][0]
    assert "Check type 'contans' is not known" in unknown["error"]


def test_repeats_give_pass_at_k_and_name_the_flaky_tests(tmp_path: Path) -> None:
    shutil.copy(SAMPLE / "agent.yaml", tmp_path / "agent.yaml")
    (tmp_path / "test_repeats.py").write_text(
        "import pytest\n\n"
        "def test_steady(aifactory_agent):\n"
        "    assert '30 days' in aifactory_agent('refund?')\n\n"
        "def test_flaky(aifactory_agent, aifactory_repeat):\n"
        "    aifactory_agent('refund?')\n"
        "    assert aifactory_repeat != 1, 'the second try fails'\n\n"
        "@pytest.mark.parametrize('word', ['refund', 'password'])\n"
        "def test_words(aifactory_agent, word):\n"
        "    assert aifactory_agent(word).output\n\n"
        "def test_without_the_agent():\n"
        "    pass\n"
    )
    proc = run_pytest(
        tmp_path, "--aifactory-agent", "agent.yaml", "--aifactory-repeat", "3",
        "--aifactory-json", "r.json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 12 passed" in proc.stdout  # 4 tests × 3 repeats, and the plain one once
    assert "test_repeats.py::test_flaky[repeat1] - AssertionError" in proc.stdout
    assert "agent support-bot: 4 tests × 3 repeats, 12 results" in proc.stdout
    assert "pass rate 91.7% (95% CI 64.6% – 98.5%): 11 passed, 1 failed, 0 errors" in proc.stdout
    assert "pass@1 91.7% · pass@3 100.0%" in proc.stdout
    assert "flaky tests (1), passed in some repeats and not others:" in proc.stdout
    assert "  test_repeats.py::test_flaky: 2 of 3 passed, 95% CI 21% – 94%" in proc.stdout
    by_name = results(tmp_path / "r.json")
    assert sorted(by_name) == [
        "test_repeats.py::test_flaky",
        "test_repeats.py::test_steady",
        "test_repeats.py::test_words[password]",
        "test_repeats.py::test_words[refund]",
    ]
    assert [r["repeat_index"] for r in by_name["test_repeats.py::test_flaky"]] == [0, 1, 2]
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["flaky_cases"] == ["test_repeats.py::test_flaky"]
    assert summary["pass_at_k"] == {"1": pytest.approx(11 / 12), "3": 1.0}


def test_the_gate_applies_to_the_run_the_plugin_writes(tmp_path: Path) -> None:
    project = sample(tmp_path)
    spec = yaml.safe_load((project / "agent.yaml").read_text())
    spec["config"]["responses"] = []  # forgets everything: every test fails
    (project / "broken.yaml").write_text(yaml.safe_dump(spec))
    common = ("--aifactory-repeat", "2", "--aifactory-json")
    base = run_pytest(project, "--aifactory-agent", "agent.yaml", *common, "base.json")
    assert base.returncode == 0, base.stdout + base.stderr
    head = run_pytest(project, "--aifactory-agent", "broken.yaml", *common, "head.json")
    assert head.returncode == 1
    gate = subprocess.run(
        [sys.executable, "-m", "aifactory", "compare", "base.json", "head.json",
         "--fail-on-regression", "--markdown", "comment.md"],
        capture_output=True, text=True, cwd=project, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "250"},
    )  # fmt: skip
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "12 pairs · 10 regressed · 0 improved" in gate.stdout  # "stays on topic" holds
    assert "tests/test_support_bot.py::test_refund_window" in gate.stdout
    assert "### Regressions (10)" in (project / "comment.md").read_text()


async def test_llm_rubric_asks_this_machines_judge(tmp_path: Path) -> None:
    project = sample(tmp_path)

    def judge(body: dict[str, Any]) -> Reply:
        polite = "30 days" in json.dumps(body["messages"])
        return Reply(structured={"reasoning": "Explains it.", "score": 0.9, "pass": polite})

    async with FakeLLMServer(judge) as server:
        env = environment(
            project,
            ANTHROPIC_API_KEY="sk-ant-test",
            ANTHROPIC_BASE_URL=server.anthropic_base_url,
            AIFACTORY_JUDGE_MODEL="anthropic:claude-sonnet-4-6",
        )
        proc = await asyncio.create_subprocess_exec(
            *pytest_args("--aifactory-agent", "agent.yaml", "--aifactory-json", "run.json"),
            cwd=project,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, out.decode() + err.decode()
    assert f"{SAMPLE_TESTS + 1} passed" in out.decode()
    (judged,) = results(project / "run.json")["tests/test_support_bot.py::test_refusal_is_polite"]
    (rubric,) = judged["checks"]
    assert (rubric["type"], rubric["score"], rubric["reason"]) == (
        "llm_rubric",
        0.9,
        "Explains it.",
    )
    assert judged["judge_usage"]["input_tokens"] > 0
    assert len(server.requests) == 1
    assert "Politely explains the 30-day refund policy" in json.dumps(server.requests[0].json)


def test_a_stored_agent_answers_from_a_server(tmp_path: Path) -> None:
    project = sample(tmp_path)
    spec = yaml.safe_load((project / "agent.yaml").read_text())
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        with Client(server.url, api_key=KEY) as client:
            client.create_agent(spec)
        proc = run_pytest(
            project, "--aifactory-url", server.url, "--aifactory-agent", "support-bot",
            "--aifactory-key", KEY, "--aifactory-json", "run.json",
            "--aifactory-metadata", "branch=main",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"agent support-bot on {server.url}: {SAMPLE_TESTS} tests" in proc.stdout
        with Client(server.url, api_key=KEY) as client:
            replies = client.list_runs(agent_id="support-bot", limit=100).items
            (written,) = [run for run in replies if run.name == "pytest"]
        # Every reply came from the server (a one-case run each), and the tests are one run.
        assert len(replies) == SAMPLE_TESTS + 1
        assert f"run written to {server.url} as run {written.run_id}" in proc.stdout
        assert (written.status, written.total, written.passed) == ("completed", 6, 6)
        assert written.metadata == {"suite": "sample", "source": "pytest", "branch": "main"}

        # A branch's run meets main's through the same gate: the server's 'latest'.
        proc = run_pytest(
            project, "--aifactory-agent", "agent.yaml", "--aifactory-json", "head.json"
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        gate = subprocess.run(
            [sys.executable, "-m", "aifactory", "compare", "latest", "head.json",
             "--fail-on-regression"],
            capture_output=True, text=True, cwd=project, timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "250",
                 "AIFACTORY_URL": server.url, "AIFACTORY_API_KEY": KEY},
        )  # fmt: skip
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert f"(run {written.run_id}): no significant change" in gate.stdout
    assert json.loads((project / "run.json").read_text())["metadata"] == {"branch": "main"}


def test_a_run_for_an_agent_the_server_lacks_is_said_not_written(tmp_path: Path) -> None:
    project = sample(tmp_path)
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        proc = run_pytest(
            project, "--aifactory-url", server.url, "--aifactory-agent", "agent.yaml",
            "--aifactory-key", KEY,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"error: the run was not written to {server.url}: 404 not_found" in proc.stdout


def test_without_an_agent_the_fixture_says_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(aifactory_agent):\n    pass\n")
    proc = run_pytest(tmp_path)
    assert proc.returncode == 1
    assert "pass --aifactory-agent FILE" in proc.stdout
    bad = run_pytest(tmp_path, "--aifactory-repeat", "0")
    assert bad.returncode == 4
    assert "--aifactory-repeat must be 1 or more" in bad.stderr
    metadata = run_pytest(tmp_path, "--aifactory-metadata", "main")
    assert metadata.returncode == 4
    assert "--aifactory-metadata takes KEY=VALUE (like branch=main), not 'main'" in metadata.stderr


def test_a_session_that_does_not_use_it_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "import pytest\n\n"
        "def test_ok():\n    assert 1\n\n"
        "def test_bad():\n    assert 0, 'plain failure'\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_param(n):\n    assert n\n"
    )
    env = environment(tmp_path)
    without = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env,
    )  # fmt: skip
    with_plugin = run_pytest(tmp_path, "-q")
    assert with_plugin.returncode == without.returncode == 1
    assert "aifactory" not in with_plugin.stdout
    tail = [line for line in without.stdout.splitlines() if " in " in line][-1]
    assert (
        tail.split(" in ")[0]
        == [line for line in with_plugin.stdout.splitlines() if " in " in line][-1].split(" in ")[0]
    )
    assert not list(tmp_path.glob("*.json"))


def test_importing_the_plugin_loads_nothing_of_aifactory_but_itself() -> None:
    probe = (
        "import json, sys\nimport aifactory.pytest_plugin\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('aifactory.', "
        "'pydantic', 'sqlalchemy', 'fastapi', 'httpx')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == ["aifactory.pytest_plugin"]


def test_the_package_declares_the_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {
        "aifactory": "aifactory.pytest_plugin"
    }
    installed = [ep for ep in entry_points(group="pytest11") if ep.name == "aifactory"]
    if not installed:
        message = "the installed package predates the entry point: run 'make install'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert installed[0].value == "aifactory.pytest_plugin"
