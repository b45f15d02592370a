"""The command line starts light: ``aifactory --help`` loads neither the server nor the engine,
nor the SDK, the settings, the models or the reports: Typer and Rich, and the command modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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

ROOT = Path(__file__).resolve().parents[3]

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


GC_PROBE = """
import contextlib, gc, io, json, sys
import aifactory.cli.local_run as local_run
import aifactory.domain.checks as checks
import aifactory.domain.checks.base as base
seen = []
real_run, real_registry = local_run.run_cases, checks.registry

async def watched_run(*args, **kwargs):
    seen.append(("cases", gc.isenabled(), gc.get_freeze_count() > 0))
    return await real_run(*args, **kwargs)

def watched_registry():
    seen.append(("checks", gc.isenabled(), gc.get_freeze_count() > 0))
    return real_registry()

local_run.run_cases = watched_run
checks.registry = base.registry = watched_registry
from aifactory.cli import main
sys.argv = ["aifactory", *{args!r}]
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"code": code, "seen": seen, "after": gc.isenabled()}}))
"""
QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.mark.parametrize(
    ("args", "code", "seen"),
    [
        (
            ["run", str(QUICKSTART / "suite.yaml"), "--agent", str(QUICKSTART / "agent.yaml")],
            1,  # the quickstart's planted failure
            [["checks", False, False], ["cases", True, True]],
        ),
        (["checks", "--json"], 0, [["checks", True, True]]),
        (["--version"], 0, []),
    ],
)
def test_the_collector_is_on_when_the_work_starts_and_after(
    args: list[str], code: int, seen: list[list[object]]
) -> None:
    """``main`` sets up with the garbage collector off: a run turns it on (with what start-up
    made frozen) as its cases start, any other command at once, and it is on however the
    command ends."""
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE.format(args=args)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {"code": code, "seen": seen, "after": True}


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
