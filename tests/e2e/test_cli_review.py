"""``aifactory review agreement`` and ``review export`` against a real server, with the sync SDK."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.review_data import Judged, SeededRun, judged_run
from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client
from aifactory.store.database import Database

KEY = "afk_review-cli-key-0123456789abcdefghijklmnopq"
AGENT = "support-bot"


def cli(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "COLUMNS": "250",
        "AIFACTORY_SERVER": url,
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


def seed(url: str) -> SeededRun:
    async def go() -> SeededRun:
        db = Database.from_url(url)
        try:
            cases = [Judged(f"case {i}", s) for i, s in enumerate([0.9, 0.8, 0.7, 0.2, 0.1, 0.6])]
            return await judged_run(db, AGENT, cases)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_agreement_table_json_and_a_golden_set_that_runs(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    env = server_env(DATABASE_URL=url, AIFACTORY_API_KEYS=KEY)
    with running_server(tmp_path, env) as server:
        empty = cli("review", "agreement", "--agent", AGENT, cwd=tmp_path, url=server.url)
        assert empty.returncode == 0, empty.stderr
        assert "no labeled result" in empty.stdout

        run = seed(url)
        people = [True, True, False, False, False, True]  # the judge: pass pass pass fail fail pass
        with Client(server.url, api_key=KEY) as client:
            for result_id, passed in zip(run.result_ids, people, strict=True):
                client.add_label(result_id, passed=passed)
            assert client.list_labels(run.result_ids[0]).total == 1
            assert client.review_queue(run_id=run.run_id, strategy="unlabeled").items == []

        table = cli("review", "agreement", "--agent", AGENT, cwd=tmp_path, url=server.url)
        assert table.returncode == 0, table.stderr
        assert "llm_rubric" in table.stdout and "States that refunds take 30 days." in table.stdout
        assert "83%" in table.stdout  # 5 of 6 agree

        as_json = cli(
            "review", "agreement", "--agent", AGENT, "--json", cwd=tmp_path, url=server.url
        )
        assert as_json.returncode == 0, as_json.stderr
        (item,) = json.loads(as_json.stdout)["items"]
        assert item["labeled"] == 6
        assert item["confusion"] == {"tp": 3, "fp": 1, "fn": 0, "tn": 2}

        golden = tmp_path / "golden.yaml"
        args = ("review", "export", "--agent", AGENT, "-o", str(golden))
        exported = cli(*args, cwd=tmp_path, url=server.url)
        assert exported.returncode == 0, exported.stderr
        assert "wrote" in exported.stderr + exported.stdout

        stdout = cli(
            "review", "export", "--agent", AGENT, "-f", "jsonl", cwd=tmp_path, url=server.url
        )
        assert stdout.returncode == 0 and len(stdout.stdout.splitlines()) == 6

        missing = cli("review", "export", "--agent", "nobody", cwd=tmp_path, url=server.url)
        assert missing.returncode == 2 and "404 not_found" in missing.stderr

    # The golden set runs as a suite (no judge is configured here, so its rubric checks error:
    # what matters is that every case is read back and run).
    (tmp_path / "agent.yaml").write_text("kind: scripted\nconfig:\n  default: 30 days.\n")
    report = tmp_path / "report.json"
    ran = cli(
        "run", str(golden), "--agent", "agent.yaml", "--json", str(report), "-q",
        cwd=tmp_path, url="http://127.0.0.1:9",
    )  # fmt: skip
    assert ran.returncode in (0, 1), ran.stdout + ran.stderr
    results = json.loads(report.read_text())["results"]
    assert sorted(r["test_case"]["name"] for r in results) == [f"case {i}" for i in range(6)]
    assert {tuple(r["test_case"]["tags"]) for r in results} == {
        ("golden", "human-pass"),
        ("golden", "human-fail"),
    }
