"""``aifactory reflect AGENT SUITE``: run the reflection loop on a server and follow it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aifactory.cli.common import (
    DEFAULT_BASE_URL,
    KeyOpt,
    ServerOpt,
    console,
    error_line,
    out,
    remote,
    suite_on_server,
)

if TYPE_CHECKING:
    from aifactory.client import Client
    from aifactory.domain.reflection import Candidate, ReflectionPublic


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


class _Narrator:
    """Prints each new thing a reflection measured, once."""

    def __init__(self) -> None:
        self.said: set[str] = set()

    def say(self, key: str, text: str) -> None:
        if key not in self.said:
            self.said.add(key)
            console.print(text, highlight=False)

    def follow(self, r: ReflectionPublic) -> str:
        """Print what is new; answer what the loop is doing now (for the spinner)."""
        b = r.baseline
        if b is None:
            return "splitting the suite"
        if b.train_pass_rate is None:
            parts = f"{b.train_cases} train and {b.holdout_cases} holdout cases"
            return f"baseline v{b.version} on {parts}"
        self.say(
            "baseline",
            f"baseline v{b.version}: train {_pct(b.train_pass_rate)}, "
            f"holdout {_pct(b.holdout_pass_rate)}",
        )
        doing = "asking the reflector"
        for it in r.iterations:
            count = len(it.candidates)
            self.say(
                f"it{it.index}",
                f"iteration {it.index}: {count} candidate(s) from v{it.reference_version}",
            )
            for n, c in enumerate(it.candidates, start=1):
                self._candidate(it.index, n, c)
            doing = f"iteration {it.index}: measuring candidates, then asking the reflector"
        return doing

    def _candidate(self, index: int, n: int, c: Candidate) -> None:
        name = f"v{c.version}" if c.version is not None else f"suggestion {n}"
        if c.suggestion is not None:
            self.say(f"{index}.{n}", f"  {name}: {escape(c.suggestion)}")
            return
        if c.train_pass_rate is not None:
            self.say(f"{index}.{n}.train", f"  {name}: train {_pct(c.train_pass_rate)}")
        if c.verdict != "not_evaluated" or c.holdout_pass_rate is not None:
            p = "" if c.p_value is None else f", p = {c.p_value:.2g}"
            style = "green" if c.verdict == "accepted" else "red"
            self.say(
                f"{index}.{n}.verdict",
                f"  {name}: holdout {_pct(c.holdout_pass_rate)}{p} → [{style}]{c.verdict}[/]",
            )


def _summary(r: ReflectionPublic) -> None:
    table = Table(
        title=f"aifactory reflect: {escape(r.agent_id)} on {escape(r.suite_id)}",
        header_style="bold",
    )
    table.add_column("step")
    table.add_column("verdict")
    table.add_column("train", justify="right")
    table.add_column("holdout", justify="right")
    table.add_column("p", justify="right")
    if r.baseline is not None:
        b = r.baseline
        table.add_row(
            f"baseline v{b.version}", "", _pct(b.train_pass_rate), _pct(b.holdout_pass_rate), ""
        )
    for it in r.iterations:
        for c in it.candidates:
            table.add_row(
                f"#{it.index} v{c.version}" if c.version is not None else f"#{it.index}",
                escape(c.verdict),
                _pct(c.train_pass_rate),
                _pct(c.holdout_pass_rate),
                "" if c.p_value is None else f"{c.p_value:.2g}",
            )
    out.print(table)
    accepted = f"v{r.accepted_version} accepted" if r.accepted_version else "no version accepted"
    out.print(
        escape(f"{r.status}: stopped by {r.stop_reason}; {accepted}; cost ${r.cost_usd:.4f}"),
        highlight=False,
    )
    if r.error:
        error_line(r.error)


def _follow(client: Client, reflection_id: str, poll_s: float) -> ReflectionPublic:
    from aifactory.domain.runs import TERMINAL

    narrator = _Narrator()
    with console.status("starting") as status:
        while True:
            r = client.get_reflection(reflection_id)
            status.update(narrator.follow(r))
            if r.status in TERMINAL:
                return r
            time.sleep(poll_s)


def reflect(
    agent_id: Annotated[str, typer.Argument(help="The stored agent to improve.")],
    suite: Annotated[
        str, typer.Argument(help="A stored suite id, or a suite file to import first.")
    ],
    server: ServerOpt = DEFAULT_BASE_URL,
    api_key: KeyOpt = None,
    max_iterations: Annotated[int | None, typer.Option(min=1, max=20)] = None,
    candidates: Annotated[
        int | None, typer.Option(min=1, max=10, help="Candidates per iteration.")
    ] = None,
    holdout: Annotated[
        float | None, typer.Option(min=0.01, max=0.99, help="Share of cases kept out (0.3).")
    ] = None,
    budget_usd: Annotated[float | None, typer.Option(min=0, help="Stop at this cost.")] = None,
    target_pass_rate: Annotated[float | None, typer.Option(min=0, max=1)] = None,
    auto_promote: Annotated[
        bool,
        typer.Option(
            "--auto-promote/--no-auto-promote",
            help="Make an accepted version current (else only proposed).",
        ),
    ] = True,
    reflector_model: Annotated[
        str | None, typer.Option(help="provider:model (default: the server's).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow it to its end.")] = True,
    report: Annotated[
        Path | None, typer.Option(help="Write the report here (.html or .md).")
    ] = None,
    poll_s: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
) -> None:
    """Improve an agent from its failures; exit 0 when the loop completes, 1 when it does not.

    Ctrl-C cancels the reflection on the server (what it measured is kept).
    """
    with remote(server, api_key) as client:
        suite_id = suite_on_server(client, suite)
        accepted = client.reflect(
            agent_id,
            suite_id,
            max_iterations=max_iterations,
            candidates=candidates,
            holdout=holdout,
            budget_usd=budget_usd,
            target_pass_rate=target_pass_rate,
            auto_promote=auto_promote,
            reflector_model=reflector_model,
        )
        out.print(
            f"reflection {escape(accepted.reflection_id)} {escape(accepted.status)}",
            highlight=False,
        )
        if not wait:
            return
        try:
            result = _follow(client, accepted.reflection_id, poll_s)
        except KeyboardInterrupt:
            console.print("cancelling the reflection…")
            result = client.cancel_reflection(accepted.reflection_id)
            _summary(result)
            raise typer.Exit(130) from None
        if report is not None:
            fmt = "html" if report.suffix.lower() in (".html", ".htm") else "markdown"
            report.write_bytes(client.get_reflection_report(accepted.reflection_id, fmt))
            console.print(f"wrote {escape(str(report))}", highlight=False)
    _summary(result)
    raise typer.Exit(0 if result.status == "completed" else 1)
