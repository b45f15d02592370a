"""``aifactory batch-runner``: the process that runs an embedded server's batches beside it.

Not for starting by hand: gunicorn (``gunicorn.conf.py``) and ``aifactory serve --workers N``
start it (:mod:`aifactory.queue.runner_process`). It lowers its own CPU priority first, so the
server processes always get the CPU before any case does.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aifactory.settings import Settings


async def _main(settings: Settings, concurrency: int) -> None:
    import asyncio

    from aifactory import bootstrap

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with bootstrap.batch_runner(settings, concurrency=concurrency):
        await stop.wait()


def batch_runner(
    concurrency: Annotated[
        int, typer.Option(min=1, max=10_000, help="Cases this process runs at once.")
    ] = 64,
) -> None:
    """Run the stored batches of DATABASE_URL until SIGTERM, at a lower CPU priority.

    AIFACTORY_BATCH_RUNNER_NICE sets how much lower (default 10 on PostgreSQL; 0 on SQLite, where
    the runner shares one write lock with the server processes).
    """
    import asyncio

    from aifactory.api.logs import configure_logging
    from aifactory.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    os.nice(settings.runner_nice)
    asyncio.run(_main(settings, concurrency))
