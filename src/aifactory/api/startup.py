"""What a server checks before it listens, and the secret that signs dashboard sessions.

Every entry point that serves the API refuses to start on settings that would leave it open:
``aifactory serve`` and gunicorn's master (``on_starting``) call :func:`check_server` before they
bind; the app factory each worker process imports calls it again, and :func:`create_app
<aifactory.api.app.create_app>` calls :func:`check_settings`. A refusal is a
:class:`~aifactory.errors.ConfigError` whose message is one line naming the variable to fix (and
never echoing a secret); the entry point prints it and exits with status 2. The rules:

- ``AIFACTORY_AUTH=disabled`` only on a loopback address;
- every operator key of ``AIFACTORY_API_KEYS`` has at least :data:`MIN_SECRET_CHARS` characters;
- ``AIFACTORY_SESSION_SECRET``, when set, has at least :data:`MIN_SECRET_CHARS` characters and is
  not a placeholder;
- a server that requires API keys and listens beyond loopback has ``AIFACTORY_SESSION_SECRET``.

Dashboard sessions and CSRF tokens are signed with the session secret alone, so nothing stored
in the database is enough to forge one. On loopback without the setting (development,
``run_local.sh``), :func:`session_secret` makes a random secret once in
``AIFACTORY_CACHE_DIR/session-secret`` (mode 0600) and reuses it across restarts. The file is
written aside and hard-linked into place, which fails when the name exists: of several worker
processes starting at once exactly one creates it, and every one reads the same value.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shlex
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from aifactory.errors import ConfigError
from aifactory.settings import Settings

MIN_SECRET_CHARS = 32
SECRET_FILE = "session-secret"
MAKE_KEY = "python -c \"import secrets; print('afk_' + secrets.token_urlsafe(32))\""
MAKE_SECRET = "openssl rand -hex 32"
# Words of placeholders people paste from examples; all longer than a random value would
# contain by chance (none can occur in hex at all).
_PLACEHOLDER_WORDS = ("change", "placeholder", "example", "openssl", "replace")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def command_line_hosts(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The addresses a server was told to listen on outside the settings.

    An app imported by name (``uvicorn main:app --host 0.0.0.0``, ``gunicorn main:app -b ...``)
    cannot ask its server where it listens; it reads the server's own options instead:
    ``--host`` and ``UVICORN_HOST`` (uvicorn), ``-b``/``--bind`` and ``GUNICORN_CMD_ARGS``
    (gunicorn; ``unix:`` and ``fd://`` binds are never taken for loopback).
    """
    words = list(argv[1:]) + shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
    hosts = [environ["UVICORN_HOST"]] if environ.get("UVICORN_HOST") else []
    for index, word in enumerate(words):
        option, equals, value = word.partition("=")
        if word.startswith("-b") and word != "-b":
            option, value = "-b", word[2:]  # -b0.0.0.0:8000
        elif option not in ("--host", "-b", "--bind"):
            continue
        elif not equals:
            if index + 1 == len(words):
                continue
            value = words[index + 1]
        if option != "--host" and ":" in value and not value.startswith(("unix:", "fd://")):
            value = value.rsplit(":", 1)[0]  # HOST:PORT
        hosts.append(value)
    return hosts


def operator_keys(settings: Settings) -> list[str]:
    """The keys of ``AIFACTORY_API_KEYS``, in order."""
    if not settings.api_keys:
        return []
    return [key.strip() for key in settings.api_keys.split(",") if key.strip()]


def secret_problem(value: str) -> str | None:
    """Why ``value`` cannot be a secret (phrased to follow its name), or None when it can."""
    if len(value) < MIN_SECRET_CHARS:
        return f"is {len(value)} characters long; it needs at least {MIN_SECRET_CHARS}"
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return "looks like a placeholder copied from an example"
    if len(set(value)) < 8:
        return "repeats too few different characters to be random"
    return None


def check_settings(settings: Settings) -> None:
    """The checks that do not depend on the address: operator keys and the session secret.

    Raises:
        ConfigError: a one-line reason that names the variable and never the secret.
    """
    for number, key in enumerate(operator_keys(settings), start=1):
        if len(key) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"AIFACTORY_API_KEYS: key number {number} is {len(key)} characters long; every "
                f"key needs at least {MIN_SECRET_CHARS}. Make one with: {MAKE_KEY}"
            )
    if settings.session_secret:
        problem = secret_problem(settings.session_secret)
        if problem is not None:
            raise ConfigError(
                f"AIFACTORY_SESSION_SECRET {problem}. Set it to the output of '{MAKE_SECRET}', "
                "the same value on every server process."
            )


def check_server(settings: Settings, host: str) -> None:
    """Everything a server listening on ``host`` must satisfy before it starts.

    Raises:
        ConfigError: a one-line reason that names the variable and never the secret.
    """
    loopback = is_loopback(host)
    if settings.auth == "disabled" and not loopback:
        raise ConfigError(
            f"AIFACTORY_AUTH=disabled is only allowed on a loopback address; refusing to listen "
            f"on {host}. Use API keys, or bind 127.0.0.1."
        )
    check_settings(settings)
    if settings.auth == "required" and not settings.session_secret and not loopback:
        raise ConfigError(
            f"AIFACTORY_SESSION_SECRET is not set; a server that requires API keys and listens on "
            f"{host} needs it to sign dashboard sessions. Set it to the output of "
            f"'{MAKE_SECRET}', the same value on every server process."
        )


def session_secret(settings: Settings) -> str:
    """The secret that signs dashboard sessions: the setting, else this machine's own file.

    Raises:
        ConfigError: the file cannot be made or read, or holds no usable secret.
    """
    if settings.session_secret:
        return settings.session_secret
    return local_secret(Path(settings.cache_dir))


def local_secret(directory: Path) -> str:
    """The secret in ``directory/session-secret``, made (once, atomically) when missing.

    Raises:
        ConfigError: the file cannot be made or read, or holds no usable secret.
    """
    path = directory / SECRET_FILE
    try:
        if not path.exists():
            _create(path)
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"The dashboard's session secret file {path} cannot be used ({exc.strerror or exc}); "
            "set AIFACTORY_SESSION_SECRET, or AIFACTORY_CACHE_DIR to a writable directory."
        ) from exc
    if secret_problem(value) is not None:
        raise ConfigError(
            f"The dashboard's session secret file {path} holds no usable secret; delete it so a "
            "new one is made, or set AIFACTORY_SESSION_SECRET."
        )
    return value


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_hex(32) + "\n")
        # Complete before it has its name, and only one process gives it the name.
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        aside.unlink(missing_ok=True)


__all__ = [
    "MIN_SECRET_CHARS",
    "check_server",
    "check_settings",
    "command_line_hosts",
    "is_loopback",
    "local_secret",
    "operator_keys",
    "secret_problem",
    "session_secret",
]
