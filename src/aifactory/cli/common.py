"""What the commands share: the consoles, exit codes, one-line errors, and the way to a server.

The commands that talk to a running server through the SDK (``submit``, ``status``, ``report``,
``compare``, ``reflect``) take the ``--server`` and ``--api-key`` options (:data:`ServerOpt`,
:data:`KeyOpt`), open the client with :func:`remote`, which turns a server that cannot be
reached, a missing or refused key and every error answer into one line on stderr and exit 2,
and accept the 8-character run ids the dashboard shows through :func:`resolve_run_id`.

Every command module is imported by ``aifactory --help``: what a command needs beyond Typer and
Rich (the SDK and httpx, the engine, the settings, the pydantic models) is imported inside it,
and the annotations Typer reads of its options name only what is imported here already.

Exit codes: 0 the run passed (or the command did its work), 1 the run failed or regressed,
2 the command could not do its work (bad input, no key, server unreachable or an error answer).
"""

from __future__ import annotations

import gc
import os
import re
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from aifactory.errors import InvalidInput

if TYPE_CHECKING:
    import httpx

    from aifactory.client import APIStatusError, Client

# Case names, reasons and outputs are text from suites, agents and judges: every one is
# escaped before Rich reads markup in it, and ``:name:`` codes are never turned into emoji.
console = Console(stderr=True, emoji=False)
"""Progress, notes and errors: stderr."""
out = Console(emoji=False)
"""What the command answers: stdout."""

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""The server when neither ``--server`` nor ``AIFACTORY_URL`` names one: the SDK's default,
written here so that the options' defaults need not import the SDK."""
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


_setting_up = False


@contextmanager
def collector_off_while_setting_up() -> Iterator[None]:
    """The garbage collector off until the command calls :func:`collect_from_here`, and as it
    was before however the command ends.

    Starting a command makes a few hundred thousand objects that live as long as the process:
    modules, classes, pydantic's validators, a suite's cases. The collector finds no garbage
    among them, yet looking took a tenth of ``aifactory run``'s CPU.
    """
    global _setting_up
    was_on = gc.isenabled()
    gc.disable()
    _setting_up = True
    try:
        yield
    finally:
        _setting_up = False
        if was_on:
            gc.enable()


def collect_from_here() -> None:
    """The command is set up: the collector back on, with every object made so far frozen out
    of its sight (``gc.freeze``; garbage cycles start-up left, if any, stay).

    ``run`` calls it as its cases start, the other commands at once. Outside
    :func:`collector_off_while_setting_up` (a test calling a command's code) it does nothing.
    """
    global _setting_up
    if _setting_up:
        _setting_up = False
        gc.freeze()
        gc.enable()


def evaluate_annotations(app: typer.Typer) -> None:
    """Evaluate the annotations of ``app``'s commands and callback (and its groups'), in place.

    Under ``from __future__ import annotations`` they are strings, and Typer evaluates every
    string four times as it builds the command line (``inspect.signature`` and
    ``get_type_hints``, twice a command): about 20 ms of ``aifactory --help``. Once is enough.
    """
    callbacks = [info.callback for info in app.registered_commands]
    if app.registered_callback is not None:
        callbacks.append(app.registered_callback.callback)
    for callback in callbacks:
        if callback is not None:
            callback.__annotations__ = typing.get_type_hints(callback, include_extras=True)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            evaluate_annotations(group.typer_instance)


def error_line(message: str) -> None:
    """``error: message`` on stderr, as one line, the message shown verbatim."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def bad_input(message: str) -> typer.Exit:
    """Say what was wrong with the input in one line; the exit (2) to raise."""
    error_line(message)
    return typer.Exit(EXIT_BAD_INPUT)


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
    import httpx

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


@contextmanager
def remote(server: str, api_key: str | None) -> Iterator[Client]:
    """A client of ``server``; its failures end the command with one line and exit 2.

    Raises:
        typer.Exit: the server cannot be reached, refused the key, or answered an error.
    """
    import httpx

    from aifactory.client import APIStatusError, Client

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


def suite_on_server(client: Client, suite: str) -> str:
    """The server's id of ``suite``: a suite file is imported first, anything else is an id."""
    if not Path(suite).is_file():
        return suite
    suite_id = client.import_suite(suite).id
    console.print(f"imported {escape(suite)} as suite {escape(suite_id)}", highlight=False)
    return suite_id


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


def parse_metadata(items: Sequence[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` options as a mapping.

    Raises:
        InvalidInput: an item without ``=`` or with an empty key.
    """
    metadata: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--metadata takes KEY=VALUE (like branch=main), not {item!r}.")
        metadata[key.strip()] = value.strip()
    return metadata
