"""The command line starts light: ``aifactory --help`` loads neither the server nor the engine."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("fastapi", "sqlalchemy", "aifactory.bootstrap", "aifactory.engine", "aifactory.store")

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


def test_every_command_is_registered_in_order() -> None:
    from aifactory.cli import app

    names = [command.name for command in app.registered_commands]
    groups = [group.name for group in app.registered_groups]
    assert names == [
        "run",
        "checks",
        "serve",
        "worker",
        "smoke",
        "submit",
        "status",
        "report",
        "compare",
        "reflect",
    ]
    assert groups == ["db", "keys", "review"]
