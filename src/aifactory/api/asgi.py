"""ASGI entry points for servers that import the app by name (uvicorn workers, gunicorn)."""

from __future__ import annotations

import gc
import os
import sys

from fastapi import FastAPI

from aifactory.api.app import create_app
from aifactory.api.logs import configure_logging
from aifactory.api.startup import check_server, command_line_hosts
from aifactory.errors import ConfigError
from aifactory.service.provisioning import check_database
from aifactory.settings import Settings, load_settings


def app_factory() -> FastAPI:
    """The app for the process environment; the schema was migrated before the workers started."""
    return _build(load_settings(), provisioned=True)


def standalone_app() -> FastAPI:
    """The app of ``main:app``, which may be all there is: ``uvicorn main:app`` on its own.

    No parent process may have provisioned the database, so each process does as it starts,
    under the database-wide lock (:mod:`aifactory.service.provisioning`), and prints a first admin
    key when it made one. Settings that cannot give a usable database are one line on stderr and
    exit status 2, before anything starts.
    """
    settings = load_settings()
    try:
        check_database(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return _build(settings, provisioned=False)


def _build(settings: Settings, *, provisioned: bool) -> FastAPI:
    try:
        # SERVER_HOST is the address gunicorn.conf.py binds (and aifactory serve passes its
        # --host); a server started by hand may have been told another on its command line.
        for host in {settings.server_host, *command_line_hosts(sys.argv, os.environ)}:
            check_server(settings, host)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, migrate_on_start=not provisioned, first_key=not provisioned)
    # Everything imported so far lives as long as the process: move it out of the collector's
    # reach, so a full collection (every few large batch submissions) walks only the objects
    # made since instead of the whole heap of imported modules (a 100-200 ms pause otherwise).
    gc.freeze()
    return app
