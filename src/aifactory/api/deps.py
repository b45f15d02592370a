"""Dependencies of the routes: the services, the caller and the scope they need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from aifactory.api.metrics import Metrics
from aifactory.service.auth import Authenticator, Principal
from aifactory.service.container import Services


def services_of(request: Request) -> Services:
    """The app's services, for a route that takes the ``Request`` anyway (one dependency less
    to solve on every request, for the routes probes and scrapers call most)."""
    services: Services = request.app.state.services
    return services


def metrics_of(request: Request) -> Metrics:
    """The app's request metrics (see :func:`services_of`)."""
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
    # on every request for an attribute lookup.
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_metrics(request: Request) -> Metrics:
    return metrics_of(request)


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


class BearerHeader(HTTPBearer):
    """The ``Authorization`` header as sent, declared in the OpenAPI document as HTTP bearer.

    Declaring the scheme is what lets ``/docs`` offer "Authorize" and generated clients send the
    key. The header itself is handed to :meth:`Authenticator.authenticate` unparsed (None when
    absent), so a missing key, another scheme and a wrong key keep their own 401 messages
    instead of FastAPI's "Not authenticated".
    """

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


BEARER = BearerHeader(
    scheme_name="bearerAuth",
    bearerFormat="API key",
    description=(
        "An API key, sent as `Authorization: Bearer <key>`: a bootstrap key from "
        "AIFACTORY_API_KEYS, or one made with `aifactory keys create` or `POST /api/v1/keys`."
    ),
    auto_error=False,
)


def _scoped(scope: str):  # type: ignore[no-untyped-def]
    async def dependency(
        request: Request, authorization: Annotated[str | None, Security(BEARER)]
    ) -> Principal:
        # The services straight from the app, not through ServicesDep: every dependency FastAPI
        # solves costs microseconds on every request, and this one is on all of /api/v1.
        services: Services = request.app.state.services
        client = request.client.host if request.client else None
        principal = await services.auth.authenticate(authorization, client=client)
        services.auth.require(principal, scope)
        await services.auth.throttle(principal)
        request.state.principal = principal
        return principal

    return dependency


ReadKey = Annotated[Principal, Depends(_scoped("read"))]
WriteKey = Annotated[Principal, Depends(_scoped("write"))]
AdminKey = Annotated[Principal, Depends(_scoped("admin"))]

__all__ = [
    "BEARER",
    "AdminKey",
    "Authenticator",
    "MetricsDep",
    "ReadKey",
    "Services",
    "ServicesDep",
    "WriteKey",
]
