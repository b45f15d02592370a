"""The GitHub Action: its comment poster against a fake GitHub REST API on 127.0.0.1 (create on
the first run, edit on the next), and the action's own steps run as a runner runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from tests.fakes.github import FakeGitHub

from aifactory.ci import github_comment
from aifactory.reports.gate import MARKER

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_fake-token-for-tests"
REPO = "acme/support-bot"
BIN = str(Path(sys.executable).parent)


def event(tmp_path: Path, payload: Mapping[str, Any]) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


def github_env(github: FakeGitHub, event_path: Path, **more: str) -> dict[str, str]:
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(event_path.parent),
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_PATH": str(event_path),
        **more,
    }


def post(markdown: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory.ci.github_comment", str(markdown), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(env),
    )


def test_the_marker_is_the_reports_marker() -> None:
    assert github_comment.MARKER == MARKER


def test_the_first_run_creates_the_comment_and_a_rerun_edits_it(tmp_path: Path) -> None:
    pr = event(tmp_path, {"action": "synchronize", "pull_request": {"number": 7}})
    comment = tmp_path / "comment.md"
    with FakeGitHub(TOKEN) as github:
        github.add_comment(REPO, 7, "Looks good to me")
        env = github_env(github, pr)

        comment.write_text(f"{MARKER}\n## 🔴 refunds: **regressed**\n")
        first = post(comment, env)
        assert first.returncode == 0, first.stderr
        (created,) = github.writes()
        assert (created.method, created.path) == ("POST", f"/repos/{REPO}/issues/7/comments")
        assert created.body == {"body": f"{MARKER}\n## 🔴 refunds: **regressed**\n"}
        assert created.headers["authorization"] == f"Bearer {TOKEN}"
        assert created.headers["accept"] == "application/vnd.github+json"
        assert created.headers["x-github-api-version"] == "2022-11-28"
        comment_id = github.comments[(REPO, 7)][-1]["id"]
        assert first.stdout.strip() == f"created comment {comment_id} on {REPO}#7"

        comment.write_text(f"{MARKER}\n## 🟢 refunds: **improved**\n")
        second = post(comment, env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip() == f"updated comment {comment_id} on {REPO}#7"
        edited = github.writes()[-1]
        assert (edited.method, edited.path) == (
            "PATCH",
            f"/repos/{REPO}/issues/comments/{comment_id}",
        )
        bodies = [c["body"] for c in github.comments[(REPO, 7)]]
        assert bodies == ["Looks good to me", f"{MARKER}\n## 🟢 refunds: **improved**\n"]
        assert [c.method for c in github.writes()] == ["POST", "PATCH"]


def test_the_comment_is_found_on_a_later_page(tmp_path: Path) -> None:
    pr = event(tmp_path, {"pull_request": {"number": 3}})
    comment = tmp_path / "comment.md"
    comment.write_text("no marker in the file")
    with FakeGitHub(TOKEN) as github:
        for i in range(130):
            github.add_comment(REPO, 3, f"comment {i} quotes {MARKER} but does not start with it")
        ours = github.add_comment(REPO, 3, f"{MARKER}\nold")
        proc = post(comment, github_env(github, pr))
        assert proc.returncode == 0, proc.stderr
        pages = [c.query["page"] for c in github.calls if c.method == "GET"]
        assert pages == [["1"], ["2"]]
        (edited,) = github.writes()
        assert edited.path == f"/repos/{REPO}/issues/comments/{ours}"
        assert edited.body == {"body": f"{MARKER}\nno marker in the file"}


def test_an_issue_comment_event_and_an_explicit_number_work(tmp_path: Path) -> None:
    issue = event(tmp_path, {"issue": {"number": 9, "pull_request": {}}})
    comment = tmp_path / "comment.md"
    comment.write_text(MARKER)
    with FakeGitHub(TOKEN) as github:
        assert post(comment, github_env(github, issue)).returncode == 0
        assert post(comment, github_env(github, issue), "--pr", "11").returncode == 0
        assert [c.path for c in github.writes()] == [
            f"/repos/{REPO}/issues/9/comments",
            f"/repos/{REPO}/issues/11/comments",
        ]


def test_outside_a_pull_request_nothing_is_posted(tmp_path: Path) -> None:
    push = event(tmp_path, {"ref": "refs/heads/main", "after": "abc"})
    comment = tmp_path / "comment.md"
    comment.write_text(MARKER)
    with FakeGitHub(TOKEN) as github:
        proc = post(comment, github_env(github, push))
        assert proc.returncode == 0
        assert "not a pull request" in proc.stderr
        assert github.calls == []


def test_a_read_only_token_is_exit_one_saying_why(tmp_path: Path) -> None:
    pr = event(tmp_path, {"pull_request": {"number": 5}})
    comment = tmp_path / "comment.md"
    comment.write_text(MARKER)
    with FakeGitHub(TOKEN, refuse=True) as github:
        proc = post(comment, github_env(github, pr))
    assert proc.returncode == 1
    assert "answered 403" in proc.stderr
    assert "permissions: pull-requests: write" in proc.stderr


def test_missing_settings_are_bad_input(tmp_path: Path) -> None:
    pr = event(tmp_path, {"pull_request": {"number": 5}})
    comment = tmp_path / "comment.md"
    comment.write_text(MARKER)
    with FakeGitHub(TOKEN) as github:
        env = github_env(github, pr)
        del env["GITHUB_TOKEN"]
        proc = post(comment, env)
        assert proc.returncode == 2 and "GITHUB_TOKEN" in proc.stderr
        missing = post(tmp_path / "nothing.md", github_env(github, pr))
        assert missing.returncode == 2 and "cannot read" in missing.stderr
        assert github.calls == []


def test_an_unreachable_api_is_exit_one(tmp_path: Path) -> None:
    pr = event(tmp_path, {"pull_request": {"number": 5}})
    comment = tmp_path / "comment.md"
    comment.write_text(MARKER)
    with FakeGitHub(TOKEN) as github:
        env = github_env(github, pr)
    proc = post(comment, env)  # the server is gone
    assert proc.returncode == 1
    assert "cannot reach" in proc.stderr


def test_a_body_over_githubs_limit_is_cut() -> None:
    body = github_comment.comment_body("x" * 70_000)
    assert body.startswith(MARKER + "\n")
    assert len(body) <= 65_536
    assert body.endswith("…cut to fit a comment; the job's log has the whole report.\n")


# -- the action's steps, run as a GitHub runner runs them ---------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


def expand(text: str, context: Mapping[str, str]) -> str:
    """``${{ name }}`` expressions (the only kind the action's values use) from ``context``."""
    return _EXPRESSION.sub(lambda m: expand(context[m.group(1)], context), text)


class Runner:
    """Runs the action's bash steps with the inputs and GitHub's environment."""

    def __init__(self, tmp_path: Path, github: FakeGitHub, inputs: Mapping[str, str]) -> None:
        self.action = yaml.safe_load((ROOT / "action.yml").read_text())
        self.tmp_path = tmp_path
        self.context: dict[str, str] = {
            "github.action_path": str(ROOT),
            "github.token": TOKEN,
            "runner.temp": str(tmp_path / "runner-temp"),
        }
        (tmp_path / "runner-temp").mkdir(exist_ok=True)
        for name, spec in self.action["inputs"].items():
            self.context[f"inputs.{name}"] = inputs.get(name, str(spec.get("default", "")))
        pr = event(tmp_path, {"pull_request": {"number": 42}})
        self.env = github_env(github, pr, GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
        del self.env["GITHUB_TOKEN"]  # the action passes its own input

    def step(self, step_id: str) -> subprocess.CompletedProcess[str]:
        (step,) = [s for s in self.action["runs"]["steps"] if s.get("id") == step_id]
        assert step["shell"] == "bash"
        outputs = self.tmp_path / f"output-{step_id}"
        outputs.write_text("")
        env = {k: expand(str(v), self.context) for k, v in step.get("env", {}).items()}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.tmp_path,
            env={**self.env, **env, "GITHUB_OUTPUT": str(outputs)},
        )
        for line in outputs.read_text().splitlines():
            key, _, value = line.partition("=")
            self.context[f"steps.{step_id}.outputs.{key}"] = value
        return proc


def test_the_action_gates_comments_once_and_fails_the_job_on_a_regression(
    tmp_path: Path,
) -> None:
    lines = ["name: refunds", "test_cases:"]
    lines += [
        f"  - {{name: 'case {i}', input: 'q{i}', checks: [{{type: contains, value: ok}}]}}"
        for i in range(8)
    ]
    (tmp_path / "suite.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "good.yaml").write_text("id: bot\nkind: scripted\nconfig: {default: ok}\n")
    rules = "".join(f"    - {{match: q{i}, output: nope}}\n" for i in range(6))
    (tmp_path / "bad.yaml").write_text(
        f"id: bot\nkind: scripted\nconfig:\n  responses:\n{rules}  default: ok\n"
    )
    made = subprocess.run(
        [sys.executable, "-m", "aifactory", "run", "suite.yaml", "--agent", "good.yaml", "-q",
         "--json", "main.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr

    with FakeGitHub(TOKEN) as github:
        inputs = {"suite": "suite.yaml", "agent": "bad.yaml", "baseline": "main.json"}
        runner = Runner(tmp_path, github, inputs)
        gate = runner.step("gate")
        assert gate.returncode == 0, gate.stderr  # the step records the exit code, then the
        assert runner.context["steps.gate.outputs.exit-code"] == "1"  # verdict step fails
        report = Path(runner.context["steps.gate.outputs.report"])
        assert report.read_text().startswith(MARKER)
        assert (tmp_path / "summary.md").read_text() == report.read_text()
        comment = runner.step("comment")
        assert comment.returncode == 0, comment.stderr
        verdict = runner.step("verdict")
        assert verdict.returncode == 1
        assert "::error title=aifactory gate::The suite failed or regressed" in verdict.stdout
        (created,) = github.writes()
        assert created.path == f"/repos/{REPO}/issues/42/comments"
        assert "**regressed**" in created.body["body"]

        # The fix is pushed: the job re-runs, edits the same comment and passes.
        runner = Runner(tmp_path, github, {**inputs, "agent": "good.yaml"})
        assert runner.step("gate").returncode == 0
        assert runner.context["steps.gate.outputs.exit-code"] == "0"
        assert runner.step("comment").returncode == 0
        assert runner.step("verdict").returncode == 0
        assert [c.method for c in github.writes()] == ["POST", "PATCH"]
        (ours,) = github.comments[(REPO, 42)]
        assert "**no significant change**" in ours["body"]
        assert "The gate passes" in ours["body"]


def test_bad_input_fails_the_job_with_exit_two(tmp_path: Path) -> None:
    with FakeGitHub(TOKEN) as github:
        runner = Runner(tmp_path, github, {"suite": "missing.yaml", "agent": "agent.yaml"})
        assert runner.step("gate").returncode == 0
        assert runner.context["steps.gate.outputs.exit-code"] == "2"
        comment = runner.step("comment")
        assert "no comment" in comment.stdout
        verdict = runner.step("verdict")
        assert verdict.returncode == 2
        assert github.calls == []


def test_inputs_reach_the_shell_only_through_the_environment() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {
        "suite", "agent", "baseline", "server-url", "api-key", "threshold",
    }  # fmt: skip
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step.get("id")
    (comment,) = [s for s in action["runs"]["steps"] if s.get("id") == "comment"]
    assert comment["continue-on-error"] is True
    assert "pull_request" in comment["if"]
