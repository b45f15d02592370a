"""A server stand-in for the resume test: runs an in-process queue on a database until killed.

    python tests/integration/queue/queue_child.py DATABASE_URL

Prints ``started`` once the queue runs (it resumes the runs in flight, as a server does).
"""

from __future__ import annotations

import asyncio
import sys

from tests.integration.queue.queue_support import queue_settings

from aifactory.bootstrap import runner_factory
from aifactory.queue.inprocess import InProcessQueue
from aifactory.store.database import Database


async def main(url: str) -> None:
    db = Database.from_url(url)
    settings = queue_settings()
    async with runner_factory(settings) as parts:
        queue = InProcessQueue(db, parts, settings, concurrency=8, lease_s=30)
        await queue.start()
        print("started", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
