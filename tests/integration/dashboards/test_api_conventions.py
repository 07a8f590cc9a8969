"""The REST conventions, checked over every route of the real gateway and its OpenAPI document.

- every /api/v1 route but the token endpoint and the SMS receipt callback wants a bearer
  token: without one (or with a forged one) the answer is 401 problem+json;
- every POST documents the ``Idempotency-Key`` header, and the gateway reads it on every POST
  (a malformed key is refused before anything else happens);
- list routes page with ``limit``/``cursor`` and answer ``{items, next_cursor}``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from services.common.settings import Settings

pytestmark = pytest.mark.integration

PUBLIC = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/sms/receipts")}
# Lists that answer their whole (small, bounded) collection at once: next_cursor is always null.
COMPLETE_LISTS = {
    "/api/v1/process-models": "one row per process key",
    "/api/v1/process-models/{process_key}/versions": "the versions of one model",
    "/api/v1/products": "the product catalogue (latest versions)",
    "/api/v1/templates": "the message templates",
    "/api/v1/process-incidents": "open incidents; the process service has no paging for them yet",
}
OTHER_PAGING = {"offset", "page", "page_size", "page_token", "per_page"}


@pytest.fixture
async def app(platform_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    application = create_app(Settings())
    async with application.router.lifespan_context(application):
        yield application


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every documented operation under /api/v1 (the document lists every route)."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_every_api_route_requires_a_bearer_token(app: FastAPI) -> None:
    operations = _operations(app)
    assert len(operations) > 100 and PUBLIC <= set(operations)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        open_routes = []
        for method, path in operations:
            if (method, path) in PUBLIC:
                continue
            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                reply = await client.request(method, _concrete(path), headers=headers)
                if reply.status_code != 401:
                    open_routes.append((method, path, reply.status_code))
                    continue
                assert reply.headers["content-type"] == "application/problem+json", (method, path)
                assert reply.headers["www-authenticate"] == "Bearer"
                body = reply.json()
                assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]
        assert open_routes == []

        # the two public routes do not ask for a user token
        token = await client.post("/api/v1/auth/token", data={})
        assert token.status_code == 422 and token.headers["content-type"] == "application/problem+json"
        receipt = await client.post("/api/v1/sms/receipts", json={"message_id": "m1", "status": "delivered"})
        assert receipt.status_code != 401 or "Bearer" not in receipt.headers.get("www-authenticate", "")


async def test_every_post_documents_and_reads_the_idempotency_key(app: FastAPI) -> None:
    spec = app.openapi()
    posts = [(path, ops["post"]) for path, ops in spec["paths"].items() if "post" in ops]
    assert len(posts) > 50
    undocumented = [
        path
        for path, op in posts
        if not any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", []))
    ]
    assert undocumented == []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        for path, _ in posts:
            reply = await client.post(_concrete(path), headers={"Idempotency-Key": "k" * 201})
            assert reply.status_code == 422, path
            assert reply.json()["errors"] == [{"field": "Idempotency-Key", "message": "1-200 printable characters"}]


def _schema(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    ok = next((v for k, v in op.get("responses", {}).items() if k.startswith("2")), {})
    schema: dict[str, Any] = ok.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


async def test_list_routes_page_with_limit_and_cursor(app: FastAPI) -> None:
    spec = app.openapi()
    assert set(COMPLETE_LISTS) <= set(spec["paths"]), "a complete list named here no longer exists"
    pages, problems = [], []
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None:
            continue
        query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        if OTHER_PAGING & set(query):
            problems.append((path, "pages with something else than limit/cursor"))
        if "limit" in query:
            if "cursor" not in query:
                problems.append((path, "limit without cursor"))
            if "maximum" not in query["limit"]["schema"]:
                problems.append((path, "limit without a maximum"))
        properties = _schema(spec, op).get("properties", {})
        if "items" in properties and path not in COMPLETE_LISTS:
            pages.append(path)
            if "next_cursor" not in properties:
                problems.append((path, "items without next_cursor"))
            if not {"limit", "cursor"} <= set(query):
                problems.append((path, "a page without limit/cursor"))
    assert problems == []
    assert {"/api/v1/parties", "/api/v1/tasks", "/api/v1/audit", "/api/v1/field-tasks"} <= set(pages)
