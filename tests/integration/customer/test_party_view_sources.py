"""The 360° view asking the real credit and field task services, over gRPC, on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import credit_pb2, credit_pb2_grpc, fieldtask_pb2, fieldtask_pb2_grpc

from tests.integration.conftest import login, seed_org
from tests.integration.customer.support import add_staff, remote_call, resident_id, staff_caller

pytestmark = pytest.mark.integration

TEMPLATE = "借款合同 {{ contract_no }} 借款人 {{ party_id }} 金额 {{ amount }} 元 期限 {{ term_months }} 个月"


async def test_full_view_shows_applications_loans_and_open_field_tasks(start_service, gateway, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    credit = await start_service("credit")
    fieldtask = await start_service("fieldtask")
    org = await seed_org(customer)
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    branch = org.branch_ids["B1"]
    officer = staff_caller(customer, org.staff["officer1"], ["officer"], branch)
    supervisor = staff_caller(customer, org.staff["supervisor1"], ["supervisor"], branch)
    admin = staff_caller(customer, "admin-x", ["admin"], branch)

    async def credit_rpc(rpc: str, caller, **fields):  # type: ignore[no-untyped-def]
        request = getattr(credit_pb2, f"{rpc}Request")(**fields)
        return await remote_call(credit, credit_pb2_grpc.CreditServiceStub, rpc, request, caller)

    async with gateway() as client:
        headers = await login(client, "officer1")
        party_id = (
            await client.post(
                "/api/v1/parties",
                json={"name": "王建国", "id_number": resident_id("330726", "19720315", "101")},
                headers=headers,
            )
        ).json()["id"]
        other_party = (
            await client.post(
                "/api/v1/parties",
                json={"name": "李秀英", "id_number": resident_id("330726", "19800822", "202")},
                headers=headers,
            )
        ).json()["id"]

        # credit: one loan disbursed, one application still under review, one for another party
        await credit_rpc("SetBusinessDate", admin, business_date="2026-01-15")
        await credit_rpc("CreateContractTemplate", admin, code="LOAN", body=TEMPLATE)
        product = (
            await credit_rpc(
                "CreateProduct",
                admin,
                code="ZZD01",
                name="种植贷",
                purpose="种植",
                min_amount="1000",
                max_amount="500000",
                min_term_months=3,
                max_term_months=36,
                annual_rate="0.0720",
                repayment_method=credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
                penalty_markup="0.5",
                guarantee_types=["信用"],
            )
        ).product

        async def submit(pid: str, amount: str) -> credit_pb2.Application:
            return (
                await credit_rpc(
                    "SubmitApplication",
                    officer,
                    party_id=pid,
                    product_id=product.id,
                    amount=amount,
                    term_months=12,
                    guarantee_method="信用",
                    idempotency_key=uuid.uuid4().hex,
                    purpose="买种子",
                )
            ).application

        first = await submit(party_id, "30000")
        for action in ("start_review", "approve"):
            await credit_rpc("TransitionApplication", supervisor, application_id=first.id, action=action, node="n1")
        contract = (
            await credit_rpc("GenerateContract", officer, application_id=first.id, template_code="LOAN")
        ).contract
        await credit_rpc(
            "SignContract",
            officer,
            contract_id=contract.id,
            method="manual",
            evidence_ref="scan-1",
            content_hash=contract.content_hash,
        )
        loan = (
            await credit_rpc(
                "DisburseLoan", supervisor, application_id=first.id, disbursed_on="2026-01-15", external_ref="T-1"
            )
        ).loan
        second = await submit(party_id, "8000")
        await submit(other_party, "5000")

        # field tasks: one open for the party, one cancelled, one for another party
        due = Timestamp()
        due.FromDatetime(datetime.now(UTC) + timedelta(days=2))

        async def task(pid: str, title: str) -> fieldtask_pb2.FieldTask:
            reply = await remote_call(
                fieldtask,
                fieldtask_pb2_grpc.FieldTaskServiceStub,
                "CreateFieldTask",
                fieldtask_pb2.CreateFieldTaskRequest(
                    task_type=fieldtask_pb2.FIELD_TASK_TYPE_POST_LOAN_CHECK,
                    party_id=pid,
                    assignee_id=org.staff["officer1"],
                    due_at=due,
                    title=title,
                    origin="manual",
                    location=fieldtask_pb2.GeoPoint(
                        latitude=29.45, longitude=119.89, coordinate_system=fieldtask_pb2.COORDINATE_SYSTEM_WGS84
                    ),
                ),
                officer,
            )
            return reply.task

        open_task = await task(party_id, "贷后检查")
        cancelled = await task(party_id, "已取消的走访")
        await remote_call(
            fieldtask,
            fieldtask_pb2_grpc.FieldTaskServiceStub,
            "CancelFieldTask",
            fieldtask_pb2.CancelFieldTaskRequest(task_id=cancelled.id, reason="重复"),
            supervisor,
        )
        await task(other_party, "别人的任务")

        reply = await client.get(f"/api/v1/parties/{party_id}/view", headers=headers)
        assert reply.status_code == 200, reply.text
        view = reply.json()
        assert view["partial"] is False and view["missing"] == []
        credit_items = {(c["kind"], c["id"]): c for c in view["credit"]}
        assert set(credit_items) == {("application", first.id), ("application", second.id), ("loan", loan.id)}
        assert credit_items[("application", second.id)]["amount"] == "8000.00"
        assert credit_items[("application", second.id)]["status"] == "submitted"
        assert credit_items[("application", first.id)]["status"] == "disbursed"
        disbursed = credit_items[("loan", loan.id)]
        assert disbursed["amount"] == "30000.00" and disbursed["status"] == "active"
        assert disbursed["details"]["application_id"] == first.id
        assert disbursed["details"]["outstanding_principal"] == "30000.00"
        assert [(t["id"], t["task_type"], t["status"], t["details"]["title"]) for t in view["open_field_tasks"]] == [
            (open_task.id, "post_loan_check", "assigned", "贷后检查")
        ]

        # the field task service unreachable (nothing listens at its address): the credit part
        # stays, the missing part is named
        monkeypatch.setenv("GRANARY_FIELDTASK_ADDRESS", "127.0.0.1:9")
        partial = (await client.get(f"/api/v1/parties/{party_id}/view", headers=headers)).json()
        assert partial["partial"] is True
        assert [m["part"] for m in partial["missing"]] == ["fieldtask"]
        assert "UNAVAILABLE" in partial["missing"][0]["reason"]
        assert len(partial["credit"]) == 3 and partial["open_field_tasks"] == []
