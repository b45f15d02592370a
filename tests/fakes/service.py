"""pytest plugin: the v1 API in-process on a real database, driven through the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from aifactory.api.app import create_app
from aifactory.client import AsyncClient
from aifactory.settings import Settings, load_settings
from aifactory.store.database import Database

ADMIN_KEY = "afk_test-admin-key-0123456789abcdefghijklmnop"
SESSION_SECRET = "3b9f0c2d7e14a685c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b"


@dataclass
class Service:
    """An app running in-process, an admin SDK client, and helpers for other keys."""

    app: FastAPI
    settings: Settings
    client: AsyncClient
    http: httpx.AsyncClient
    """Raw HTTP with the admin key, for what the SDK would not send (bad JSON, big bodies)."""

    def sdk(self, api_key: str | None) -> AsyncClient:
        return AsyncClient("http://test", api_key=api_key, transport=httpx.ASGITransport(self.app))

    def raw(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url="http://test", transport=httpx.ASGITransport(self.app), headers=headers
        )


def service_settings(database_url: str, **extra: Any) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "AIFACTORY_API_KEYS": ADMIN_KEY,
        "AIFACTORY_SESSION_SECRET": SESSION_SECRET,
        "AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1",
        "AIFACTORY_LEASE_S": "5",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return load_settings(env)


@pytest.fixture
def service_env() -> dict[str, Any]:
    """Extra environment for the service under test (override in a test module)."""
    return {}


@pytest.fixture
async def service(
    database: Database, database_url: str, service_env: dict[str, Any]
) -> AsyncIterator[Service]:
    """The API on each backend, with an admin key, started and stopped around the test."""
    settings = service_settings(database_url, **service_env)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app)
        async with (
            AsyncClient("http://test", api_key=ADMIN_KEY, transport=transport) as client,
            httpx.AsyncClient(
                base_url="http://test",
                transport=transport,
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            ) as http,
        ):
            yield Service(app=app, settings=settings, client=client, http=http)
