"""ASGI entry points for servers that import the app by name (uvicorn workers, gunicorn)."""

from __future__ import annotations

from fastapi import FastAPI

from aifactory.api.app import create_app
from aifactory.api.logs import configure_logging
from aifactory.settings import load_settings


def app_factory() -> FastAPI:
    """The app for the process environment; the schema was migrated before the workers started."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, migrate_on_start=False)
