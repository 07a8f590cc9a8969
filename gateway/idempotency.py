"""Forwards a request's ``Idempotency-Key`` to the services (see services.common.idempotency)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.problems import problem
from services.common.idempotency import MAX_KEY_LENGTH, idempotency_key


class IdempotencyKeyMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware): the key must live in the request's own context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"idempotency-key"), None)
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
            response = problem(
                422,
                "Idempotency-Key must be 1-200 printable characters",
                reason="INVALID_ARGUMENT",
                errors=[{"field": "Idempotency-Key", "message": "1-200 printable characters"}],
            )
            await response(scope, receive, send)
            return
        with idempotency_key(key):
            await self.app(scope, receive, send)
