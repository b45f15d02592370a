"""``aifactory keys``: what it prints of a key's name or a refused id is exactly that text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def keys(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aifactory", "keys", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(cwd),
            "COLUMNS": "200",
            "DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'db.sqlite'}",
        },
    )


def test_key_names_and_ids_with_square_brackets_print_verbatim(tmp_path: Path) -> None:
    created = keys("create", "[/quote] ci :robot:", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = keys("list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "[/quote] ci :robot:" in listed.stdout
    missing = keys("revoke", "[gone]", cwd=tmp_path)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    (line,) = missing.stderr.strip().splitlines()
    assert "[gone]" in line
