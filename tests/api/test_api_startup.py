"""What a server refuses to start with, and the session secret of a development server."""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.fakes.service import ADMIN_KEY, Service

from aifactory.api.app import create_app
from aifactory.api.startup import (
    check_server,
    check_settings,
    command_line_hosts,
    local_secret,
    session_secret,
)
from aifactory.errors import ConfigError
from aifactory.settings import load_settings

STRONG_SECRET = "0f9e8d7c6b5a49382716a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
LONG_KEY = "k" * 31 + "9"  # 32 characters: the shortest key that is accepted


@pytest.mark.parametrize("key", ["hunter2", "afk_short", "x" * 31])
def test_a_short_operator_key_is_refused_in_one_line_that_does_not_show_it(key: str) -> None:
    settings = load_settings({"AIFACTORY_API_KEYS": f"{ADMIN_KEY}, {key}"})
    with pytest.raises(ConfigError) as refused:
        check_settings(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("AIFACTORY_API_KEYS: key number 2 ")
    assert "at least 32" in message
    assert key not in message and ADMIN_KEY not in message
    # The app refuses to be built with it, so no entry point can serve it.
    with pytest.raises(ConfigError, match="AIFACTORY_API_KEYS"):
        create_app(settings)


def test_keys_of_32_characters_or_more_are_accepted() -> None:
    check_settings(load_settings({"AIFACTORY_API_KEYS": f"{LONG_KEY},{ADMIN_KEY}"}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_public_server_requiring_keys_needs_the_session_secret(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_server(load_settings({"AIFACTORY_API_KEYS": ADMIN_KEY}), host)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("AIFACTORY_SESSION_SECRET is not set")
    assert "openssl rand -hex 32" in message
    check_server(
        load_settings({"AIFACTORY_API_KEYS": ADMIN_KEY, "AIFACTORY_SESSION_SECRET": STRONG_SECRET}),
        host,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_loopback_server_starts_without_the_session_secret(host: str) -> None:
    check_server(load_settings({}), host)


def test_no_server_listens_beyond_loopback_without_authentication() -> None:
    settings = load_settings({"AIFACTORY_AUTH": "disabled", "AIFACTORY_SESSION_SECRET": ""})
    with pytest.raises(ConfigError, match="AIFACTORY_AUTH=disabled is only allowed on a loop"):
        check_server(settings, "0.0.0.0")


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("s3cr3t", "is 6 characters long"),
        ("0123456789abcdef0123456789abcde", "is 31 characters long"),
        ("change-me-change-me-change-me-change-me", "placeholder"),
        ("<replace with: openssl rand -hex 32>", "placeholder"),
        ("ab" * 32, "too few different characters"),
    ],
)
def test_short_or_placeholder_session_secrets_are_refused(secret: str, reason: str) -> None:
    settings = load_settings({"AIFACTORY_SESSION_SECRET": secret})
    for check in (lambda: check_settings(settings), lambda: check_server(settings, "127.0.0.1")):
        with pytest.raises(ConfigError) as refused:
            check()
        message = str(refused.value)
        assert message.startswith("AIFACTORY_SESSION_SECRET ") and reason in message
        assert secret not in message and "\n" not in message


def test_the_development_secret_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings({"AIFACTORY_CACHE_DIR": str(tmp_path / "cache")})
    first = session_secret(settings)
    path = tmp_path / "cache" / "session-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert session_secret(settings) == first  # a restart signs with the same secret
    assert session_secret(load_settings({"AIFACTORY_SESSION_SECRET": STRONG_SECRET})) == (
        STRONG_SECRET
    )


def test_processes_starting_at_once_agree_on_one_development_secret(tmp_path: Path) -> None:
    program = (
        "import sys; from pathlib import Path; "
        "from aifactory.api.startup import local_secret; "
        "print(local_secret(Path(sys.argv[1])))"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", program, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    secrets = {worker.communicate(timeout=60)[0].strip() for worker in workers}
    assert all(worker.returncode == 0 for worker in workers)
    assert secrets == {local_secret(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["session-secret"]


def test_a_damaged_secret_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "session-secret").write_text("short\n")
    with pytest.raises(ConfigError, match="delete it so a new one is made"):
        local_secret(tmp_path)


@pytest.fixture
def service_env(tmp_path: Path) -> dict[str, object]:
    # A development server: no AIFACTORY_SESSION_SECRET, so the cache directory's is used.
    return {"AIFACTORY_SESSION_SECRET": "", "AIFACTORY_CACHE_DIR": str(tmp_path / "cache")}


async def test_a_copy_of_the_database_forges_no_session_on_a_development_server(
    service: Service, tmp_path: Path
) -> None:
    async with service.raw() as http:
        page = await http.get("/signin")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = await http.post("/signin", data={"api_key": ADMIN_KEY, "csrf_token": token[1]})
        assert signed_in.status_code == 303
        genuine = http.cookies["aif_session"]
        assert (await http.get("/", follow_redirects=False)).status_code == 200
    assert (tmp_path / "cache" / "session-secret").exists()
    key_id, issued, nonce, _ = genuine.split(".")
    async with service.app.state.services.db.session() as session:
        key_hash = (
            await session.execute(
                text("SELECT key_hash FROM api_keys WHERE id = :id"), {"id": key_id}
            )
        ).scalar_one()
    payload = f"{key_id}.{issued}.{nonce}"
    # What the former scheme signed with when AIFACTORY_SESSION_SECRET was unset (the default).
    signing_key = hmac.new(b"", key_hash.encode("ascii"), hashlib.sha256).digest()
    forged = hmac.new(signing_key, payload.encode(), hashlib.sha256).hexdigest()
    for mac in (forged, hmac.new(b"", f"{payload}.{key_hash}".encode(), "sha256").hexdigest()):
        transport = httpx.ASGITransport(service.app)
        async with httpx.AsyncClient(
            base_url="http://test", transport=transport, cookies={"aif_session": f"{payload}.{mac}"}
        ) as forger:
            answer = await forger.get("/", follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/signin")


@pytest.mark.parametrize(
    ("argv", "environ", "hosts"),
    [
        (["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"], {}, ["0.0.0.0"]),
        (["uvicorn", "main:app", "--host=::"], {}, ["::"]),
        (["gunicorn", "main:app", "-b", "0.0.0.0:80", "-b[::1]:81"], {}, ["0.0.0.0", "[::1]"]),
        (["gunicorn", "main:app", "--bind=unix:/run/app.sock"], {}, ["unix:/run/app.sock"]),
        (["gunicorn", "main:app"], {"GUNICORN_CMD_ARGS": "--bind 10.1.2.3:80"}, ["10.1.2.3"]),
        (["uvicorn", "main:app"], {"UVICORN_HOST": "192.0.2.1"}, ["192.0.2.1"]),
        (["uvicorn", "main:app", "--port", "8000"], {}, []),
    ],
)
def test_an_app_imported_by_name_reads_where_its_server_listens(
    argv: list[str], environ: dict[str, str], hosts: list[str]
) -> None:
    assert command_line_hosts(argv, environ) == hosts
