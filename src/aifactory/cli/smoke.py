"""``aifactory smoke URL``: the post-deploy validator (also ``test_api_deployment.py URL``).

Calls every seed endpoint of a running server once, in the order a user would (health, ping,
a single run, a 10-case batch, its status until it completes, the agent's results, the
metrics), checks each answer's status and shape, and holds each response time to what the
original deployment promised (:class:`Targets`): 50 ms for ``/health``, 20 ms for ``/ping``,
100 ms to accept a batch, 30 s for a single run (which waits for the agent), and its p95 of
800 ms for any other request. Each is a flag (``--health-ms`` …), for a server far away or a
busy machine. Prints a pass/fail table; exits 0 when every row passed, 1 otherwise.

The key is ``--api-key`` or, when that is not given, ``AIFACTORY_API_KEY``; the command says
which it used, or that it has none (then every ``/api/v1`` check fails with a 401 saying so).

The scripted demo agent ``demo-support-bot`` is registered first when the server does not
have it (``--agent-id`` names another agent to test, which must exist).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import EXIT_FAILED, EXIT_PASSED, out
from aifactory.demo import DEMO_AGENT, DEMO_SUITE

if TYPE_CHECKING:
    # httpx is imported where a check runs: ``aifactory --help`` imports this module.
    import httpx

BATCH_SIZE = 10
KEY_VARIABLE = "AIFACTORY_API_KEY"

Json = dict[str, Any]
Validator: TypeAlias = "Callable[[httpx.Response], str | None]"
"""Returns what is wrong with a response, or None when it is right."""


@dataclass(frozen=True, slots=True)
class Targets:
    """How long each answer may take, in ms; by default what the original deployment promised."""

    health_ms: float = 50.0
    ping_ms: float = 20.0
    batch_ms: float = 100.0
    """Accepting a batch (``POST /api/v1/test/batch`` answers before the cases run)."""
    run_ms: float = 30_000.0
    """A single run, which waits for the agent's answer and the checks."""
    request_ms: float = 800.0
    """Every other request: the original's p95."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the verdict: a request, how long it took, and what was wrong, if anything."""

    check: str
    passed: bool
    status: int | None = None
    ms: float | None = None
    target_ms: float | None = None
    detail: str = ""


