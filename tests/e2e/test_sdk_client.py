"""The SDK as a new user meets it: the README's snippet as pasted, and the environment it reads."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from tests.fakes.dashboard import ADMIN_KEY, serve

from aifactory.client import AsyncClient, Client

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_sdk_snippet(text: str) -> str:
    """The Python block of the README's Quickstart that uses the SDK, exactly as written.

    Blank lines stand in for the README above it, so a traceback names the README's own line.
    """
    start = text.index("\n## Quickstart")
    end = text.find("\n## ", start + 1)
    quickstart = re.compile(r"^```python\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)
    found = [
        m
        for m in quickstart.finditer(text, start, end if end != -1 else len(text))
        if "from aifactory import Client" in m.group(1)
    ]
    assert len(found) == 1, "the README's Quickstart has one Python block using the SDK"
    return "\n" * text.count("\n", 0, found[0].start(1)) + found[0].group(1)


def test_the_readme_sdk_snippet_runs_as_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a user has after `bash run_local.sh` and the Quickstart: the demo agent and suite, a
    # key in AIFACTORY_API_KEY, and a fresh Python with nothing else defined.
    with serve(tmp_path / "db.sqlite", AIFACTORY_SEED_DEMO="1") as url:
        monkeypatch.setenv("AIFACTORY_URL", url)
        monkeypatch.setenv("AIFACTORY_API_KEY", ADMIN_KEY)
        snippet = readme_sdk_snippet(README.read_text(encoding="utf-8"))
        exec(compile(snippet, "README.md", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out.split(maxsplit=2)
    # The demo suite has one failure planted on purpose.
    assert printed[:2] == ["5", "1"]
    assert "'low':" in printed[2] and "'high':" in printed[2]


def recorder(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"message": "pong"})

    return httpx.MockTransport(answer)


def test_the_clients_read_the_url_and_key_the_command_line_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []
    monkeypatch.setenv("AIFACTORY_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("AIFACTORY_API_KEY", "afk_from-the-environment")
    with Client(transport=recorder(seen)) as client:
        client.ping()
    with Client("http://127.0.0.1:9000", api_key="afk_given", transport=recorder(seen)) as client:
        client.ping()
    monkeypatch.delenv("AIFACTORY_URL")
    monkeypatch.delenv("AIFACTORY_API_KEY")
    with Client(transport=recorder(seen)) as client:
        client.ping()

    assert [str(r.url) for r in seen] == [
        "http://127.0.0.1:8123/ping",
        "http://127.0.0.1:9000/ping",
        "http://127.0.0.1:8000/ping",
    ]
    assert [r.headers.get("authorization") for r in seen] == [
        "Bearer afk_from-the-environment",
        "Bearer afk_given",
        None,
    ]


async def test_the_async_client_reads_them_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"message": "pong"})

    monkeypatch.setenv("AIFACTORY_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("AIFACTORY_API_KEY", "afk_from-the-environment")
    async with AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await client.ping()
    assert str(seen[0].url) == "http://127.0.0.1:8123/ping"
    assert seen[0].headers["authorization"] == "Bearer afk_from-the-environment"
