"""The OpenAPI document: the conventions every route shares, documented on every operation.

Routes do not declare the ``Idempotency-Key`` header themselves: the gateway's middleware
accepts it on every POST (and PUT, PATCH, DELETE) and the services replay the stored answer of
a repeated command. This adds the header to every POST operation of the schema, once.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-200 printable characters, unique per intended change (a UUID). A repeated "
    "request with the same key and caller gets the first answer again instead of a second change.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "example": "5f0c7e0e-8d53-4f7e-9a8e-2f1d0b6f3a11",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema.get("paths", {}).values():
            post = operations.get("post")
            if post is None:
                continue
            parameters = post.setdefault("parameters", [])
            if not any(p.get("name", "").lower() == "idempotency-key" for p in parameters):
                parameters.append(dict(IDEMPOTENCY_KEY))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
