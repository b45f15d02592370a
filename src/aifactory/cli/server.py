"""Server-side commands: ``serve``, ``db`` and ``keys``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import console, out

if TYPE_CHECKING:
    from aifactory.queue.runner_process import RunnerProcess
    from aifactory.service.keys import KeyService
    from aifactory.service.schema import SchemaService
    from aifactory.settings import Settings

T = TypeVar("T")

db_app = typer.Typer(help="Database schema: upgrade, downgrade, current.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to serve on ``host`` with settings that would leave the server open.

    See :mod:`aifactory.api.startup`: no authentication beyond loopback, short operator keys,
    a weak session secret, or none beyond loopback. Makes the development session secret on
    loopback, so every worker process finds it made. One line on stderr and exit status 2.
    """
    from aifactory.api.startup import check_server, session_secret
    from aifactory.errors import ConfigError

    try:
        check_server(settings, host)
        session_secret(settings)
    except ConfigError as exc:
        # One line however narrow the terminal: rich would wrap it at the console's width.
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default SERVER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SERVER_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    seed_demo: Annotated[
        bool, typer.Option("--seed-demo/--no-seed-demo", help="Seed a demo agent and suite.")
    ] = True,
) -> None:
    """Run the API: provisions the database first, then serves (SQLite by default).

    With several workers and no AIFACTORY_QUEUE_URL, batches run in one batch runner process
    beside them, at a lower CPU priority (AIFACTORY_BATCH_RUNNER=inline runs them in the workers).
    """
    from aifactory.errors import ConfigError
    from aifactory.service.provisioning import provision_now
    from aifactory.settings import load_settings

    settings = load_settings()
    bind = host or settings.server_host
    bind_port = port or settings.server_port
    check_bind(settings, bind)
    # The app factory of each server process checks the address it is served on again.
    os.environ["SERVER_HOST"] = bind
    try:
        plaintext = provision_now(settings, seed_demo=seed_demo, first_key=True)
    except ConfigError as exc:
        # One line however narrow the terminal: rich would wrap it at the console's width.
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    if plaintext:
        out.print(
            "[bold green]A first admin API key was created. It is shown only this once:[/]\n"
            f"    {plaintext}\n"
            "Use it as 'Authorization: Bearer <key>'; make more with 'aifactory keys create'."
        )
    if workers > 1 or reload:
        os.environ["AIFACTORY_SINGLE_PROCESS"] = "false"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        directory = tempfile.mkdtemp(prefix="aifactory-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
    runner = _batch_runner(settings, workers if not reload else 1)
    out.print(f"Serving on http://{bind}:{bind_port} (docs at /docs, dashboard at /)")
    try:
        _serve(settings, bind, bind_port, workers, reload)
    finally:
        if runner is not None:
            runner.stop(grace_s=settings.shutdown_grace_s)


def _batch_runner(settings: Settings, workers: int) -> RunnerProcess | None:
    """Several server processes and no queue: batches run in one batch runner beside them."""
    from aifactory.queue.runner_process import RunnerProcess

    if workers < 2 or settings.queue_url is not None:
        return None
    os.environ.setdefault("AIFACTORY_BATCH_RUNNER", "process")
    if os.environ["AIFACTORY_BATCH_RUNNER"] != "process":
        return None
    runner = RunnerProcess()
    runner.start()
    return runner


def _serve(settings: Settings, bind: str, bind_port: int, workers: int, reload: bool) -> None:
    import uvicorn

    uvicorn.run(
        "aifactory.api.asgi:app_factory",
        factory=True,
        host=bind,
        port=bind_port,
        workers=workers if not reload else None,
        reload=reload,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None,
    )


def _run(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``: asyncio is imported when a command runs, not by ``aifactory --help``."""
    import asyncio

    return asyncio.run(work)


def _schema() -> SchemaService:
    from aifactory.service.schema import SchemaService
    from aifactory.settings import load_settings

    return SchemaService(load_settings())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database of DATABASE_URL up to REVISION (default: the newest)."""
    out.print(f"Database at revision {_run(_schema().upgrade(revision))}.")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    out.print(f"Database at revision {_run(_schema().downgrade(revision))}.")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision."""
    out.print(_run(_schema().current()) or "none")


async def _with_keys(action: Callable[[KeyService], Awaitable[T]]) -> T:
    from aifactory import bootstrap
    from aifactory.settings import load_settings

    async with bootstrap.keys(load_settings()) as keys:
        return await action(keys)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scope: Annotated[list[str], typer.Option("--scope", help="read, write or admin.")] = [  # noqa: B006
        "read",
        "write",
    ],
) -> None:
    """Create an API key; its secret is printed once."""
    try:
        record, plaintext = _run(_with_keys(lambda keys: keys.create(name, scope)))
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    out.print(f"id {record.id}, scopes {' '.join(record.scopes)}\n{plaintext}")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    page = _run(_with_keys(lambda keys: keys.list(limit=1000, offset=0)))
    table = Table("id", "name", "prefix", "scopes", "created", "revoked")
    for key in page.items:
        table.add_row(
            key.id,
            escape(key.name),
            key.prefix,
            " ".join(key.scopes),
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke an API key."""
    from aifactory.errors import NotFound

    try:
        _run(_with_keys(lambda keys: keys.revoke(key_id)))
    except NotFound as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    out.print(f"Revoked {escape(key_id)}.", highlight=False)
