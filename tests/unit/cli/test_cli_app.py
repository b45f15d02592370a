"""The command line starts light: ``aifactory --help`` loads neither the server nor the engine,
nor the SDK, the settings, the models or the reports: Typer and Rich, and the command modules."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    # the server, its database and the engine
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "aifactory.api",
    "aifactory.web",
    "aifactory.bootstrap",
    "aifactory.service",
    "aifactory.queue",
    "aifactory.store",
    "aifactory.engine",
    "aifactory.agents",
    "aifactory.llm",
    # the SDK and HTTP clients
    "httpx",
    "aiohttp",
    "aifactory.client",
    "aifactory.client_shapes",
    # settings, models, suite files and reports
    "pydantic",
    "pydantic_settings",
    "yaml",
    "jinja2",
    "aifactory.settings",
    "aifactory.domain",
    "aifactory.reports",
    # the standard library's own heavier parts (asyncio alone is a tenth of the budget)
    "asyncio",
)

PROBE = """
import contextlib, io, json, sys
from aifactory.cli import main
sys.argv = ["aifactory", "--help"]
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
heavy = {heavy!r}
inside = tuple(name + "." for name in heavy)
print(json.dumps(sorted(m for m in sys.modules if m in heavy or m.startswith(inside))))
"""


def test_help_loads_neither_the_server_nor_the_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == []


def test_the_default_server_is_the_sdks() -> None:
    from aifactory.cli.common import DEFAULT_BASE_URL
    from aifactory.client import DEFAULT_BASE_URL as SDK_DEFAULT

    assert DEFAULT_BASE_URL == SDK_DEFAULT


def test_every_command_is_registered_in_order() -> None:
    from aifactory.cli import app

    names = [command.name for command in app.registered_commands]
    groups = [group.name for group in app.registered_groups]
    assert names == [
        "run",
        "checks",
        "serve",
        "worker",
        "batch-runner",
        "smoke",
        "submit",
        "status",
        "report",
        "compare",
        "reflect",
    ]
    assert groups == ["db", "keys", "review"]
    # Started by gunicorn and `serve --workers N`, never by hand: not listed in --help.
    hidden = [command.name for command in app.registered_commands if command.hidden]
    assert hidden == ["batch-runner"]
