"""Where the CI gate's baseline comes from: a run's ``--json`` file, or a run on a server;
and how a run made here is recorded on a server to be one (``aifactory run --record``).

``--baseline FILE`` reads the JSON document ``aifactory run --json`` (or the pytest plugin's
``--aifactory-json``) wrote. With ``--server URL``, ``--baseline`` may instead name a server's
run by its id (or the 8 characters the dashboard shows), or be ``latest``: the agent's newest
completed run of the same suite whose metadata says ``branch: main`` (runs get metadata with
``aifactory submit … --metadata branch=main``). A server's run is read through the SDK, its
results page by page.

``--record`` stores the run made here on the server (``POST /api/v1/runs/import``) as a run of
the agent its file's ``id`` names, with ``--metadata`` and the suite's name: run on main with
``--metadata branch=main``, it is what ``latest`` finds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aifactory.cli.common import remote, resolve_run_id
from aifactory.client import APIStatusError, Client
from aifactory.client_shapes import RunPublic
from aifactory.domain.baseline import RunFigures, figures_of, read_baseline
from aifactory.domain.models import TestResult
from aifactory.errors import InvalidInput

LATEST = "latest"
MAIN = {"branch": "main"}
"""What ``latest`` asks of a run's metadata."""
RESULTS_PAGE = 1000
RUNS_PAGE = 200
RUNS_SCANNED = 2000
"""How many of the agent's newest completed runs ``latest`` looks through."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """The baseline's figures, and what it is, in words, for the report."""

    figures: RunFigures
    source: str


def locate(
    base: str, *, server: str | None, api_key: str | None, agent: str | None, suite: str
) -> Baseline:
    """The baseline ``base`` names: a ``--json`` file, or with ``server`` a run there.

    Raises:
        InvalidInput: it cannot be read, or names a server's run without a server.
        typer.Exit: the server cannot be reached or refused the key (said in one line).
    """
    if is_file_reference(base):
        return read_file(Path(base))
    if server is None:
        raise InvalidInput(
            f"There is no baseline file {base}; a run id or 'latest' is read from a server: "
            "give --server URL (or set AIFACTORY_URL), or the --json file of an earlier run."
        )
    return read_server(server, api_key, base, agent=agent, suite=suite)


def is_file_reference(base: str) -> bool:
    """Whether ``base`` names a file rather than a server's run: an existing file, or a name
    ending in ``.json`` (a missing one is then said to be missing, not looked up)."""
    return Path(base).is_file() or base.lower().endswith(".json")


def read_file(path: Path) -> Baseline:
    """The baseline in a ``--json`` file.

    Raises:
        InvalidInput: it cannot be read or is not a run's ``--json`` output.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"The baseline file {path} does not exist. Give the --json file of an earlier run, "
            "or with --server a run id or 'latest'."
        ) from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read the baseline file {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The baseline file {path} is not UTF-8 text.") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The baseline file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    return Baseline(read_baseline(document, source=str(path)), path.name)


def read_server(
    server: str, api_key: str | None, base: str, *, agent: str | None, suite: str
) -> Baseline:
    """The baseline on a server: a run by its id, or ``latest`` of ``agent`` on ``suite``.

    Raises:
        InvalidInput: no such run, or one that has not completed.
        typer.Exit: the server cannot be reached or refused the key (said in one line).
    """
    with remote(server, api_key) as client:
        if base.strip().lower() == LATEST:
            if not agent:
                raise InvalidInput(
                    "--baseline latest finds the agent's runs by its id on the server; give "
                    "the agent file an 'id' (the stored agent's)."
                )
            run = _latest(client, agent, suite)
        else:
            run = _named(client, base)
        results = _results(client, run.run_id)
        figures = figures_of(
            results,
            suite=_suite_name(client, run, {}),
            agent=run.agent_id,
            agent_version=run.agent_version,
            run_id=run.run_id,
            metadata=run.metadata,
            summary=run.summary or {},
        )
    return Baseline(figures, f"run {run.run_id}")


def _named(client: Client, base: str) -> RunPublic:
    run = client.get_run(resolve_run_id(client, base))
    if run.status != "completed":
        raise InvalidInput(
            f"The baseline run {run.run_id} is {run.status}; a baseline must be a completed run."
        )
    return run


def _latest(client: Client, agent: str, suite: str) -> RunPublic:
    names: dict[str, str | None] = {}
    offset = 0
    while offset < RUNS_SCANNED:
        page = client.list_runs(agent_id=agent, status="completed", limit=RUNS_PAGE, offset=offset)
        for run in page.items:
            if all(run.metadata.get(k) == v for k, v in MAIN.items()) and (
                _suite_name(client, run, names) == suite
            ):
                return run
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    raise InvalidInput(
        f"The server has no completed run of agent {agent!r} on suite {suite!r} with metadata "
        f"branch: main (looked at its {offset} newest completed runs). Run the suite on main "
        "first: 'aifactory submit AGENT SUITE --metadata branch=main'."
    )


def _suite_name(client: Client, run: RunPublic, names: dict[str, str | None]) -> str | None:
    """The name of the suite a run ran: its metadata's ``suite``, else its stored suite's."""
    named = run.metadata.get("suite")
    if isinstance(named, str) and named:
        return named
    if run.suite_id is None:
        return None
    if run.suite_id not in names:
        try:
            names[run.suite_id] = client.get_suite(run.suite_id, cases_limit=0).name
        except APIStatusError as exc:  # a deleted suite: its runs keep their cases, not its name
            if exc.status != 404:
                raise
            names[run.suite_id] = None
    return names[run.suite_id]


def _results(client: Client, run_id: str) -> list[TestResult]:
    results: list[TestResult] = []
    while True:
        page = client.run_results(run_id, limit=RESULTS_PAGE, offset=len(results))
        results.extend(page.items)
        if not page.items or len(results) >= page.total:
            return results


def check_recordable(server: str, api_key: str | None, agent: str | None) -> str:
    """The agent's id, once the server is known to hold that agent (before anything runs).

    Raises:
        InvalidInput: the agent file has no id.
        typer.Exit: the server cannot be reached, refused the key, or has no such agent.
    """
    if not agent:
        raise InvalidInput(
            "--record stores the run as a run of the agent its file's 'id' names on the server; "
            "give the agent file an id (the stored agent's)."
        )
    with remote(server, api_key) as client:
        client.get_agent(agent)
    return agent


def record(
    server: str,
    api_key: str | None,
    *,
    agent: str,
    suite: str,
    metadata: Mapping[str, str],
    results: Iterable[TestResult],
) -> str:
    """Store a finished run on the server; the id it got there.

    Raises:
        typer.Exit: the server cannot be reached or refused it (said in one line).
    """
    with remote(server, api_key) as client:
        run = client.import_run(
            agent, list(results), name=suite, metadata={"suite": suite, **metadata}
        )
    return run.run_id
