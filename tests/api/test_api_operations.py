"""Health, ping, metrics, request ids, the error shape and the OpenAPI document."""

from __future__ import annotations

from tests.fakes.service import Service


async def test_health_and_ping(service: Service) -> None:
    health = await service.client.health()
    assert health.status == "ok"
    assert health.database == "ok"
    assert health.uptime_s >= 0
    assert await service.client.ping() == {"message": "pong"}
    async with service.raw() as anonymous:  # no key needed
        response = await anonymous.get("/health")
        assert response.status_code == 200
        assert response.headers["x-request-id"]


async def test_health_answers_503_when_the_database_is_down(service: Service) -> None:
    db = service.app.state.services.db

    async def down() -> bool:
        return False

    db.ping = down
    async with service.raw() as anonymous:
        response = await anonymous.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "error"
    assert response.json()["status"] == "degraded"


async def test_request_id_is_echoed_or_made(service: Service) -> None:
    response = await service.http.get("/ping", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await service.http.get("/ping", headers={"X-Request-ID": "bad id\n<script>"})
    assert response.headers["x-request-id"] != "bad id\n<script>"
    assert len(response.headers["x-request-id"]) == 32


async def test_unknown_route_has_the_error_shape(service: Service) -> None:
    response = await service.http.get("/api/v1/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert set(body["error"]) == {"code", "message", "details"}


async def test_metrics_count_requests(service: Service) -> None:
    for _ in range(5):
        await service.client.ping()
    metrics = await service.client.metrics()
    assert metrics.requests_total >= 5
    assert metrics.errors_total == 0
    assert metrics.error_rate == 0.0
    assert metrics.response_time_ms.p99 >= metrics.response_time_ms.p50 >= 0
    assert metrics.database.backend in ("sqlite", "postgresql")
    async with service.raw() as anonymous:
        prom = await anonymous.get("/metrics")
    assert prom.status_code == 200
    assert "aifactory_http_requests_total" in prom.text


async def test_openapi_has_stable_operation_ids_and_docs_are_open(service: Service) -> None:
    async with service.raw() as anonymous:
        spec = (await anonymous.get("/openapi.json")).json()
        docs = await anonymous.get("/docs")
    assert docs.status_code == 200
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    for expected in (
        "health",
        "ping",
        "runTest",
        "submitBatch",
        "getRunStatus",
        "listAgentResults",
        "getMetrics",
        "createAgent",
        "importSuite",
        "cancelRun",
        "createKey",
    ):
        assert expected in ids
