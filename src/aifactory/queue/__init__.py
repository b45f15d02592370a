"""How a batch's cases reach workers: in-process, or (later) a distributed taskiq broker.

:func:`make_queue` builds the :class:`BatchQueue` the settings ask for; see
:mod:`aifactory.queue.base` for the token model, :mod:`aifactory.queue.worker` for how a chunk
is executed and :mod:`aifactory.queue.inprocess` for the embedded queue.
"""

from aifactory.queue.base import CHUNK_SIZE, BatchQueue, make_queue

__all__ = ["CHUNK_SIZE", "BatchQueue", "make_queue"]
