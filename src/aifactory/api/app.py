"""``create_app(settings)``: the FastAPI application, its middleware and its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute

from aifactory import __version__, bootstrap
from aifactory.api.docs import install_docs
from aifactory.api.errors import install_error_handlers
from aifactory.api.metrics import Metrics
from aifactory.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from aifactory.api.routes import (
    agents,
    insights,
    keys,
    operations,
    reflections,
    review,
    runs,
    suites,
    tests,
)
from aifactory.api.startup import check_settings, session_secret
from aifactory.service.container import Services
from aifactory.settings import Settings
from aifactory.web import review_pages
from aifactory.web import routes as dashboard

log = logging.getLogger("aifactory.api")


def _operation_id(route: APIRoute) -> str:
    return route.operation_id or route.name


def create_app(
    settings: Settings,
    *,
    migrate_on_start: bool = True,
    first_key: bool = False,
    on_ready: Callable[[Services], Any] | None = None,
) -> FastAPI:
    """The v1 API for ``settings``.

    Args:
        settings: Everything configurable; built by :func:`aifactory.settings.load_settings`.
        migrate_on_start: Provision the database first
            (:mod:`aifactory.service.provisioning`: migrate, store ``AIFACTORY_API_KEYS``, seed
            the demo when ``AIFACTORY_SEED_DEMO`` is set),
            under a database-wide lock, so any number of processes may start at once. False
            when a parent process did it before starting this one (gunicorn's master,
            ``aifactory serve``).
        first_key: While provisioning, make (and print, once) an admin key when keys are
            required and none exists (``uvicorn main:app`` on a fresh database).
        on_ready: Called with the services once they are up (the embedded server seeds its demo
            agent and suite here).

    Raises:
        ConfigError: an operator key or the session secret too weak to serve with
            (:func:`aifactory.api.startup.check_settings`).
    """
    check_settings(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.services(
            settings,
            session_secret=session_secret(settings),
            provision_first=migrate_on_start,
            first_key=first_key,
        ) as services:
            app.state.services = services
            if on_ready is not None:
                outcome = on_ready(services)
                if hasattr(outcome, "__await__"):
                    await outcome
            yield

    app = FastAPI(
        title="AI Factory Testing",
        version=__version__,
        description="Run test cases against AI agents, score them, and compare runs.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # /docs is served from the installed Swagger UI package (install_docs), never a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    for router in (
        operations.router,
        tests.router,
        agents.router,
        suites.router,
        insights.router,  # before runs: /runs/compare is not a run id
        runs.router,
        keys.router,
        reflections.router,
        review.router,
    ):
        app.include_router(router)
    # The dashboard at "/": server-rendered pages, kept out of the OpenAPI document.
    app.include_router(dashboard.router)
    app.include_router(review_pages.router)
    install_docs(app)

    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Level 3, not Starlette's 9: half the CPU on a page of results for 7% more bytes.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=3)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, observe=metrics.observe)
    return app
