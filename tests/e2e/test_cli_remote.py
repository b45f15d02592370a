"""``aifactory submit`` and ``status`` against a real server, through the SDK."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fakes.server_process import free_port, running_server, server_env
from tests.fakes.store_factories import make_case

from aifactory.client import Client
from aifactory.domain.runs import NewRun
from aifactory.settings import load_settings
from aifactory.store import runs_repo
from aifactory.store.database import Database

KEY = "afk_remote-test-key-0123456789abcdefghijklmnop"


def cli(*args: str, cwd: Path, url: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "80", "AIFACTORY_URL": url}
    if key is not None:
        env["AIFACTORY_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The only line a failed command printed (on stderr; nothing on stdout)."""
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    return line


REMOTE_COMMANDS = [
    ("status", "3f2a9c1e"),
    ("report", "3f2a9c1e", "--format", "json"),
    ("compare", "3f2a9c1e", "77aa01bc"),
    ("submit", "demo-support-bot", "demo-support"),
    ("reflect", "demo-support-bot", "demo-support"),
]


@pytest.mark.parametrize("args", REMOTE_COMMANDS, ids=lambda args: args[0])
def test_a_stopped_server_is_one_line_and_exit_two(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = cli(*args, cwd=tmp_path, url=url)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc)
    assert line.startswith(f"error: cannot reach the server at {url}")
    assert "aifactory serve" in line and "AIFACTORY_URL" in line


def test_submit_a_stored_suite_and_a_suite_file(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        # The demo suite has one failure planted on purpose.
        proc = cli("submit", "demo-support-bot", "demo-support", cwd=tmp_path, url=server.url)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "5 passed, 1 failed, 0 errors of 6" in proc.stdout
        run_id = proc.stdout.split()[1]
        status = cli("status", run_id, cwd=tmp_path, url=server.url)
        assert status.returncode == 0
        assert json.loads(status.stdout)["status"] == "completed"

        suite = tmp_path / "refunds.yaml"
        suite.write_text(
            "name: refunds\ntest_cases:\n"
            "  - {name: window, input: refund?, checks: [{type: contains, value: 30 days}]}\n"
        )
        proc = cli("submit", "demo-support-bot", str(suite), cwd=tmp_path, url=server.url)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1 passed, 0 failed, 0 errors of 1" in proc.stdout

        missing = cli("submit", "nobody", "demo-support", cwd=tmp_path, url=server.url)
        assert missing.returncode == 2
        assert "404 not_found" in missing.stderr


def test_keys_run_id_prefixes_and_their_errors(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    with running_server(
        tmp_path, server_env(DATABASE_URL=db_url, AIFACTORY_API_KEYS=KEY)
    ) as server:
        url = server.url
        # No key anywhere, then a wrong one: exit 2 (not 1, which means the suite failed).
        for key, says in ((None, "needs an API key"), ("afk_wrong", "refused the API key")):
            proc = cli("status", "3f2a9c1e", cwd=tmp_path, url=url, key=key)
            assert proc.returncode == 2, proc.stderr
            line = one_line(proc)
            assert f"the server at {url} {says}" in line
            assert "pass --api-key KEY or set AIFACTORY_API_KEY" in line

        with Client(url, api_key=KEY) as client:
            client.create_agent({"id": "bot", "kind": "scripted", "config": {"default": "ok"}})
            cases = [
                {"name": f"c{i}", "input": "x", "checks": [{"type": "contains", "value": "ok"}]}
                for i in range(3)
            ]
            base = client.submit_batch("bot", test_cases=cases).run_id
            head = client.submit_batch("bot", test_cases=cases).run_id
            client.wait_for_run(base, timeout=60)
            client.wait_for_run(head, timeout=60)

        # The dashboard shows the first 8 characters of a run id.
        status = cli("status", base[:8], cwd=tmp_path, url=url)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["run_id"] == base
        compared = cli("compare", base[:8], head[:8], "--json", cwd=tmp_path, url=url)
        assert compared.returncode == 0, compared.stderr
        body = json.loads(compared.stdout)
        assert (body["base"]["run_id"], body["head"]["run_id"]) == (base, head)

        twins = ("abcd1234-0000-4000-8000-000000000001", "abcd1234-0000-4000-8000-000000000002")
        asyncio.run(add_runs(db_url, twins))
        ambiguous = cli("compare", "abcd1234", head[:8], cwd=tmp_path, url=url)
        assert ambiguous.returncode == 2
        line = one_line(ambiguous)
        assert "2 runs have an id starting with 'abcd1234'" in line
        assert twins[0] in line and twins[1] in line
        unknown = cli("report", "0123abcd", cwd=tmp_path, url=url)
        assert unknown.returncode == 2
        assert "no run's id starts with '0123abcd'" in one_line(unknown)


async def add_runs(database_url: str, run_ids: tuple[str, ...]) -> None:
    """Runs with chosen ids, written straight into the server's database."""
    db = Database.from_settings(load_settings({"DATABASE_URL": database_url}))
    try:
        async with db.write() as session:
            for run_id in run_ids:
                new = NewRun(agent_id="bot", agent_version=1, id=run_id)
                await runs_repo.create_run_with_pending_results(session, new, [make_case(0)])
    finally:
        await db.dispose()
