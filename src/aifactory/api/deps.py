"""Dependencies of the routes: the services, the caller and the scope they need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from aifactory.api.auth import Authenticator, Principal
from aifactory.api.metrics import Metrics
from aifactory.api.probe import DatabaseProbe
from aifactory.service.agents import AgentService
from aifactory.service.insights import InsightService
from aifactory.service.keys import KeyService
from aifactory.service.reflection import ReflectionService
from aifactory.service.runs import RunService
from aifactory.service.suites import SuiteService
from aifactory.settings import Settings
from aifactory.store.database import Database


@dataclass(slots=True)
class Services:
    """Everything the routes call, built once per app by the composition root."""

    settings: Settings
    db: Database
    auth: Authenticator
    metrics: Metrics
    agents: AgentService
    suites: SuiteService
    runs: RunService
    keys: KeyService
    insights: InsightService
    queue_info: dict[str, object]
    probe: DatabaseProbe | None = None
    """The database check behind ``/health`` (``db.ping`` on every call when absent)."""
    reflections: ReflectionService | None = None
    """The reflection loops of this process (None while the app is not started)."""
    session_secret: str = ""
    """What signs dashboard sessions: ``AIFACTORY_SESSION_SECRET``, or on a development server
    the one kept in its cache directory (see :mod:`aifactory.api.startup`)."""


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop
    # on every request for an attribute lookup.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


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
        request: Request,
        services: ServicesDep,
        authorization: Annotated[str | None, Security(BEARER)],
    ) -> Principal:
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
    "ReadKey",
    "Services",
    "ServicesDep",
    "WriteKey",
]
