"""API keys: missing, wrong, revoked and read-only keys; scopes; rate limit; hashes only."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from tests.fakes.service import ADMIN_KEY, Service

from aifactory.client import APIStatusError

OPEN = {"/health", "/ping", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _example_path(path: str) -> str:
    return (
        path.replace("{agent_id}", "a")
        .replace("{run_id}", "r")
        .replace("{suite_id}", "s")
        .replace("{key_id}", "k")
    )


async def test_every_api_route_requires_a_key(service: Service) -> None:
    # Enumerated from the app itself, so a new route cannot skip authentication unnoticed.
    paths = service.app.openapi()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in OPEN
        for method in operations
    ]
    assert len(routes) >= 20
    async with service.raw() as anonymous:
        for method, path in routes:
            response = await anonymous.request(method, _example_path(path))
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "unauthorized"
    async with service.raw({"Authorization": "Bearer afk_wrong"}) as wrong:
        assert (await wrong.get("/api/v1/agents")).status_code == 401
    async with service.raw({"Authorization": "Basic abc"}) as basic:
        assert (await basic.get("/api/v1/agents")).status_code == 401


async def test_scopes(service: Service) -> None:
    reader = await service.client.create_key("dashboard", scopes=["read"])
    assert reader.key.startswith("afk_")
    async with service.sdk(reader.key) as client:
        assert (await client.list_agents()).total == 0
        with pytest.raises(APIStatusError) as forbidden:
            await client.create_agent({"kind": "scripted", "config": {}})
        assert forbidden.value.status == 403
        assert forbidden.value.code == "forbidden"
        with pytest.raises(APIStatusError) as admin_only:
            await client.list_keys()
        assert admin_only.value.status == 403
    writer = await service.client.create_key("ci", scopes=["write"])
    async with service.sdk(writer.key) as client:
        await client.create_agent({"kind": "scripted", "config": {}})
        with pytest.raises(APIStatusError) as admin_only:
            await client.create_key("x")
        assert admin_only.value.status == 403


async def test_revoked_key_is_refused_at_once(service: Service) -> None:
    created = await service.client.create_key("temp", scopes=["read"])
    async with service.sdk(created.key) as client:
        await client.list_agents()
        await service.client.revoke_key(created.id)
        with pytest.raises(APIStatusError) as revoked:
            await client.list_agents()
        assert revoked.value.status == 401


async def test_keys_are_stored_as_hashes_and_never_listed(service: Service) -> None:
    created = await service.client.create_key("ci")
    listed = await service.http.get("/api/v1/keys")
    assert created.key not in listed.text
    assert ADMIN_KEY not in listed.text
    # No part of the operator's key either: it is shown by a fingerprint of its hash.
    windows = {ADMIN_KEY[i : i + 6] for i in range(len(ADMIN_KEY) - 5)}
    assert not [w for w in windows if w in listed.text]
    prefixes = {k["name"]: k["prefix"] for k in listed.json()["items"]}
    assert prefixes["bootstrap-1"] == "sha256:" + hashlib.sha256(ADMIN_KEY.encode()).hexdigest()[:8]
    # A generated key shows 'afk_' and 8 of its 43 random characters, leaving 210 random bits.
    assert prefixes["ci"] == created.key[:12]
    db = service.app.state.services.db
    async with db.session() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
    dumped = repr(rows)
    assert created.key not in dumped
    assert ADMIN_KEY not in dumped


@pytest.fixture
def service_env() -> dict[str, object]:
    return {"AIFACTORY_RATE_LIMIT_PER_MINUTE": 60}


async def test_rate_limit_answers_429_with_retry_after(service: Service) -> None:
    statuses = []
    retry_after = None
    for _ in range(30):
        response = await service.http.get("/api/v1/agents")
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry_after = response.headers.get("retry-after")
            assert response.json()["error"]["code"] == "rate_limited"
            break
    assert 429 in statuses
    assert retry_after is not None and int(retry_after) >= 1
    assert (await service.http.get("/health")).status_code == 200  # open routes not limited
