"""The ``aifactory`` command line: one Typer app, a module per group of commands.

==============  ==========================================================
``run.py``      ``run`` and ``checks``: a suite against an agent, here
``server.py``   ``serve``, ``db`` and ``keys``: the server and its database
``worker.py``   ``worker``: cases from the distributed queue
``smoke.py``    ``smoke``: the post-deploy validator
``remote.py``   ``submit`` and ``status``: runs on a server, through the SDK
``insights.py`` ``report`` and ``compare``
``reflect.py``  ``reflect``: the reflection loop on a server
``review.py``   ``review agreement`` and ``review export``: judges against people
``gate.py``     the CI gate of ``run --baseline`` and of ``compare`` on run files
``baseline.py`` where a gate's baseline comes from: a run's ``--json`` file or a server's run
``common.py``   what they share: consoles, exit codes, errors, the way to a server
==============  ==========================================================

What a command needs beyond its options (the engine, the server, the database) is imported when
it runs, so ``aifactory --help`` stays quick.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aifactory import __version__
from aifactory.cli import (
    batch_runner,
    insights,
    reflect,
    remote,
    review,
    run,
    server,
    smoke,
    worker,
)
from aifactory.cli.common import (
    collect_from_here,
    collector_off_while_setting_up,
    evaluate_annotations,
    out,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="aifactory",
    help="Run test suites against AI agents, score them, and know whether they still work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


SET_UP_FIRST = frozenset({"run"})
"""Commands that turn the garbage collector on themselves once set up (``run``: as its cases
start); every other command runs with it on (:func:`~aifactory.cli.common.collect_from_here`)."""


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if ctx.invoked_subcommand not in SET_UP_FIRST:
        collect_from_here()
    if version:
        out.print(__version__)
        raise typer.Exit(0)


# In the order ``aifactory --help`` lists them.
app.command("run")(run.run)
app.command("checks")(run.list_checks)
app.command("serve")(server.serve)
app.command("worker")(worker.worker)
app.command("batch-runner", hidden=True)(batch_runner.batch_runner)
app.command("smoke")(smoke.smoke)
app.command("submit")(remote.submit)
app.command("status")(remote.status)
app.command("report")(insights.report)
app.command("compare")(insights.compare)
app.command("reflect")(reflect.reflect)
app.add_typer(server.db_app, name="db")
app.add_typer(server.keys_app, name="keys")
app.add_typer(review.review_app, name="review")
evaluate_annotations(app)


def main() -> None:
    """Console-script entry point: the command sets up with the garbage collector off
    (:func:`~aifactory.cli.common.collector_off_while_setting_up`)."""
    try:
        with collector_off_while_setting_up():
            app()
    except KeyboardInterrupt:
        sys.exit(130)
