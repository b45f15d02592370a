"""The CI gate with a baseline on a server: ``--server URL --baseline latest`` (the agent's newest
completed run of the suite with metadata branch main) or a run id, against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client

KEY = "afk_gate-server-test-key-0123456789abcdefghijkl"
GOOD = {"default": "ok, done"}
BAD = {
    "responses": [{"match": f"q{i}", "output": "nope"} for i in range(6)],
    "default": "ok, done",
}


def cli(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "COLUMNS": "250",
        "AIFACTORY_URL": url,
        "AIFACTORY_API_KEY": KEY,
    }
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


def write_suite(path: Path, name: str) -> Path:
    lines = [f"name: {name}", "test_cases:"]
    lines += [
        f"  - {{name: 'case {i}', input: 'question q{i}', checks: [{{type: contains, value: ok}}]}}"
        for i in range(10)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_agent(
    path: Path, config: dict[str, object], agent_id: str | None = "support-bot"
) -> Path:
    spec: dict[str, object] = {"kind": "scripted", "config": config}
    if agent_id:
        spec["id"] = agent_id
    path.write_text(json.dumps(spec))
    return path


def submitted(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.stdout.split()[1]


def test_latest_is_the_newest_completed_main_run_of_the_suite(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite.yaml", "gate demo")
    write_suite(tmp_path / "other.yaml", "other suite")
    write_agent(tmp_path / "bad.json", BAD)
    write_agent(tmp_path / "good.json", GOOD)
    write_agent(tmp_path / "anonymous.json", BAD, agent_id=None)
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        url = server.url
        with Client(url, api_key=KEY) as client:
            client.create_agent({"id": "support-bot", "kind": "scripted", "config": GOOD})

        # On main: the suite passes. Then, newer, a main run of another suite, and a branch's
        # run of this suite with the agent broken; 'latest' must pass over both.
        main_run = submitted(
            cli("submit", "support-bot", "suite.yaml", "--metadata", "branch=main", cwd=tmp_path,
                url=url)
        )  # fmt: skip
        submitted(
            cli("submit", "support-bot", "other.yaml", "--metadata", "branch=main", cwd=tmp_path,
                url=url)
        )  # fmt: skip
        with Client(url, api_key=KEY) as client:
            client.update_agent("support-bot", config=BAD)
        branch_run = submitted(
            cli("submit", "support-bot", "suite.yaml", "--metadata", "branch=feature",
                "--metadata", "pr=12", cwd=tmp_path, url=url)
        )  # fmt: skip
        status = json.loads(cli("status", branch_run, cwd=tmp_path, url=url).stdout)
        assert status["metadata"] == {"branch": "feature", "pr": "12"}

        proc = cli(
            "run", "suite.yaml", "--agent", "bad.json", "-q", "--baseline", "latest",
            "--fail-on-regression", "--fail-under", "0", "--markdown", "comment.md",
            cwd=tmp_path, url=url,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"against the baseline (run {main_run}): regressed" in proc.stdout
        assert "10 pairs · 6 regressed · 0 improved" in proc.stdout
        comment = (tmp_path / "comment.md").read_text()
        escaped = main_run.replace("-", "\\-")
        assert f"Baseline: run {escaped} (agent support\\-bot v1, branch main)." in comment

        # The same run named by the 8 characters the dashboard shows.
        by_id = cli(
            "run", "suite.yaml", "--agent", "good.json", "-q", "--baseline", main_run[:8],
            "--fail-on-regression", cwd=tmp_path, url=url,
        )  # fmt: skip
        assert by_id.returncode == 0, by_id.stdout + by_id.stderr
        assert f"(run {main_run}): no significant change" in by_id.stdout

        # The branch's run as the baseline: this run improved on it.
        improved = cli(
            "run", "suite.yaml", "--agent", "good.json", "-q", "--baseline", branch_run,
            cwd=tmp_path, url=url,
        )  # fmt: skip
        assert improved.returncode == 0 and "improved" in improved.stdout

        # Baselines that cannot be: exit 2, before anything runs.
        no_id = cli(
            "run", "suite.yaml", "--agent", "anonymous.json", "--baseline", "latest",
            cwd=tmp_path, url=url,
        )  # fmt: skip
        assert no_id.returncode == 2
        assert "give the agent file an 'id'" in no_id.stderr
        missing = cli(
            "run", "suite.yaml", "--agent", "bad.json", "--baseline", "0000000000",
            cwd=tmp_path, url=url,
        )  # fmt: skip
        assert missing.returncode == 2
        assert "no run's id starts with '0000000000'" in missing.stderr


def test_latest_without_a_main_run_says_how_to_make_one(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite.yaml", "gate demo")
    write_agent(tmp_path / "good.json", GOOD)
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        with Client(server.url, api_key=KEY) as client:
            client.create_agent({"id": "support-bot", "kind": "scripted", "config": GOOD})
        submitted(cli("submit", "support-bot", "suite.yaml", cwd=tmp_path, url=server.url))
        proc = cli(
            "run", "suite.yaml", "--agent", "good.json", "--baseline", "latest", "--json", "h.json",
            cwd=tmp_path, url=server.url,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "The server has no completed run of agent 'support-bot' on suite 'gate demo' with "
        "metadata branch: main (looked at its 1 newest completed runs)"
    ) in proc.stderr
    assert "aifactory submit AGENT SUITE --metadata branch=main" in proc.stderr
    assert not (tmp_path / "h.json").exists()


def test_a_run_recorded_on_main_is_the_baseline_of_the_next(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite.yaml", "gate demo")
    write_agent(tmp_path / "good.json", GOOD)
    write_agent(tmp_path / "bad.json", BAD)
    write_agent(tmp_path / "stranger.json", GOOD, agent_id="stranger")
    write_agent(tmp_path / "anonymous.json", GOOD, agent_id=None)
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        url = server.url
        with Client(url, api_key=KEY) as client:
            # The stored agent's config is not what runs: the agent file here is.
            client.create_agent({"id": "support-bot", "kind": "scripted", "config": BAD})
        main = cli(
            "run", "suite.yaml", "--agent", "good.json", "-q", "--record",
            "--metadata", "branch=main", "--metadata", "commit=abc", cwd=tmp_path, url=url,
        )  # fmt: skip
        assert main.returncode == 0, main.stdout + main.stderr
        (line,) = [x for x in main.stderr.splitlines() if x.startswith("recorded as run ")]
        run_id = line.split()[3]
        with Client(url, api_key=KEY) as client:
            stored = client.get_run(run_id)
        assert (stored.status, stored.total, stored.passed, stored.name) == (
            "completed", 10, 10, "gate demo",
        )  # fmt: skip
        assert stored.metadata == {"suite": "gate demo", "branch": "main", "commit": "abc"}

        pr = cli(
            "run", "suite.yaml", "--agent", "bad.json", "-q", "--baseline", "latest",
            "--fail-on-regression", "--fail-under", "0", cwd=tmp_path, url=url,
        )  # fmt: skip
        assert pr.returncode == 1, pr.stdout + pr.stderr
        assert f"against the baseline (run {run_id}): regressed" in pr.stdout

        for agent_file, says in (
            ("stranger.json", "404 not_found: No agent with id 'stranger' exists"),
            ("anonymous.json", "give the agent file an id"),
        ):
            refused = cli(
                "run", "suite.yaml", "--agent", agent_file, "--record", "--json", "x.json",
                cwd=tmp_path, url=url,
            )  # fmt: skip
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert says in refused.stderr
            assert not (tmp_path / "x.json").exists()  # refused before anything ran


def test_record_needs_a_server(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite.yaml", "gate demo")
    write_agent(tmp_path / "good.json", GOOD)
    proc = subprocess.run(
        [sys.executable, "-m", "aifactory", "run", "suite.yaml", "--agent", "good.json",
         "--record"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--record stores the run on a server: give --server URL." in proc.stderr
