"""``aifactory worker``: run batch cases from the distributed queue (Redis or RabbitMQ)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aifactory.cli.common import console
from aifactory.errors import ConfigError

if TYPE_CHECKING:
    from aifactory.settings import Settings


def _check(settings: Settings) -> None:
    from aifactory.queue.brokers import broker_kind

    if settings.queue_url is None:
        console.print(
            "[bold red]error:[/] aifactory worker needs a queue: set AIFACTORY_QUEUE_URL "
            "(redis://host:6379/0 or amqp://user:password@host:5672/vhost) to the same value "
            "as the API servers. Without it the server runs batches itself."
        )
        raise typer.Exit(2)
    try:
        broker_kind(settings)
    except ConfigError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc


async def _main(settings: Settings, concurrency: int) -> None:
    import asyncio

    from aifactory import bootstrap

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bootstrap.worker(settings, concurrency=concurrency) as process_worker:
        await process_worker.run(stop, grace_s=settings.shutdown_grace_s)


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=10_000, help="Cases this process runs at once.")
    ] = 64,
) -> None:
    """Run batch cases from AIFACTORY_QUEUE_URL until SIGTERM (in-flight cases finish first).

    Start as many as you like, on as many machines; they share the database of DATABASE_URL
    and the queue. SIGTERM (or Ctrl-C) stops taking work, gives in-flight cases
    AIFACTORY_SHUTDOWN_GRACE_S seconds, and hands the rest back to the other workers.
    """
    import asyncio

    from aifactory.api.logs import configure_logging
    from aifactory.settings import load_settings

    settings = load_settings()
    _check(settings)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_main(settings, concurrency))
