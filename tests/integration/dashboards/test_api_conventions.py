"""The REST conventions, checked over every route of the real gateway and its OpenAPI document.

- every /api/v1 route but the token endpoint and the SMS receipt callback wants a bearer
  token: without one (or with a forged one) the answer is 401 problem+json;
- every POST documents the ``Idempotency-Key`` header, and the gateway reads it on every POST
  (a malformed key is refused before anything else happens);
- list routes page with ``limit``/``cursor`` and answer ``{items, next_cursor}``; no route
  answers a bare JSON array, and every JSON answer declares its schema so none can hide one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from services.common.settings import Settings
from tests.integration.conftest import caller_for, login, seed_org
from tests.integration.credit.support import TEMPLATE, Credit
from tests.integration.customer.support import add_staff, resident_id
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

PUBLIC = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/sms/receipts")}
# GET routes that answer bytes, not JSON (so they declare no JSON schema).
DOWNLOADS = {
    "/api/v1/process-models/{process_key}/versions/{version}/files/{name}": "a BPMN/DMN file as deployed",
    "/api/v1/field-tasks/{task_id}/evidence/{evidence_id}": "a photo, recording or document",
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


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_array(s) for s in schema.get("anyOf", []))


async def test_list_routes_page_with_limit_and_cursor(app: FastAPI) -> None:
    spec = app.openapi()
    assert set(DOWNLOADS) <= set(spec["paths"]), "a download named here no longer exists"
    pages, problems = [], []
    for path, ops in spec["paths"].items():
        op = ops.get("get")
        if op is None or not path.startswith("/api/v1/"):
            continue
        query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        if OTHER_PAGING & set(query):
            problems.append((path, "pages with something else than limit/cursor"))
        if "limit" in query:
            if "cursor" not in query:
                problems.append((path, "limit without cursor"))
            if query["limit"]["schema"].get("maximum") != 200 or query["limit"]["schema"].get("default") != 50:
                problems.append((path, "limit not 1-200, default 50"))
        schema = _schema(spec, op)
        if _is_array(schema):
            problems.append((path, "a bare JSON array: answer {items, next_cursor}"))
        if not schema and path not in DOWNLOADS:
            problems.append((path, "no declared JSON schema (a list could hide behind it)"))
        properties = schema.get("properties", {})
        if "items" in properties:
            pages.append(path)
            if "next_cursor" not in properties:
                problems.append((path, "items without next_cursor"))
            if not {"limit", "cursor"} <= set(query):
                problems.append((path, "a page without limit/cursor"))
    assert problems == []
    assert {
        "/api/v1/parties",
        "/api/v1/tasks",
        "/api/v1/audit",
        "/api/v1/field-tasks",
        "/api/v1/branches",
        "/api/v1/regions",
        "/api/v1/staff",
        "/api/v1/templates",
        "/api/v1/products",
        "/api/v1/process-models",
        "/api/v1/process-models/{process_key}/versions",
        "/api/v1/process-models/{process_key}/node-durations",
        "/api/v1/process-incidents",
    } <= set(pages)


def _lists(spec: dict[str, Any]) -> list[str]:
    """Every GET route that pages: it answers items or takes a limit."""
    return [
        path
        for path, ops in spec["paths"].items()
        if path.startswith("/api/v1/")
        and "get" in ops
        and (
            "items" in _schema(spec, ops["get"]).get("properties", {})
            or any(p["name"] == "limit" for p in ops["get"].get("parameters", []))
        )
    ]


async def _walk(client: httpx.AsyncClient, path: str, query: dict[str, str], headers: dict[str, str]) -> list[Any]:
    """Every item of a list, one per page, following next_cursor to its end."""
    items: list[Any] = []
    cursor = ""
    for _ in range(500):
        params = query | {"limit": 1} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(path, params=params, headers=headers)
        assert reply.status_code == 200, (path, reply.text)
        body = reply.json()
        assert isinstance(body, dict) and set(body) >= {"items", "next_cursor"}, (path, body)
        assert len(body["items"]) <= 1, path
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert cursor, (path, "an empty next_cursor: null ends a list")
    raise AssertionError(f"{path}: no last page after 500")


async def _walk_settled(
    client: httpx.AsyncClient, path: str, query: dict[str, str], headers: dict[str, str]
) -> list[Any]:
    """The walk equals the one-page answer. Lists that still grow from the setup's events (the
    audit trail, the delivery log) are walked again until the list held still during a walk."""
    for _ in range(20):
        before = (await client.get(path, params=query | {"limit": 200}, headers=headers)).json()
        walked = await _walk(client, path, query, headers)
        after = (await client.get(path, params=query | {"limit": 200}, headers=headers)).json()
        assert before["next_cursor"] is None, (path, "more rows than one page of 200 here")
        if before == after:
            assert walked == before["items"], path
            return walked
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never held still for a walk")


async def _complete_an_approval(client: httpx.AsyncClient, business_key: str) -> None:
    """One seq_approval instance through review and approve, so node durations have two nodes."""
    officer = await login(client, "officer1")
    started = await client.post(
        "/api/v1/process-instances",
        headers=officer,
        json={"process_key": "seq_approval", "business_key": business_key, "variables": {"amount": "30000"}},
    )
    assert started.status_code == 201, started.text
    for user in ("supervisor1", "president1"):
        headers = await login(client, user)

        async def task_open(headers: dict[str, str] = headers) -> bool:
            inbox = (await client.get("/api/v1/tasks?view=claimable", headers=headers)).json()["items"]
            return any(t["business_key"] == business_key for t in inbox)

        await eventually(task_open)
        inbox = (await client.get("/api/v1/tasks?view=claimable", headers=headers)).json()["items"]
        task = next(t for t in inbox if t["business_key"] == business_key)
        assert (await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers)).status_code == 200
        done = await client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers, json={"decision": "approve"})
        assert done.status_code == 200, done.text


async def test_every_list_pages_through_the_real_services(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    """Each list, paged one item at a time, gives exactly its one-page answer; a forged cursor or
    an out-of-range limit is a 422 problem. The catalogues the gateway pages itself hold several
    rows here, so their pages really have somewhere to go."""
    customer = await start_service("customer")
    credit = Credit(await start_service("credit"))
    for name in ("notification", "process", "fieldtask"):
        await start_service(name)
    org = await seed_org(customer)
    for username, roles in [
        ("admin1", ["admin"]),
        ("owner1", ["process_owner"]),
        ("supervisor1", ["supervisor"]),
        ("president1", ["president"]),
    ]:
        await add_staff(customer, org, username, roles, "B1")
    async with gateway() as client:
        admin, owner = await login(client, "admin1"), await login(client, "owner1")
        child = await client.post(
            "/api/v1/branches", json={"code": "ZX", "name": "分理处", "parent_id": org.branch_ids["B1"]}, headers=admin
        )
        assert child.status_code == 201, child.text
        products = {}
        for code in ("PB", "PA"):
            product = await client.post(
                "/api/v1/products",
                json={
                    "code": code, "name": "种植贷", "min_amount": "1000", "max_amount": "500000",
                    "min_term_months": 3, "max_term_months": 36, "annual_rate": "0.0720",
                    "repayment_method": "equal_principal",
                },
                headers=admin,
            )
            assert product.status_code == 201, product.text
            products[code] = product.json()["id"]
        tiny = d.bpmn("a_tiny", [d.start(), d.end()], d.chain("start", "end"), {"officer": ["start", "end"]})
        for name, diagram in [
            ("seq.bpmn", d.SEQUENTIAL),
            ("tiny.bpmn", tiny),
            ("seq.bpmn", d.SEQUENTIAL.replace("初审".encode(), "复核".encode())),
        ]:
            deployed = await client.post("/api/v1/process-models", headers=owner, files=[("files", (name, diagram))])
            assert deployed.status_code == 201, deployed.text
        await _complete_an_approval(client, "APP-L1")
        party = await client.post(
            "/api/v1/parties",
            json={"name": "王秀英", "id_number": resident_id("330726", "19800101", "011")},
            headers=await login(client, "officer1"),
        )
        assert party.status_code == 201, party.text
        # a loan of three installments with two repayments
        await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-01-15")
        await credit.rpc("CreateContractTemplate", credit.admin, code="LOAN", body=TEMPLATE)
        officer = caller_for(credit.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
        pa = (await credit.rpc("GetProduct", credit.admin, product_id=products["PA"])).product
        loan = await credit.loan(pa, start="2026-01-15", party_id=party.json()["id"], officer=officer)
        for ref in ("R-1", "R-2"):
            await credit.rpc("PostRepayment", officer, loan_id=loan.id, amount="100.00", external_ref=ref)
        await credit.channels.close()

        spec = (await client.get("/openapi.json")).json()
        # path parameters, and the query parameters a list requires
        values = {
            "process_key": "seq_approval",
            "party_id": party.json()["id"],
            "loan_id": loan.id,
            "service": "customer",
        }
        everything: dict[str, list[Any]] = {}
        for route in _lists(spec):
            required = [p["name"] for p in spec["paths"][route]["get"]["parameters"] if p.get("required")]
            assert set(required) <= set(values), f"{route}: give its required parameters a value here"
            path = route.format(**values)
            query = {p: values[p] for p in required if f"{{{p}}}" not in route}
            everything[route] = await _walk_settled(client, path, query, admin)
            for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 201}):
                refused = await client.get(path, params=query | params, headers=admin)
                assert refused.status_code == 422, (route, params, refused.text)
                assert refused.headers["content-type"] == "application/problem+json", (route, params)
                assert refused.json()["errors"][0]["field"] in {"cursor", "page_token", "limit"}, refused.json()
        townships = await _walk(client, "/api/v1/regions", {"parent_code": "330726000000"}, admin)

    def walked(route: str, *fields: str) -> list[Any]:
        return [tuple(i[f] for f in fields) if len(fields) > 1 else i[fields[0]] for i in everything[route]]

    # the gateway's own paging: stable orders, every row exactly once
    assert walked("/api/v1/branches", "code") == ["B1", "ZX", "B2"]  # depth-first, siblings by code
    assert walked("/api/v1/products", "code") == ["PA", "PB"]
    assert walked("/api/v1/process-models", "process_key") == ["a_tiny", "seq_approval"]
    assert walked("/api/v1/process-models/{process_key}/versions", "version") == [1, 2]
    assert walked("/api/v1/process-models/{process_key}/node-durations", "node_id") == ["approve", "review"]
    assert walked("/api/v1/loans/{loan_id}/schedule", "number") == [1, 2, 3]
    assert walked("/api/v1/loans/{loan_id}/repayments", "external_ref") == ["R-1", "R-2"]
    staff = walked("/api/v1/staff", "username")
    assert staff == sorted(staff) and {"admin1", "officer1", "president1"} <= set(staff)
    assert walked("/api/v1/regions", "code") == ["330000000000"]
    assert [r["code"] for r in townships] == sorted(r["code"] for r in townships) and len(townships) == 5
    templates = walked("/api/v1/templates", "code", "version")
    assert len(templates) > 1 and templates == sorted(templates)
