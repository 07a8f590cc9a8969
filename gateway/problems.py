"""Errors as RFC 9457 problem details: the gateway's one mapping from gRPC statuses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.grpc_errors import RemoteError

PROBLEM_JSON = "application/problem+json"

STATUS_TO_HTTP = {
    "INVALID_ARGUMENT": 422,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "FAILED_PRECONDITION": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "DEADLINE_EXCEEDED": 504,
    "UNAVAILABLE": 503,
}

TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(
    status: int,
    detail: str,
    *,
    reason: str = "",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://granary.dev/problems/{reason.lower().replace('_', '-')}" if reason else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if reason:
        body["reason"] = reason
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _remote_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RemoteError)
    status = STATUS_TO_HTTP.get(exc.status, 500)
    detail = exc.message if status != 500 else "internal error"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(
        status,
        detail,
        reason=exc.reason,
        errors=[{"field": v.field, "message": v.description} for v in exc.violations],
        headers=headers,
        extra={k: v for k, v in exc.metadata.items() if k.endswith("_id")},
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")), "message": e["msg"]}
        for e in exc.errors()
    ]
    return problem(422, "the request is not valid", reason="INVALID_ARGUMENT", errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RemoteError, _remote_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
