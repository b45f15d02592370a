"""``aifactory reflect`` against a real server whose model provider is the fake Anthropic server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.fake_llm import FakeLLMServer
from tests.fakes.reflection import HINT, MODEL, Script, agent_spec, improving, suite_spec
from tests.fakes.server_process import running_server, server_env

from aifactory.client import Client

KEY = "afk_reflect-test-key-0123456789abcdefghijklmnop"


@contextmanager
def fake_llm_in_thread(script: Script) -> Iterator[FakeLLMServer]:
    """The fake provider on its own event loop, so blocking calls here do not stall it."""
    loop = asyncio.new_event_loop()
    server = FakeLLMServer(script)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


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


def test_reflect_follows_the_loop_and_writes_its_report(tmp_path: Path) -> None:
    with fake_llm_in_thread(Script(improving)) as fake:
        env = server_env(
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            AIFACTORY_API_KEYS=KEY,
            ANTHROPIC_API_KEY="sk-ant-test",
            ANTHROPIC_BASE_URL=fake.anthropic_base_url,
            AIFACTORY_REFLECTOR_MODEL=f"anthropic:{MODEL}",
        )
        with running_server(tmp_path, env) as server:
            with Client(server.url, api_key=KEY) as client:
                client.create_agent(agent_spec())
                client.create_suite(suite_spec())
            report = tmp_path / "reflection.md"
            proc = cli(
                "reflect",
                "coder",
                "codes",
                "--holdout",
                "0.5",
                "--target-pass-rate",
                "0.95",
                "--poll-s",
                "0.1",
                "--report",
                str(report),
                cwd=tmp_path,
                url=server.url,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "completed: stopped by target_reached; v2 accepted" in proc.stdout
            assert "baseline v1: train 25%, holdout 25%" in proc.stderr
            assert "iteration 1: 2 candidate(s) from v1" in proc.stderr
            assert "v2: holdout 100%, p = " in proc.stderr and "→ accepted" in proc.stderr
            assert "#### v2: accepted" in report.read_text()
            with Client(server.url, api_key=KEY) as client:
                agent = client.get_agent("coder")
            assert agent.version == 2 and HINT in agent.config["system_prompt"]

            missing = cli("reflect", "nobody", "codes", cwd=tmp_path, url=server.url)
            assert missing.returncode == 2 and "404 not_found" in missing.stderr
