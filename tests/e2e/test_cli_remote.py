"""``aifactory submit`` and ``status`` against a real server, through the SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.server_process import running_server, server_env

KEY = "afk_remote-test-key-0123456789abcdefghijklmnop"


def cli(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "COLUMNS": "200",
            "AIFACTORY_SERVER": url,
            "AIFACTORY_API_KEY": KEY,
        },
    )


def test_submit_a_stored_suite_and_a_suite_file(tmp_path: Path) -> None:
    env = server_env(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", AIFACTORY_API_KEYS=KEY
    )
    with running_server(tmp_path, env) as server:
        # The demo suite has one failure planted on purpose.
        proc = cli("submit", "demo-support-bot", "demo-support", cwd=tmp_path, url=server.url)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "4 passed, 1 failed, 0 errors of 5" in proc.stdout
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
