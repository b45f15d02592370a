"""Commands that talk to a running server through the SDK: ``submit`` and ``status``.

Also what every such command shares (``report``, ``compare`` and ``reflect`` too): the
``--server`` and ``--api-key`` options, :func:`remote` that turns a server that cannot be reached,
a missing or refused key and every error answer into one line on stderr and exit 2, and
:func:`resolve_run_id` that accepts the 8-character run ids the dashboard shows.

Exit codes: 0 the run passed (or the command did its work), 1 the run failed or regressed,
2 the command could not do its work (bad input, no key, server unreachable or an error answer).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aifactory.api.schemas import RunStatusPublic
from aifactory.client import DEFAULT_BASE_URL, APIStatusError, Client

console = Console(stderr=True, emoji=False)
out = Console(emoji=False)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

KEY_HINT = "pass --api-key KEY or set AIFACTORY_API_KEY"
SERVER_ENV = ["AIFACTORY_URL", "AIFACTORY_SERVER"]

ServerOpt = Annotated[
    str,
    typer.Option("--server", envvar=SERVER_ENV, help="Base URL of the service (or AIFACTORY_URL)."),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="AIFACTORY_API_KEY", help="API key (or AIFACTORY_API_KEY)."),
]

_FULL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{3,34}")
_CANDIDATES_SHOWN = 5


def error_line(message: str) -> None:
    """``error: message`` on stderr, as one line, the message shown verbatim."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _client(server: str, api_key: str | None) -> Client:
    return Client(server, api_key=api_key or os.environ.get("AIFACTORY_API_KEY"))


def _fail(exc: APIStatusError, server: str | None = None, *, keyed: bool = True) -> typer.Exit:
    """One line for an error answer; exit 2 (a failed or regressed run is 1, never this)."""
    where = f"the server at {server}" if server else "the server"
    if exc.status == 401:
        if keyed:
            error_line(
                f"{where} refused the API key ({exc.message}); {KEY_HINT} with a key of "
                "this server (make one with 'aifactory keys create NAME')."
            )
        else:
            error_line(
                f"{where} needs an API key: {KEY_HINT} ('aifactory serve' printed one on its "
                "first start; make more with 'aifactory keys create NAME')."
            )
    else:
        error_line(f"{exc.status} {exc.code}: {exc.message}")
    return typer.Exit(EXIT_BAD_INPUT)


def _unreachable(server: str, exc: httpx.TransportError) -> typer.Exit:
    if isinstance(exc, httpx.TimeoutException):
        why = "it did not answer in time"
    elif isinstance(exc, httpx.ConnectError):
        why = "nothing answers there"
    else:
        why = f"{type(exc).__name__}: {exc}"
    error_line(
        f"cannot reach the server at {server} ({why}). Start it with 'aifactory serve' "
        "(or 'bash run_local.sh'), or point --server or AIFACTORY_URL at a running one."
    )
    return typer.Exit(EXIT_BAD_INPUT)


def suite_on_server(client: Client, suite: str) -> str:
    """The server's id of ``suite``: a suite file is imported first, anything else is an id."""
    if not Path(suite).is_file():
        return suite
    suite_id = client.import_suite(suite).id
    console.print(f"imported {escape(suite)} as suite {escape(suite_id)}", highlight=False)
    return suite_id


@contextmanager
def remote(server: str, api_key: str | None) -> Iterator[Client]:
    """A client of ``server``; its failures end the command with one line and exit 2.

    Raises:
        typer.Exit: the server cannot be reached, refused the key, or answered an error.
    """
    key = api_key or os.environ.get("AIFACTORY_API_KEY") or None
    try:
        with Client(server, api_key=key) as client:
            yield client
    except APIStatusError as exc:
        raise _fail(exc, server, keyed=key is not None) from None
    except httpx.InvalidURL as exc:
        error_line(
            f"the server URL {server!r} is not valid ({exc}); give one like {DEFAULT_BASE_URL}."
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except httpx.UnsupportedProtocol:
        error_line(f"the server URL {server!r} must start with http:// or https://.")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except httpx.TransportError as exc:
        raise _unreachable(server, exc) from None


def resolve_run_id(client: Client, run_id: str) -> str:
    """The full id of the run ``run_id`` names: itself, or the one run whose id starts with it.

    The dashboard shows the first 8 characters of a run's id; they are enough here when no
    other run's id starts with them.

    Raises:
        typer.Exit: no run's id starts with it, or several do (they are listed).
    """
    text = run_id.strip().lower()
    if _FULL_ID.fullmatch(text) or not _ID_PREFIX.fullmatch(text):
        return run_id
    page = client.list_runs(id_prefix=text, limit=_CANDIDATES_SHOWN)
    if page.total == 1:
        return page.items[0].run_id
    if page.total == 0:
        error_line(
            f"no run's id starts with {run_id!r}; copy the id from the dashboard or from "
            "'aifactory submit'."
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    shown = ", ".join(
        f"{r.run_id} ({r.name or r.agent_id}, {r.created_at:%Y-%m-%d %H:%M})" for r in page.items
    )
    more = f" and {page.total - len(page.items)} more" if page.total > len(page.items) else ""
    error_line(
        f"{page.total} runs have an id starting with {run_id!r}: {shown}{more}. "
        "Give more of the id."
    )
    raise typer.Exit(EXIT_BAD_INPUT)


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
) -> None:
    """Run a suite on the server; with --wait exit 0 when it passes, 1 when it fails."""
    with remote(server, api_key) as client:
        suite_id = suite_on_server(client, suite)
        accepted = client.submit_batch(
            agent_id,
            suite_id=suite_id,
            repeat=repeat,
            name=name,
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
    run_id: Annotated[str, typer.Argument(help="The run's id, or its first 8 characters.")],
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
) -> None:
    """Print a run's status as JSON."""
    with remote(server, api_key) as client:
        run = client.get_run(resolve_run_id(client, run_id))
    out.print_json(run.model_dump_json())
