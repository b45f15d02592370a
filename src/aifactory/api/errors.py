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
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aifactory.errors import (
    AIFactoryError,
    BlockedAddressError,
    CheckSpecError,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    SuiteError,
    Unauthorized,
    Unavailable,
)

log = logging.getLogger("aifactory.api")


class APIError(AIFactoryError):
    """An HTTP-only error with its status and machine-readable code (the domain's are mapped in
    :func:`install_error_handlers`)."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class PayloadTooLarge(APIError):
    status = 413
    code = "payload_too_large"


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a sentence for people, and structured ``details``."""

    code: str
    message: str
    details: Any = None


class ErrorPublic(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


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


def _is_unstorable_value(exc: BaseException) -> bool:
    """Whether ``exc`` means a value from the request cannot be stored (rather than a bug).

    A number beyond the column's range (``OverflowError`` from the driver, PostgreSQL's
    "out of int32 range") or text PostgreSQL refuses (a NUL character) is the client's to fix.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OverflowError):
            return True
        # sqlalchemy.exc.DataError and asyncpg.exceptions.DataError (and its subclasses for
        # untranslatable characters) share the DB-API name.
        if any(cls.__name__ == "DataError" for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unstorable(request: Request) -> JSONResponse:
    # Never the value itself in the answer or the log: it may be a secret.
    log.info("refused a value the database cannot store (request %s)", _request_id(request))
    return error_response(
        422,
        "invalid_request",
        "A value in the request cannot be stored: a number is too large or text holds a "
        "NUL character. Change the value and send the request again.",
        {"request_id": _request_id(request)},
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
_DOCUMENTED = {
    "401": "No API key, or a wrong one.",
    "403": "The API key lacks the scope this operation needs.",
    "404": "An id in the path, the query or the body names nothing.",
    "409": (
        "The id is taken, the Idempotency-Key was used with another body, or a reflection of "
        "the agent is still running."
    ),
    "413": "The body is larger than AIFACTORY_MAX_BODY_BYTES.",
    "422": "The request is malformed or violates the schema; details name the field.",
    "429": "Too many requests for this key; see Retry-After.",
    "503": "The database cannot be reached; see Retry-After.",
}
_CONFLICTS = {"createAgent", "createSuite", "importSuite", "submitBatch", "reflectAgent"}
_NAMES_IDS_OUTSIDE_THE_PATH = {
    "runTest",
    "submitBatch",
    "importRun",
    "compareRuns",
    "getReviewQueue",
    "exportGoldenSet",
}


def _error_statuses(path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["422"] if "422" in operation.get("responses", {}) else []
    if not path.startswith("/api/v1/"):
        return statuses
    statuses += ["401", "403", "429", "503"]
    if "{" in path or operation.get("operationId") in _NAMES_IDS_OUTSIDE_THE_PATH:
        statuses.append("404")
    if operation.get("operationId") in _CONFLICTS:
        statuses.append("409")
    if "requestBody" in operation:
        statuses += ["413", "422"]
    return statuses


def document_errors(app: FastAPI) -> None:
    """Publish the real error shape in the OpenAPI document.

    FastAPI documents its own ``{"detail": [...]}`` for 422, which this API never answers;
    every operation documents :class:`ErrorPublic` for the errors it can give instead, so
    generated clients and schema checks see what the API really sends.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas["ErrorPublic"] = error_schema
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status in _error_statuses(path, operation):
                    documented = responses.get(status, {})
                    if "HTTPValidationError" in str(documented) or not documented:
                        responses[status] = {
                            "description": _DOCUMENTED[status],
                            "content": {"application/json": {"schema": _ERROR_REF}},
                        }
        if "HTTPValidationError" not in str(document.get("paths")):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_EXCERPT_CHARS = 20
"""Characters of the body shown on each side of where malformed JSON went wrong."""


def _json_location(body: Any, position: int) -> dict[str, Any]:
    """Line, column and a short excerpt of ``body`` around character ``position``.

    ``body`` is the text FastAPI failed to decode; the excerpt is the client's own text, shown
    back to it on one line (line breaks as ``\\n``) so it can find the mistake.
    """
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    if not isinstance(body, str):
        return {}
    position = max(0, min(position, len(body)))
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    start = max(0, position - _EXCERPT_CHARS)
    excerpt = body[start : position + _EXCERPT_CHARS]
    excerpt = excerpt.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return {"line": line, "column": column, "excerpt": excerpt}


def _json_problem(exc: RequestValidationError, error: dict[str, Any]) -> dict[str, Any]:
    """The detail of a body that is not JSON: what, and where (not "field 45")."""
    loc = error.get("loc", ())
    position = loc[-1] if loc and isinstance(loc[-1], int) else 0
    where = _json_location(getattr(exc, "body", None), position)
    problem = str((error.get("ctx") or {}).get("error") or "JSON decode error")
    if where:
        message = (
            f"the body is not valid JSON: {problem} at line {where['line']}, column "
            f"{where['column']} (near: {where['excerpt']})"
        )
    else:
        message = f"the body is not valid JSON: {problem}"
    return {"field": "body", "message": message, "type": "json_invalid", **where}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            details.append(_json_problem(exc, error))
            continue
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
    """Map every error class to its HTTP answer, and document the answers in OpenAPI."""
    document_errors(app)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(InvalidInput)
    async def _invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
        return error_response(422, "invalid_request", exc.message, exc.details)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(
            401, "unauthorized", exc.message, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", exc.message)

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(429, "rate_limited", exc.message, headers=headers)

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(503, exc.code, exc.message, headers=headers)

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
        if first.get("type") == "json_invalid":
            message = f"Invalid request: {first['message']}. Fix the JSON and send it again."
        else:
            message = f"Invalid request: {first['field']}: {first['message']}."
        return error_response(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # Only the framework raises a 400: for a body it cannot read (JSON that is not
            # UTF-8, a broken multipart form). A malformed request is a 422, as documented.
            return error_response(
                422,
                "invalid_request",
                "The body cannot be read: send JSON encoded as UTF-8, or a well-formed "
                "multipart form where the operation takes one.",
                [{"field": "body", "message": str(exc.detail), "type": "body_unreadable"}],
            )
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route; see /docs for the API."
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)

    # Handled here rather than by the catch-all below, which Starlette re-raises to the server
    # after answering (and the server would log the statement with its parameters).
    @app.exception_handler(OverflowError)
    async def _too_large_number(request: Request, _: OverflowError) -> JSONResponse:
        return _unstorable(request)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if _is_unstorable_value(exc):
            return _unstorable(request)
        return await _unexpected(request, exc)

    # An outage that the driver raises unwrapped (a refused connect is a bare OSError) or the
    # pool's own timeout: answered here too, since the catch-all below re-raises to the server
    # after answering, and uvicorn then drops the client's keep-alive connection.
    @app.exception_handler(OSError)
    @app.exception_handler(SATimeoutError)
    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
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
