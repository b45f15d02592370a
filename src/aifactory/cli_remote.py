"""Commands that talk to a running server through the SDK: ``submit`` and ``status``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aifactory.api.schemas import RunStatusPublic
from aifactory.client import APIStatusError, Client

console = Console(stderr=True)
out = Console()

ServerOpt = Annotated[
    str,
    typer.Option("--server", envvar="AIFACTORY_SERVER", help="Base URL of the service."),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="AIFACTORY_API_KEY", help="API key (or AIFACTORY_API_KEY)."),
]


def _client(server: str, api_key: str | None) -> Client:
    return Client(server, api_key=api_key or os.environ.get("AIFACTORY_API_KEY"))


def _fail(exc: APIStatusError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc.status} {exc.code}: {exc.message}", highlight=False)
    return typer.Exit(2 if exc.status in (400, 404, 409, 413, 422) else 1)


def submit(
    agent_id: Annotated[str, typer.Argument(help="The stored agent to test.")],
    suite: Annotated[
        str, typer.Argument(help="A stored suite id, or a suite file to import first.")
    ],
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
    repeat: Annotated[int, typer.Option(min=1, max=100)] = 1,
    name: Annotated[str | None, typer.Option(help="A name for the run.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the run to its end.")
    ] = True,
    fail_under: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Retry-safe submission key.")] = None,
) -> None:
    """Run a suite on the server; with --wait exit 0 when it passes, 1 when it fails."""
    with _client(server, api_key) as client:
        try:
            suite_id = suite
            if Path(suite).is_file():
                suite_id = client.import_suite(suite).id
                console.print(f"imported {suite} as suite {suite_id}")
            accepted = client.submit_batch(
                agent_id,
                suite_id=suite_id,
                repeat=repeat,
                name=name,
                idempotency_key=idempotency_key,
            )
            out.print(f"run {accepted.run_id} ({accepted.total} cases) {accepted.status}")
            if not wait:
                return
            status = _follow(client, accepted.run_id, accepted.total)
        except APIStatusError as exc:
            raise _fail(exc) from None
    out.print(
        f"{status.status}: {status.passed} passed, {status.failed} failed, "
        f"{status.errored} errors of {status.total}"
    )
    if status.status != "completed":
        raise typer.Exit(1)
    rate = status.passed / status.total if status.total else 1.0
    ok = rate >= fail_under if fail_under is not None else status.passed == status.total
    raise typer.Exit(0 if ok else 1)


def _follow(client: Client, run_id: str, total: int) -> RunStatusPublic:
    progress = Progress(
        TextColumn("[bold]running"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("run", total=total or None)
        while True:
            status = client.get_status(run_id, results_limit=0)
            progress.update(task, completed=status.completed)
            if status.status in ("completed", "failed", "cancelled"):
                return status
            time.sleep(0.5)


def status(
    run_id: Annotated[str, typer.Argument()],
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
) -> None:
    """Print a run's status as JSON."""
    with _client(server, api_key) as client:
        try:
            run = client.get_run(run_id)
        except APIStatusError as exc:
            raise _fail(exc) from None
    out.print_json(run.model_dump_json())
