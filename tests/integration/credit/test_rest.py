"""Credit over the gateway's REST API: quote (nothing stored), errors as problem+json, branch scope."""

from __future__ import annotations

import uuid

import pytest
from granary.v1 import credit_pb2, credit_pb2_grpc
from sqlalchemy import func, select

from services.common import messaging_schema
from services.common.grpc_client import ServiceChannels, call
from services.common.identity import ServiceIdentity, TokenSigner
from services.credit.models import ApplicationRow
from tests.integration.conftest import login, seed_org

pytestmark = pytest.mark.integration


async def test_quote_applications_and_errors_over_rest(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    credit = await start_service("credit")
    await seed_org(customer)
    signer = TokenSigner(credit.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=10, fallback_caller=ServiceIdentity(signer, "test-seed"))
    stub = channels.stub(f"127.0.0.1:{credit.port}", credit_pb2_grpc.CreditServiceStub)
    product = (
        await call(
            stub.CreateProduct,
            credit_pb2.CreateProductRequest(
                code="FINERACT",
                name="示例",
                min_amount="100",
                max_amount="100000",
                min_term_months=6,
                max_term_months=24,
                annual_rate="0.094822",
                day_count="THIRTY_360",
                repayment_method=credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
            ),
        )
    ).product
    await channels.close()
    async with credit.engine.connect() as conn:
        outbox_before = (await conn.execute(select(func.count()).select_from(messaging_schema.outbox))).scalar()

    async with gateway() as client:
        headers = await login(client, "officer1")
        reply = await client.post(
            f"/api/v1/products/{product.id}/quote",
            json={"amount": "100", "term_months": 6, "start_date": "2026-01-01"},
            headers=headers,
        )
        assert reply.status_code == 200, reply.text
        quote = reply.json()
        # Fineract's published example: 17.13 a month, interest 0.79, 0.66, 0.53, 0.40, 0.27, 0.13
        assert [i["total"] for i in quote["installments"][:-1]] == ["17.13"] * 5
        assert [i["interest"] for i in quote["installments"]] == ["0.79", "0.66", "0.53", "0.40", "0.27", "0.13"]
        assert quote["total_principal"] == "100.00"

        bad = await client.post(
            f"/api/v1/products/{product.id}/quote", json={"amount": "100000.01", "term_months": 6}, headers=headers
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == "amount"

        body = {
            "party_id": "party-rest",
            "product_id": product.id,
            "amount": "5000",
            "term_months": 12,
            "guarantee_method": "信用",
            "idempotency_key": uuid.uuid4().hex,
        }
        created = await client.post("/api/v1/applications", json=body, headers=headers)
        assert created.status_code == 201, created.text
        app = created.json()
        assert app["status"] == "submitted" and app["amount"] == "5000.00"
        illegal = await client.post(
            f"/api/v1/applications/{app['id']}/transitions", json={"action": "submit"}, headers=headers
        )
        assert illegal.status_code == 409
        assert "cannot submit an application that is submitted" in illegal.json()["detail"]
        over = await client.post(
            "/api/v1/applications", json={**body, "idempotency_key": "k2", "term_months": 25}, headers=headers
        )
        assert over.status_code == 422
        assert over.json()["errors"][0]["field"] == "term_months"

        other = await login(client, "officer2")
        assert (await client.get(f"/api/v1/applications/{app['id']}", headers=other)).status_code == 404
        listed = await client.get("/api/v1/applications", headers=headers)
        assert [a["id"] for a in listed.json()["items"]] == [app["id"]]

    async with credit.sessions() as session:
        assert len((await session.scalars(select(ApplicationRow))).all()) == 1
    async with credit.engine.connect() as conn:
        outbox_after = (await conn.execute(select(func.count()).select_from(messaging_schema.outbox))).scalar()
    assert outbox_after == outbox_before + 1  # the quote stored nothing; the application one event
