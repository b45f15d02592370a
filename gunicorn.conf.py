"""Gunicorn configuration for production: ``gunicorn -c gunicorn.conf.py`` and nothing else.

Settings come from the same environment as the rest of the service (``load_settings``):

- ``SERVER_HOST`` / ``SERVER_PORT`` bind (``PORT``, as Railway and Heroku set it, is honoured
  when ``SERVER_PORT`` is not given);
- ``GUNICORN_WORKERS`` processes (default ``max(2, 2 x cores - 1)``), ``GUNICORN_TIMEOUT``
  seconds (default 120), ``LOG_LEVEL``;
- ``AIFACTORY_SHUTDOWN_GRACE_S`` seconds for in-flight requests on a graceful stop.

Before any worker starts, the master provisions the database once (``on_starting``): it migrates,
stores ``AIFACTORY_API_KEYS``, seeds the demo when ``AIFACTORY_SEED_DEMO`` is set and makes a first
admin key when there is none, under a database-wide lock that other replicas starting at the same
moment wait for (:mod:`aifactory.service.provisioning`), so workers never race on any of it. A
database that cannot be used is one line on stderr and exit status 2. The master also prepares
``PROMETHEUS_MULTIPROC_DIR`` so ``/metrics`` and
``/api/v1/metrics`` count every worker's requests; ``child_exit`` tells prometheus_client
when a worker is gone. Without ``AIFACTORY_QUEUE_URL`` the master also starts the batch runner
(``aifactory batch-runner``, :mod:`aifactory.queue.runner_process`): one process beside the
workers, at a lower CPU priority, that runs every batch, so cases never take the workers' CPU
(``AIFACTORY_BATCH_RUNNER=inline`` runs them in the workers instead); ``on_exit`` stops it.
``GUNICORN_CMD_ARGS`` still overrides anything set here, and an app named
on the command line (``gunicorn main:app -c gunicorn.conf.py``, the original start command)
replaces ``wsgi_app``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from aifactory.api.startup import check_server, session_secret
from aifactory.errors import ConfigError
from aifactory.queue.runner_process import RunnerProcess
from aifactory.service.provisioning import first_key_notice, provision_now
from aifactory.settings import load_settings

# Nothing here may import prometheus_client: it picks its storage (per process or shared files)
# when first imported, and the master must not pick before PROMETHEUS_MULTIPROC_DIR is set.

_settings = load_settings()


def default_workers(cores: int | None = None) -> int:
    """The original deployment's rule: ``2 x cores - 1``, and never fewer than two."""
    return max(2, 2 * (cores or os.cpu_count() or 1) - 1)


def _port() -> int:
    if "SERVER_PORT" not in os.environ and os.environ.get("PORT", "").isdigit():
        return int(os.environ["PORT"])
    return _settings.server_port


wsgi_app = "aifactory.api.asgi:app_factory()"
worker_class = "uvicorn_worker.UvicornWorker"
bind = [f"{_settings.server_host}:{_port()}"]
workers = _settings.gunicorn_workers or default_workers()
timeout = _settings.gunicorn_timeout
graceful_timeout = max(1, int(_settings.shutdown_grace_s))
keepalive = 5
backlog = 2048
# Kept for parity with the original configuration; uvicorn workers do not read it (gevent and
# eventlet workers do), and every worker serves as many connections as its event loop takes.
worker_connections = 1000
# Each worker imports the app after the fork: database pools and metric files are per process.
preload_app = False
# Proxies (Railway, a load balancer) set X-Forwarded-*; the app sees the client's address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "aifactory"


def _bound_hosts(server: Any) -> list[str]:
    """The hosts gunicorn will listen on (``-b`` and ``GUNICORN_CMD_ARGS`` may change ``bind``)."""
    addresses = getattr(getattr(server, "cfg", None), "bind", None) or bind
    hosts = []
    for address in addresses:
        if address.startswith(("unix:", "fd://")):
            hosts.append(address)  # served through something else: never taken for loopback
        else:
            hosts.append(address.rsplit(":", 1)[0] if ":" in address else address)
    return hosts


def on_starting(server: Any) -> None:
    """Once, in the master: refuse an unauthenticated public bind, provision, set up metrics."""
    try:
        # Keys, session secret, and no open server beyond loopback (aifactory.api.startup);
        # on loopback the development session secret is made here, once, for every worker.
        for host in _bound_hosts(server):
            check_server(_settings, host)
        session_secret(_settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    try:
        plaintext = provision_now(_settings, seed_demo=_settings.seed_demo, first_key=True)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    server.log.info("Database provisioned (%s).", _settings.database.split("://", 1)[0])
    if plaintext:
        print(first_key_notice(plaintext), flush=True)
    _start_batch_runner(server)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Counts from a previous run of the server would be added to this one's.
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="aifactory-metrics-")


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


_runner: RunnerProcess | None = None


def _start_batch_runner(server: Any) -> None:
    """Without a queue, batches run in one batch runner process beside the workers, at a lower
    CPU priority (``AIFACTORY_BATCH_RUNNER``, default ``process`` here); workers only store them."""
    global _runner
    if _settings.queue_url is not None:
        return
    os.environ.setdefault("AIFACTORY_BATCH_RUNNER", "process")
    if os.environ["AIFACTORY_BATCH_RUNNER"] != "process":
        return
    _runner = RunnerProcess()
    _runner.start()
    server.log.info("Batch runner started (pid %s).", _runner.pid)


def on_exit(server: Any) -> None:
    """The master is leaving: let the batch runner finish its in-flight cases, then stop it."""
    if _runner is not None:
        _runner.stop(grace_s=_settings.shutdown_grace_s)
