"""``aifactory submit`` and ``aifactory status``: runs on a server, through the SDK."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from aifactory.cli.common import (
    DEFAULT_BASE_URL,
    EXIT_FAILED,
    KeyOpt,
    ServerOpt,
    bad_input,
    console,
    error_line,
    out,
    parse_metadata,
    remote,
    resolve_run_id,
    suite_on_server,
)
from aifactory.errors import InvalidInput

if TYPE_CHECKING:
    from aifactory.client import Client
    from aifactory.client_shapes import RunStatusPublic


def submit(
    agent_id: Annotated[str, typer.Argument(help="The stored agent to test.")],
    suite: Annotated[
        str, typer.Argument(help="A stored suite id, or a suite file to import first.")
    ],
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
    repeat: Annotated[int, typer.Option(min=1, max=100)] = 1,
    name: Annotated[str | None, typer.Option(help="A name for the run.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the run to its end.")
    ] = True,
    fail_under: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Retry-safe submission key.")] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=VALUE on the run (repeatable); branch=main makes it a --baseline latest."
        ),
    ] = None,
) -> None:
    """Run a suite on the server; with --wait exit 0 when it passes, 1 when it fails."""
    try:
        meta = parse_metadata(metadata)
    except InvalidInput as exc:
        raise bad_input(str(exc)) from None
    with remote(server, api_key) as client:
        suite_id = suite_on_server(client, suite)
        accepted = client.submit_batch(
            agent_id,
            suite_id=suite_id,
            repeat=repeat,
            name=name,
            metadata=meta or None,
            idempotency_key=idempotency_key,
        )
        out.print(
            f"run {accepted.run_id} ({accepted.total} cases) {accepted.status}", highlight=False
        )
        if not wait:
            return
        status = _follow(client, accepted.run_id, accepted.total)
    out.print(
        f"{status.status}: {status.passed} passed, {status.failed} failed, "
        f"{status.errored} errors of {status.total}",
        highlight=False,
    )
    if status.error:
        error_line(status.error)
    if status.status != "completed":
        raise typer.Exit(EXIT_FAILED)
    rate = status.passed / status.total if status.total else 1.0
    ok = rate >= fail_under if fail_under is not None else status.passed == status.total
    raise typer.Exit(0 if ok else EXIT_FAILED)


def _follow(client: Client, run_id: str, total: int) -> RunStatusPublic:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from aifactory.domain.runs import TERMINAL

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
            if status.status in TERMINAL:
                return status
            time.sleep(0.5)


def status(
    run_id: Annotated[str, typer.Argument(help="The run's id, or its first 8 characters.")],
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Print a run's status as JSON."""
    with remote(server, api_key) as client:
        run = client.get_run(resolve_run_id(client, run_id))
    out.print_json(run.model_dump_json())
