"""Health, ping and metrics: open to load balancers and scrapers (no key)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aifactory import __version__
from aifactory.api.deps import MetricsDep, ReadKey, metrics_of, services_of
from aifactory.api.metrics import PROMETHEUS_CONTENT_TYPE
from aifactory.api.schemas import DatabaseMetrics, Health, MetricsPublic, Pong, ResponseTimes

router = APIRouter()


@router.get(
    "/health",
    response_model=Health,
    operation_id="health",
    tags=["operations"],
    responses={503: {"model": Health, "description": "The database is unreachable."}},
)
async def health(request: Request, response: Response) -> Health:
    """Whether the service and its database answer; 503 when the database does not."""
    services, metrics = services_of(request), metrics_of(request)
    database_ok = await services.operations.database_ok()
    queue = dict(services.queue_info)
    if not database_ok:
        response.status_code = 503
    return Health(
        status="ok" if database_ok else "degraded",
        version=__version__,
        database="ok" if database_ok else "error",
        queue=queue,
        uptime_s=round(metrics.uptime_s(), 3),
    )


@router.get("/ping", response_model=Pong, operation_id="ping", tags=["operations"])
async def ping() -> Pong:
    """Liveness: always ``{"message": "pong"}``."""
    return Pong()


@router.get(
    "/metrics",
    operation_id="prometheusMetrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text."}},
)
async def prometheus(metrics: MetricsDep) -> Response:
    """Prometheus exposition, summed over every worker process of this server."""
    return Response(metrics.exposition(), media_type=PROMETHEUS_CONTENT_TYPE)


@router.get(
    "/api/v1/metrics", response_model=MetricsPublic, operation_id="getMetrics", tags=["operations"]
)
async def metrics(request: Request, _: ReadKey) -> MetricsPublic:
    """Requests, errors, response-time percentiles, runs by status, cases executed, pool."""
    services, metrics = services_of(request), metrics_of(request)
    snapshot = metrics.snapshot()
    runs, cases = await services.operations.run_counts()
    return MetricsPublic(
        version=__version__,
        uptime_s=round(metrics.uptime_s(), 3),
        requests_total=snapshot["requests_total"],
        errors_total=snapshot["errors_total"],
        error_rate=snapshot["error_rate"],
        response_time_ms=ResponseTimes(**snapshot["response_time_ms"]),
        runs=runs,
        cases_executed_total=cases,
        database=DatabaseMetrics(**services.operations.pool_status()),
        queue=dict(services.queue_info),
    )
