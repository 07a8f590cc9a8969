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
from tests.integration.credit.support import TEMPLATE, Credit

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


async def test_credit_dashboards_over_rest_with_branch_scope(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    credit = Credit(await start_service("credit"))
    org = await seed_org(customer)
    b1, b2 = org.branch_ids["B1"], org.branch_ids["B2"]
    try:
        await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-01-15")
        await credit.rpc("CreateContractTemplate", credit.admin, code="LOAN", body=TEMPLATE)
        product = await credit.product(code="PA", name="种植贷")
        in_b1 = await credit.loan(product, start="2025-11-15", officer=credit.staff("officer", branch_id=b1))
        await credit.loan(product, amount="30000", start="2026-01-15", officer=credit.staff("officer", branch_id=b2))
        await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-20")
        assert (await credit.rpc("RunCloseOfBusiness", credit.system)).loans_processed == 2
    finally:
        await credit.channels.close()

    async with gateway() as client:
        officer = await login(client, "officer1")
        auditor = await login(client, "auditor1")
        base = "/api/v1/dashboards/credit"

        mine = await client.get(f"{base}/summary", headers=officer)
        assert mine.status_code == 200, mine.text
        assert {k: mine.json()[k] for k in ("branch_id", "loans", "outstanding", "overdue_rate", "par30")} == {
            "branch_id": b1,
            "loans": 1,
            "outstanding": "12000.00",
            "overdue_rate": "1.0000",
            "par30": "1.0000",
        }
        hidden = (await client.get(f"{base}/summary", params={"branch_id": b2}, headers=officer)).json()
        assert (hidden["loans"], hidden["outstanding"]) == (0, "0.00")
        overdue = (await client.get(f"{base}/overdue-loans", headers=officer)).json()["items"]
        assert [(x["id"], x["dpd"], x["bucket"]) for x in overdue] == [(in_b1.id, 67, "M3")]
        assert "installments" not in overdue[0]

        everything = (await client.get(f"{base}/summary", headers=auditor)).json()
        # 12000 of 42000 is more than 30 days past due: 0.285714… → 0.2857
        assert (everything["loans"], everything["outstanding"], everything["par30"]) == (2, "42000.00", "0.2857")
        buckets = (await client.get(f"{base}/overdue-buckets", headers=auditor)).json()["items"]
        assert [(b["key"], b["loans"], b["outstanding"]) for b in buckets] == [
            ("current", 0, "0.00"),
            ("M1", 1, "30000.00"),
            ("M2", 0, "0.00"),
            ("M3", 1, "12000.00"),
            ("M4+", 0, "0.00"),
        ]
        branches = (await client.get(f"{base}/by-branch", headers=auditor)).json()["items"]
        assert [(b["key"], b["outstanding"]) for b in branches] == [(b2, "30000.00"), (b1, "12000.00")]
        products = (await client.get(f"{base}/by-product", headers=auditor)).json()["items"]
        assert [(p["key"], p["label"], p["loans"]) for p in products] == [("PA", "种植贷", 2)]
        classes = (await client.get(f"{base}/classification", headers=auditor)).json()["items"]
        assert [(c["label"], c["loans"]) for c in classes] == [
            ("正常", 0),
            ("关注", 2),
            ("次级", 0),
            ("可疑", 0),
            ("损失", 0),
        ]
        months = (
            await client.get(
                f"{base}/disbursements", params={"from": "2025-11-01", "to": "2026-01-31"}, headers=auditor
            )
        ).json()["items"]
        assert [(m["month"], m["loans"], m["amount"]) for m in months] == [
            ("2025-11", 1, "12000.00"),
            ("2025-12", 0, "0.00"),
            ("2026-01", 1, "30000.00"),
        ]
        board = (await client.get(f"{base}/officers", headers=officer)).json()["items"]
        assert [(o["branch_id"], o["applications"], o["pass_rate"], o["disbursed_amount"]) for o in board] == [
            (b1, 1, "1.0000", "12000.00")
        ]
        bad = await client.get(f"{base}/summary", params={"from": "yesterday"}, headers=auditor)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == "from_date"
