"""Agents: ids, versions, secrets, deletion and the SSRF rules at registration."""

from __future__ import annotations

import pytest
from tests.fakes.service import Service

from aifactory.client import APIStatusError

SCRIPTED = {"id": "support-bot", "kind": "scripted", "config": {"default": "hello"}}


async def test_create_get_list_and_taken_id(service: Service) -> None:
    created = await service.client.create_agent(SCRIPTED)
    assert created.id == "support-bot"
    assert created.version == 1
    assert (await service.client.get_agent("support-bot")).config == {"default": "hello"}
    assert (await service.client.list_agents()).total == 1
    with pytest.raises(APIStatusError) as taken:
        await service.client.create_agent(SCRIPTED)
    assert taken.value.status == 409


async def test_generated_id_and_invalid_id(service: Service) -> None:
    created = await service.client.create_agent({"kind": "scripted", "config": {}})
    assert created.id.startswith("agent-")
    response = await service.http.post("/api/v1/agents", json={**SCRIPTED, "id": "Bad Id!"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert any("id" in d["field"] for d in response.json()["error"]["details"])


async def test_config_change_makes_a_new_version_and_a_rename_does_not(service: Service) -> None:
    await service.client.create_agent(SCRIPTED)
    renamed = await service.client.update_agent("support-bot", name="Support")
    assert renamed.version == 1
    changed = await service.client.update_agent("support-bot", config={"default": "hi there"})
    assert changed.version == 2
    versions = await service.client.agent_versions("support-bot")
    assert [v.version for v in versions.items] == [2, 1]


async def test_secrets_are_masked_and_kept_by_a_masked_patch(service: Service) -> None:
    spec = {
        "id": "http-bot",
        "kind": "http",
        "config": {
            "url": "http://127.0.0.1:9/chat",
            "headers": {"Authorization": "Bearer s3cr3t-value", "X-Trace": "on"},
        },
    }
    created = await service.client.create_agent(spec)
    assert created.config["headers"] == {"Authorization": "********", "X-Trace": "********"}
    response = await service.http.get("/api/v1/agents/http-bot")
    assert "s3cr3t-value" not in response.text
    patched = await service.client.update_agent(
        "http-bot", config={**created.config, "timeout_s": 5}
    )
    assert patched.version == 2
    stored, _ = await service.app.state.services.agents.spec("http-bot")
    assert stored.config["headers"]["Authorization"] == "Bearer s3cr3t-value"
    assert stored.config["timeout_s"] == 5


async def test_delete_then_gone_but_history_kept(service: Service) -> None:
    await service.client.create_agent(SCRIPTED)
    await service.client.run_test({"name": "a", "input": "x"}, agent_id="support-bot")
    response = await service.http.delete("/api/v1/agents/support-bot")
    assert response.status_code == 204
    with pytest.raises(APIStatusError) as gone:
        await service.client.get_agent("support-bot")
    assert gone.value.status == 404
    assert gone.value.code == "not_found"
    assert (await service.client.agent_results("support-bot")).total == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/chat",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://167772161/",  # 10.0.0.1 as a decimal
        "http://0x0a.0.0.1/",
        "http://0.0.0.0/",
    ],
)
async def test_private_address_literals_are_refused_at_registration(
    service: Service, url: str
) -> None:
    response = await service.http.post(
        "/api/v1/agents", json={"kind": "http", "config": {"url": url}}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "config.url"


async def test_allowed_loopback_is_accepted(service: Service) -> None:
    created = await service.client.create_agent(
        {"kind": "http", "config": {"url": "http://127.0.0.1:8080/chat"}}
    )
    assert created.kind == "http"
