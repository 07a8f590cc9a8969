"""The plumbing end to end: REST → gateway → customer (gRPC) → outbox → NATS → notification."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import func, select

from services.common import messaging_schema
from services.common.runtime import ServiceHost
from services.notification.models import NotificationRow
from tests.integration.conftest import login, seed_org
from tests.support import eventually

pytestmark = pytest.mark.integration

VALID_ID = "11010519491231002X"


async def _notifications(host: ServiceHost) -> list[NotificationRow]:
    async with host.sessions() as session:
        return list((await session.scalars(select(NotificationRow))).all())


async def test_party_created_over_rest_is_consumed_once_and_traced(
    start_service,
    gateway,
    span_exporter: InMemorySpanExporter,  # type: ignore[no-untyped-def]
) -> None:
    customer = await start_service("customer")
    notification = await start_service("notification")
    org = await seed_org(customer)
    async with gateway() as client:
        headers = await login(client, "officer1")
        span_exporter.clear()
        reply = await client.post(
            "/api/v1/parties",
            json={"kind": "person", "name": "王建国", "id_number": VALID_ID, "mobile": "138 0013 8000"},
            headers=headers,
        )
        assert reply.status_code == 201, reply.text
        party = reply.json()
        assert party["id_number_masked"] == "110***********002X"
        assert party["mobile_masked"] == "138****8000"
        assert party["birth_date"] == "1949-12-31"
        assert party["branch_id"] == org.branch_ids["B1"]
        assert "11010519491231002X" not in reply.text

        async def notified() -> bool:
            return len(await _notifications(notification)) == 1

        await eventually(notified)
        [notice] = await _notifications(notification)
        assert notice.recipient_id == org.staff["officer1"]
        assert "王建国" in notice.body

        # the officer sees it in the in-app inbox through the gateway
        inbox = await client.get("/api/v1/notifications", headers=headers)
        assert inbox.status_code == 200
        assert [n["title"] for n in inbox.json()["items"]] == ["新客户已建档"]

        # the same event delivered again (as after a producer's retry) adds nothing
        async with customer.engine.connect() as conn:
            row = (await conn.execute(select(messaging_schema.outbox))).mappings().one()
        await customer.bus.publish(
            customer.bus.subject_for(row["event_type"]), row["payload"], {"Nats-Msg-Id": "redelivered"}
        )

        async def consumed_twice() -> bool:
            info = await customer.bus.js.consumer_info(customer.bus.stream, "notification-party-created")
            return info.delivered.stream_seq >= 2 and info.num_ack_pending == 0

        await eventually(consumed_twice)
        assert len(await _notifications(notification)) == 1
        async with notification.engine.connect() as conn:
            inbox_rows = (await conn.execute(select(func.count()).select_from(messaging_schema.inbox))).scalar()
        assert inbox_rows == 1

    # one trace from the gateway through the customer service to the consumer
    spans = span_exporter.get_finished_spans()
    http = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST /api/v1/parties")]
    assert http, [s.name for s in spans]
    trace_id = http[0].context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert "/granary.v1.CustomerService/CreateParty" in names, names
    consumer_spans = [s for s in in_trace if s.kind == SpanKind.CONSUMER]
    assert [s.attributes["messaging.consumer.group.name"] for s in consumer_spans][:1] == ["notification-party-created"]


async def test_scope_duplicates_and_validation_errors(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        officer1 = await login(client, "officer1")
        officer2 = await login(client, "officer2")
        auditor = await login(client, "auditor1")
        created = await client.post("/api/v1/parties", json={"name": "李秀英", "id_number": VALID_ID}, headers=officer1)
        assert created.status_code == 201
        party_id = created.json()["id"]

        # another branch's officer: not found, exactly like a party that does not exist
        other = await client.get(f"/api/v1/parties/{party_id}", headers=officer2)
        missing = await client.get("/api/v1/parties/00000000-0000-0000-0000-000000000000", headers=officer2)
        assert other.status_code == missing.status_code == 404
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["detail"].replace(party_id, "X") == missing.json()["detail"].replace(
            "00000000-0000-0000-0000-000000000000", "X"
        )
        # an auditor sees every branch, masked
        audited = await client.get(f"/api/v1/parties/{party_id}", headers=auditor)
        assert audited.status_code == 200
        assert audited.json()["id_number_masked"] == "110***********002X"
        # an auditor may not register customers
        forbidden = await client.post("/api/v1/parties", json={"name": "某人", "id_number": VALID_ID}, headers=auditor)
        assert forbidden.status_code == 403

        # a second registration of the same ID number is refused, nothing is stored twice
        duplicate = await client.post(
            "/api/v1/parties", json={"name": "李秀英", "id_number": VALID_ID.lower()}, headers=officer1
        )
        assert duplicate.status_code == 409
        assert duplicate.json()["reason"] == "PARTY_EXISTS"
        assert duplicate.json()["party_id"] == party_id

        # a wrong check digit: 422 naming the field and the reason
        invalid = await client.post(
            "/api/v1/parties", json={"name": "张三", "id_number": "110105194912310021"}, headers=officer1
        )
        assert invalid.status_code == 422
        body = invalid.json()
        assert body["errors"][0]["field"] == "id_number"
        assert "check digit" in body["errors"][0]["message"]
        bad_phone = await client.post(
            "/api/v1/parties",
            json={"name": "张三", "id_number": "440524188001010014", "mobile": "010-12345678"},
            headers=officer1,
        )
        assert bad_phone.status_code == 422
        assert bad_phone.json()["errors"][0]["field"] == "mobile"
        async with customer.sessions() as session:
            from services.customer.models import PartyRow

            assert (await session.scalar(select(func.count()).select_from(PartyRow))) == 1