def _missing(body: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    absent = [k for k in keys if k not in body]
    return f"missing {', '.join(absent)}" if absent else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_result(item: Any, agent_id: str) -> str | None:
    keys = ("id", "run_id", "agent_id", "status", "passed", "score", "checks", "latency_ms")
    if wrong := _missing(item, keys):
        return f"result: {wrong}"
    if item["agent_id"] != agent_id:
        return f"result of agent {item['agent_id']!r}, expected {agent_id!r}"
    if item["status"] not in ("passed", "failed", "error"):
        return f"result status {item['status']!r} is not passed, failed or error"
    if not isinstance(item["score"], int | float) or not 0 <= item["score"] <= 1:
        return f"score {item['score']!r} is not in [0, 1]"
    return None


class Smoke:
    """The checks against one server, with the rows they produced."""

    def __init__(
        self,
        client: httpx.Client,
        agent_id: str,
        batch_timeout_s: float,
        targets: Targets | None = None,
    ) -> None:
        self.client = client
        self.agent_id = agent_id
        self.batch_timeout_s = batch_timeout_s
        self.targets = targets or Targets()
        self.rows: list[Row] = []

    def call(
        self,
        check: str,
        method: str,
        path: str,
        *,
        expect: int | tuple[int, ...] = 200,
        validate: Validator | None = None,
        target_ms: float | None = None,
        body: Json | None = None,
    ) -> httpx.Response | None:
        """One request, timed and judged; its row is added; the response when it passed."""
        import httpx

        target_ms = self.targets.request_ms if target_ms is None else target_ms
        started = time.perf_counter()
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.rows.append(Row(check, False, detail=f"no answer: {type(exc).__name__}: {exc}"))
            return None
        ms = (time.perf_counter() - started) * 1000
        expected = (expect,) if isinstance(expect, int) else expect
        problem: str | None
        if response.status_code not in expected:
            problem = f"HTTP {response.status_code}, expected {' or '.join(map(str, expected))}"
            if response.status_code == 401:
                sent = "authorization" in self.client.headers
                problem += "; the key was refused" if sent else "; no API key was sent"
                problem += f": pass a valid key with --api-key (or {KEY_VARIABLE})"
            error = _json(response)
            if isinstance(error, dict) and isinstance(error.get("error"), dict):
                problem += f": {error['error'].get('message', '')}"
        elif "x-request-id" not in response.headers:
            problem = "no X-Request-ID header"
        else:
            problem = validate(response) if validate else None
        if problem is None and ms > target_ms:
            problem = f"took {ms:.0f} ms, over the {target_ms:.0f} ms target"
        self.rows.append(
            Row(check, problem is None, response.status_code, ms, target_ms, problem or "")
        )
        return response if problem is None else None

    def skip(self, check: str, because: str) -> None:
        self.rows.append(Row(check, False, detail=f"not tried: {because}"))

    def run(self) -> list[Row]:
        """Every check in order; later ones are skipped when what they need failed."""
        targets = self.targets
        self.call("GET /health", "GET", "/health", validate=_health, target_ms=targets.health_ms)
        if self.rows[-1].status is None:
            return self.rows  # nothing answers there: one clear row says so
        self.call("GET /ping", "GET", "/ping", validate=_pong, target_ms=targets.ping_ms)
        if not self._agent_ready():
            for check in ("POST /api/v1/test/run", "POST /api/v1/test/batch"):
                self.skip(check, f"agent {self.agent_id} is not available")
        else:
            self._single_run()
            self._batch()
        self.call(
            f"GET /api/v1/agents/{self.agent_id}/results",
            "GET",
            f"/api/v1/agents/{self.agent_id}/results",
            validate=self._results_page,
        )
        self.call("GET /api/v1/metrics", "GET", "/api/v1/metrics", validate=_metrics)
        return self.rows

    def _agent_ready(self) -> bool:
        path = f"/api/v1/agents/{self.agent_id}"
        response = self.call(f"agent {self.agent_id} exists", "GET", path, expect=(200, 404))
        if response is None:
            return False
        if response.status_code == 200:
            return True
        if self.agent_id != DEMO_AGENT["id"]:
            missing = self.rows[-1]
            detail = "no such agent: register it first, or leave out --agent-id for the demo one"
            self.rows[-1] = Row(missing.check, False, 404, missing.ms, missing.target_ms, detail)
            return False
        created = self.call(
            "POST /api/v1/agents (demo)", "POST", "/api/v1/agents", expect=201, body=DEMO_AGENT
        )
        return created is not None

    def _single_run(self) -> None:
        case = DEMO_SUITE["test_cases"][0]
        demo = self.agent_id == DEMO_AGENT["id"]

        def validate(response: httpx.Response) -> str | None:
            body = _json(response)
            if wrong := _is_result(body, self.agent_id):
                return wrong
            if demo and not body["passed"]:
                return f"the demo agent failed its refund case: {body.get('feedback')!r}"
            return None

        self.call(
            "POST /api/v1/test/run",
            "POST",
            "/api/v1/test/run",
            validate=validate,
            target_ms=self.targets.run_ms,
            body={"agent_id": self.agent_id, "test_case": case},
        )

    def _batch(self) -> None:
        cases = DEMO_SUITE["test_cases"]
        batch = [{**cases[i % len(cases)], "name": f"smoke {i + 1}"} for i in range(BATCH_SIZE)]

        def accepted(response: httpx.Response) -> str | None:
            body = _json(response)
            if wrong := _missing(body, ("run_id", "status", "total", "status_url")):
                return wrong
            if body["total"] != BATCH_SIZE:
                return f"total {body['total']}, expected {BATCH_SIZE}"
            return None

        response = self.call(
            "POST /api/v1/test/batch",
            "POST",
            "/api/v1/test/batch",
            expect=202,
            validate=accepted,
            target_ms=self.targets.batch_ms,
            body={"agent_id": self.agent_id, "test_cases": batch, "name": "smoke test"},
        )
        if response is None:
            self.skip("GET /api/v1/test/status/{id}", "the batch was not accepted")
            return
        run_id = response.json()["run_id"]
        path = f"/api/v1/test/status/{run_id}"
        status = self.call("GET /api/v1/test/status/{id}", "GET", path, validate=_run_status)
        if status is None:
            return
        self._wait_for(run_id, path)

    def _wait_for(self, run_id: str, path: str) -> None:
        import httpx

        from aifactory.domain.runs import TERMINAL

        started = time.perf_counter()
        deadline = started + self.batch_timeout_s
        body: Json = {}
        while time.perf_counter() < deadline:
            try:
                body = self.client.get(path).json()
            except (httpx.HTTPError, ValueError) as exc:
                self.rows.append(Row("batch completes", False, detail=f"polling failed: {exc}"))
                return
            if body.get("status") in TERMINAL:
                break
            time.sleep(0.2)
        ms = (time.perf_counter() - started) * 1000
        target = self.batch_timeout_s * 1000
        if body.get("status") != "completed":
            detail = f"run {run_id} is {body.get('status')!r} after {ms / 1000:.1f} s"
            self.rows.append(Row("batch completes", False, 200, ms, target, detail))
        elif body.get("completed") != BATCH_SIZE:
            detail = f"{body.get('completed')} of {BATCH_SIZE} cases completed"
            self.rows.append(Row("batch completes", False, 200, ms, target, detail))
        else:
            self.rows.append(Row("batch completes", True, 200, ms, target))

    def _results_page(self, response: httpx.Response) -> str | None:
        body = _json(response)
        if wrong := _missing(body, ("items", "total", "limit", "offset")):
            return wrong
        if not body["items"]:
            return "no results for the agent"
        for item in body["items"]:
            if wrong := _is_result(item, self.agent_id):
                return wrong
        return None


def _health(response: httpx.Response) -> str | None:
    body = _json(response)
    if wrong := _missing(body, ("status", "version", "database", "uptime_s")):
        return wrong
    if body["status"] != "ok" or body["database"] != "ok":
        return f"status {body['status']!r}, database {body['database']!r}"
    return None


def _pong(response: httpx.Response) -> str | None:
    body = _json(response)
    return None if body == {"message": "pong"} else f"expected {{'message': 'pong'}}, got {body!r}"


def _run_status(response: httpx.Response) -> str | None:
    from aifactory.domain.runs import RUN_STATUSES

    keys = ("run_id", "status", "total", "completed", "passed", "failed", "progress", "results")
    body = _json(response)
    if wrong := _missing(body, keys):
        return wrong
    if body["status"] not in RUN_STATUSES:
        return f"unknown run status {body['status']!r}"
    if not 0 <= body["progress"] <= 1:
        return f"progress {body['progress']!r} is not in [0, 1]"
    return None


def _metrics(response: httpx.Response) -> str | None:
    keys = ("requests_total", "errors_total", "error_rate", "response_time_ms", "runs")
    body = _json(response)
    if wrong := _missing(body, keys):
        return wrong
    if wrong := _missing(body["response_time_ms"], ("avg", "p50", "p95", "p99")):
        return f"response_time_ms: {wrong}"
    if not isinstance(body["requests_total"], int) or body["requests_total"] < 1:
        return f"requests_total {body['requests_total']!r} does not count this check's requests"
    return None


def check_deployment(
    url: str,
    api_key: str | None = None,
    *,
    agent_id: str = DEMO_AGENT["id"],
    batch_timeout_s: float = 30.0,
    targets: Targets | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Row]:
    """Run every check against the server at ``url``; one :class:`Row` per check."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(
        base_url=url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(30.0),
        transport=transport,
    ) as client:
        return Smoke(client, agent_id, batch_timeout_s, targets).run()


def render(rows: list[Row], url: str) -> Table:
    """The verdict as a table."""
    failed = sum(not row.passed for row in rows)
    verdict = "[bold green]all passed[/]" if not failed else f"[bold red]{failed} failed[/]"
    table = Table(title=f"Smoke test of {escape(url)}: {verdict}", header_style="bold")
    table.add_column("check")
    table.add_column("result")
    table.add_column("HTTP", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("target ms", justify="right")
    table.add_column("detail", overflow="fold")
    for row in rows:
        table.add_row(
            escape(row.check),
            "[green]PASS[/]" if row.passed else "[red]FAIL[/]",
            "" if row.status is None else str(row.status),
            "" if row.ms is None else f"{row.ms:.0f}",
            "" if row.target_ms is None else f"{row.target_ms:.0f}",
            escape(row.detail),
        )
    return table


_DEFAULTS = Targets()


def smoke(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Base URL of the deployed service.")],
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=KEY_VARIABLE,
            show_envvar=False,
            help=f"API key; read from {KEY_VARIABLE} when not given.",
        ),
    ] = None,
    agent_id: Annotated[
        str, typer.Option(help="Agent to run; the demo agent is registered when missing.")
    ] = DEMO_AGENT["id"],
    batch_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds the 10-case batch may take to complete.")
    ] = 30.0,
    health_ms: Annotated[
        float, typer.Option(min=0, help="Target for GET /health (the original's promise).")
    ] = _DEFAULTS.health_ms,
    ping_ms: Annotated[
        float, typer.Option(min=0, help="Target for GET /ping (the original's promise).")
    ] = _DEFAULTS.ping_ms,
    batch_ms: Annotated[
        float, typer.Option(min=0, help="Target for accepting a batch (the original's promise).")
    ] = _DEFAULTS.batch_ms,
    run_s: Annotated[
        float, typer.Option(min=0, help="Target for a single run (the original's promise).")
    ] = _DEFAULTS.run_ms / 1000,
    request_ms: Annotated[
        float, typer.Option(min=0, help="Target for any other request (the original's p95).")
    ] = _DEFAULTS.request_ms,
) -> None:
    """Validate a deployment: seed endpoints, shapes and response times; exit 1 on a failure."""
    source = ctx.get_parameter_source("api_key")
    if api_key and source is not None and source.name == "ENVIRONMENT":
        out.print(f"Using the API key in {KEY_VARIABLE}.", highlight=False)
    elif not api_key:
        out.print(
            f"No API key: set {KEY_VARIABLE} or pass --api-key; the /api/v1 checks will fail.",
            highlight=False,
        )
    targets = Targets(
        health_ms=health_ms,
        ping_ms=ping_ms,
        batch_ms=batch_ms,
        run_ms=run_s * 1000,
        request_ms=request_ms,
    )
    rows = check_deployment(
        url, api_key, agent_id=agent_id, batch_timeout_s=batch_timeout, targets=targets
    )
    out.print(render(rows, url))
    raise typer.Exit(EXIT_PASSED if all(row.passed for row in rows) else EXIT_FAILED)
