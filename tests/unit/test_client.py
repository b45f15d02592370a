"""The SDK stands alone: importing it, or anything ``aifactory`` exports, loads no server code."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER = ("aifactory.api", "aifactory.service", "aifactory.store", "fastapi", "sqlalchemy")

PROBE = """
import json, sys
{imports}
server = {server!r}
inside = tuple(name + "." for name in server)
print(json.dumps(sorted(m for m in sys.modules if m in server or m.startswith(inside))))
"""


def server_modules_after(imports: str) -> list[str]:
    """The server modules a fresh interpreter holds after running ``imports``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports, server=SERVER)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_sdk_loads_no_server_code() -> None:
    assert server_modules_after("import aifactory.client") == []


def test_every_exported_name_loads_no_server_code() -> None:
    imports = "import aifactory\nfor name in aifactory.__all__: getattr(aifactory, name)"
    assert server_modules_after(imports) == []


def test_the_probe_sees_server_code() -> None:
    loaded = set(server_modules_after("import aifactory.api.app"))
    assert {"aifactory.api", "fastapi", "sqlalchemy"} <= loaded
