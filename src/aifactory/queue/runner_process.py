"""The batch runner process: started and watched over by the server's parent process.

When an embedded server has several processes (gunicorn with ``gunicorn.conf.py``, or
``aifactory serve --workers N``), their parent starts one ``aifactory batch-runner`` beside them
(:class:`RunnerProcess`). That process lowers its own CPU priority by
``AIFACTORY_BATCH_RUNNER_NICE`` and runs every stored batch (:func:`aifactory.bootstrap.
batch_runner`), picking up a new run within :data:`PICKUP_S`; the server processes only answer
requests (:mod:`aifactory.queue.beside`). If the runner exits while the server is up, it is
started again after a pause, and the new one takes back the cases the old one had claimed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

PICKUP_S = 0.2
"""How often the runner looks for runs it does not run yet: the most a new batch waits."""

RESTART_PAUSE_S = 1.0
"""Pause before a runner that exited is started again."""


def runner_command() -> list[str]:
    """The command line of the batch runner: this Python, ``-m aifactory batch-runner``."""
    return [sys.executable, "-m", "aifactory", "batch-runner"]


class RunnerProcess:
    """One batch runner child, started again whenever it exits until :meth:`stop`.

    Args:
        argv: the runner's command line (default :func:`runner_command`).
        env: its environment (default this process's, with ``AIFACTORY_BATCH_RUNNER=process``).
    """

    def __init__(
        self, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.argv = list(argv or runner_command())
        self.env = dict(os.environ if env is None else env)
        self.env["AIFACTORY_BATCH_RUNNER"] = "process"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id, if there is one."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """Start the runner and the thread that starts it again when it exits."""
        self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name="aifactory-batch-runner", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self._process = subprocess.Popen(self.argv, env=self.env)
            self.starts += 1

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.wait(RESTART_PAUSE_S):
                return
            log.warning("The batch runner exited (status %s); starting it again.", code)
            self._spawn()

    def stop(self, grace_s: float = 10.0) -> int | None:
        """Ask the runner to stop (SIGTERM: in-flight cases get ``grace_s``); its exit status.

        A runner still there ``grace_s + 5`` seconds later is killed.
        """
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_s + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        return process.returncode
