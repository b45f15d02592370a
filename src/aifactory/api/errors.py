"""Errors become HTTP answers here, and only here.

Every error body is ``{"error": {"code", "message", "details"}}``; no stack trace ever leaves.
Starlette picks handlers by class hierarchy, so mapping the base classes is enough.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aifactory.errors import (
    AIFactoryError,
    BlockedAddressError,
    CheckSpecError,
    ConfigError,
    SuiteError,
)
from aifactory.store.errors import Conflict, NotFound

log = logging.getLogger("aifactory.api")


class APIError(AIFactoryError):
    """An error with its HTTP status and machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class InvalidRequest(APIError):
    status = 422
    code = "invalid_request"


class Unauthorized(APIError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(APIError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(APIError):
    status = 413
    code = "payload_too_large"


class RateLimited(APIError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(APIError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, code: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        if code:
            self.code = code


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


def _is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (rather than a bug)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    name = type(exc).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "TooManyConnectionsError",
    }


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        details.append(
            {
                "field": ".".join(p for p in loc if p != "body") or "body",
                "message": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return details


def install_error_handlers(app: FastAPI) -> None:
    """Map every error class to its HTTP answer."""

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, exc.code, str(exc))

    @app.exception_handler(CheckSpecError)
    async def _bad_check(_: Request, exc: CheckSpecError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc), {"field": exc.field})

    @app.exception_handler(SuiteError)
    async def _bad_suite(_: Request, exc: SuiteError) -> JSONResponse:
        details = {"file": exc.file, "case": exc.case, "field": exc.field}
        return error_response(422, "invalid_request", str(exc), details)

    @app.exception_handler(ConfigError)
    async def _bad_config(_: Request, exc: ConfigError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc), {"field": "config"})

    @app.exception_handler(BlockedAddressError)
    async def _blocked(_: Request, exc: BlockedAddressError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc), {"field": "config.url"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        first = details[0] if details else {"field": "body", "message": "invalid"}
        message = f"Invalid request: {first['field']}: {first['message']}."
        return error_response(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route; see /docs for the API."
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        if _is_database_outage(exc):
            log.warning("database unavailable: %s", type(exc).__name__)
            return error_response(
                503,
                "database_unavailable",
                "The database cannot be reached right now; retry shortly.",
                {"request_id": request_id},
                {"Retry-After": "5"},
            )
        log.exception("unhandled error (request %s)", request_id)
        return error_response(
            500,
            "internal_error",
            f"An internal error occurred. Quote request id {request_id} when reporting it.",
            {"request_id": request_id},
        )
