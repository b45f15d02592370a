"""An HTTP agent that holds every request until the test opens its gate; a thread of its own.

For tests that must act while agent calls are provably in flight (a SIGTERM mid-request, a
cancel): wait until the calls have arrived (:meth:`GatedAgent.wait_for_arrivals`), act, then
:meth:`GatedAgent.open` the gate. Held requests then answer, and later ones answer at once.
Synchronous, so it serves tests that drive processes with blocking calls; it listens on
127.0.0.1 only and answers the agent contract (``{"output": ...}``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GatedAgent:
    """The running agent: its URL, the requests that arrived, the gate."""

    def __init__(self, output: str) -> None:
        self.url = ""
        self.output = output
        self.arrived = 0
        self._changed = threading.Condition()
        self._open = False

    def wait_for_arrivals(self, count: int, *, timeout_s: float = 60.0) -> None:
        """Block until ``count`` requests have arrived in all; fail after ``timeout_s``.

        The deadline only guards against a hang: the calls normally arrive within moments.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self.arrived < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.arrived} of {count} agent calls arrived in {timeout_s} s."
                    )
                self._changed.wait(remaining)

    def open(self) -> None:
        """Let every held request answer, and every later one answer at once."""
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def _hold(self) -> None:
        with self._changed:
            self.arrived += 1
            self._changed.notify_all()
            while not self._open:
                self._changed.wait()


@contextmanager
def gated_agent(output: str = "Refunds within 30 days.") -> Iterator[GatedAgent]:
    """Serve a :class:`GatedAgent` on 127.0.0.1 (an ephemeral port) for the block's duration."""
    agent = GatedAgent(output)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            agent._hold()
            body = json.dumps({"output": agent.output}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # no access log on the test's output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    agent.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="gated-agent", daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.open()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
