"""``aifactory run`` on the operator's machine: ``${env:NAME}`` reads its own environment.

Without ``AIFACTORY_AGENT_ENV`` a local run reads any variable, except aifactory's and the
providers' own settings; with it set, only what it allows, as on the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.fakes.collector import Collector, start_collector

SUITE = """
name: env
test_cases:
  - name: hello
    input: hello
    checks: [{type: contains, value: collected}]
"""

ENV = {
    "PATH": "/usr/bin:/bin",
    "COLUMNS": "200",
    "AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1",
    "SUPPORT_BOT_TOKEN": "support-bot-token-5e1f",
    "ANTHROPIC_API_KEY": "sk-ant-local-secret-3c7a",
}


async def run(tmp_path: Path, header: str, collector: Collector, **env: str) -> dict[str, Any]:
    agent = tmp_path / "agent.yaml"
    agent.write_text(
        f"kind: http\nconfig:\n  url: {collector.url}/chat\n  headers:\n    X-Token: '{header}'\n",
        encoding="utf-8",
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aifactory",
        "run",
        str(suite),
        "--agent",
        str(agent),
        "--json",
        str(report),
        cwd=tmp_path,
        env=ENV | {"HOME": str(tmp_path)} | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert report.exists(), (out.decode(), err.decode())
    [result] = json.loads(report.read_text())["results"]
    return dict(result)


async def test_a_local_run_reads_the_operators_variables(tmp_path: Path) -> None:
    async with start_collector() as collector:
        result = await run(tmp_path, "${env:SUPPORT_BOT_TOKEN}", collector)
    assert result["status"] == "passed", result
    assert [r.headers["x-token"] for r in collector.requests] == ["support-bot-token-5e1f"]


async def test_a_local_run_never_reads_the_provider_key(tmp_path: Path) -> None:
    async with start_collector() as collector:
        result = await run(tmp_path, "${env:ANTHROPIC_API_KEY}", collector)
    assert result["status"] == "error", result
    assert "one of the server's own settings" in result["error"]
    assert collector.connections == 0


async def test_a_set_allow_list_applies_locally_too(tmp_path: Path) -> None:
    async with start_collector() as collector:
        result = await run(
            tmp_path, "${env:SUPPORT_BOT_TOKEN}", collector, AIFACTORY_AGENT_ENV="TEAM_*"
        )
    assert result["status"] == "error", result
    assert "AIFACTORY_AGENT_ENV does not allow" in result["error"]
    assert collector.connections == 0
