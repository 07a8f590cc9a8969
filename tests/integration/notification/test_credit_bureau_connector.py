"""The reference credit-bureau connector against a real HTTP server process on loopback,
the real customer service, PostgreSQL and NATS: success, timeout, 5xx, missing consent."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from granary.v1 import credit_pb2, customer_pb2, customer_pb2_grpc, events_pb2, notification_pb2
from sqlalchemy import select

from services.common.envelope import build_event
from services.common.grpc_client import ServiceChannels, call
from services.common.identity import TokenSigner
from services.common.runtime import ServiceHost
from services.common.settings import Settings
from services.customer.models import CreditReportRow
from services.notification.connectors import credit_bureau
from tests.integration.conftest import caller_for, seed_org
from tests.integration.notification.helpers import register_party
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def bureau_world(start_service, gateway, loopback, monkeypatch) -> AsyncIterator[dict]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRANARY_NOTIFICATION_BUREAU_URL", loopback.bureau_url)
    monkeypatch.setenv("GRANARY_NOTIFICATION_BUREAU_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("GRANARY_CONSUMER_MAX_DELIVERIES", "2")
    customer = await start_service("customer")
    org = await seed_org(customer)
    async with gateway() as client:
        party = await register_party(client)
    stop = asyncio.Event()
    task = asyncio.create_task(credit_bureau.serve(Settings(), stop))
    results = await customer.bus.js.pull_subscribe(
        customer.bus.subject_for("connector.credit_report.*"), durable=f"test-{uuid.uuid4().hex[:8]}",
        stream=customer.bus.stream,
    )
    try:
        yield {"customer": customer, "org": org, "party": party, "results": results}
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        await results.unsubscribe()


async def _consent(customer: ServiceHost, org, party: dict) -> str:  # type: ignore[no-untyped-def]
    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    officer = caller_for(signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    channels = ServiceChannels(default_timeout=5, fallback_caller=lambda: officer)
    try:
        stub = channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
        reply = await call(
            stub.RecordConsent,
            customer_pb2.RecordConsentRequest(
                party_id=party["id"], purpose="credit_report", scope="贷款审批查询征信", granted=True,
                document_ref="consent-form-001",
            ),
            caller=officer,
        )
        return str(reply.consent.id)
    finally:
        await channels.close()


async def _submit(customer: ServiceHost, party: dict) -> str:
    application_id = str(uuid.uuid4())
    event = build_event(
        event_type="credit.application.submitted",
        source="credit",
        subject=application_id,
        data=credit_pb2.ApplicationChanged(
            application_id=application_id, party_id=party["id"], amount="50000", branch_id=party["branch_id"],
            managing_officer_id=party["managing_officer_id"], status="submitted",
        ),
    )
    await customer.bus.publish(customer.bus.subject_for(event.type), event.to_bytes(), {"Nats-Msg-Id": event.id})
    return application_id


async def _outcome(results) -> events_pb2.Event:  # type: ignore[no-untyped-def]
    found: list[events_pb2.Event] = []

    async def arrived() -> bool:
        try:
            for msg in await results.fetch(batch=5, timeout=0.5):
                found.append(events_pb2.Event.FromString(msg.data))
                await msg.ack()
        except Exception:
            pass
        return bool(found)

    await eventually(arrived, timeout=20)
    assert len(found) == 1, [e.type for e in found]
    return found[0]


async def _reports(customer: ServiceHost) -> list[CreditReportRow]:
    async with customer.sessions() as session:
        return list((await session.scalars(select(CreditReportRow))).all())


async def test_success_stores_the_summary_and_announces_it_once(bureau_world, loopback) -> None:  # type: ignore[no-untyped-def]
    customer, party = bureau_world["customer"], bureau_world["party"]
    consent_id = await _consent(customer, bureau_world["org"], party)
    application_id = await _submit(customer, party)
    event = await _outcome(bureau_world["results"])
    assert event.type == "connector.credit_report.received"
    received = notification_pb2.CreditReportReceived()
    event.data.Unpack(received)
    assert (received.application_id, received.party_id, received.external_ref) == (
        application_id, party["id"], f"PBOC-{application_id}",
    )
    [report] = await _reports(customer)
    assert report.id == received.report_id
    assert report.summary == {"score": "682", "overdue_accounts": "0", "queries_6m": "2"}
    assert report.consent_id == consent_id
    [query] = loopback.received("/bureau")
    assert query["body"]["consent_id"] == consent_id


async def test_a_bureau_timeout_is_retried_then_reported_as_failed(bureau_world, loopback) -> None:  # type: ignore[no-untyped-def]
    customer, party = bureau_world["customer"], bureau_world["party"]
    await _consent(customer, bureau_world["org"], party)
    loopback.set_mode(bureau="slow")
    await _submit(customer, party)
    event = await _outcome(bureau_world["results"])
    failed = notification_pb2.CreditReportFailed()
    event.data.Unpack(failed)
    assert (event.type, failed.reason) == ("connector.credit_report.failed", "timeout")
    assert len(loopback.received("/bureau")) == 2  # two deliveries allowed in this test
    assert await _reports(customer) == []


async def test_a_bureau_5xx_is_reported_as_failed(bureau_world, loopback) -> None:  # type: ignore[no-untyped-def]
    customer, party = bureau_world["customer"], bureau_world["party"]
    await _consent(customer, bureau_world["org"], party)
    loopback.set_mode(bureau="error")
    await _submit(customer, party)
    event = await _outcome(bureau_world["results"])
    failed = notification_pb2.CreditReportFailed()
    event.data.Unpack(failed)
    assert (event.type, failed.reason) == ("connector.credit_report.failed", "bureau_error")
    assert "500" in failed.detail
    assert await _reports(customer) == []


async def test_without_consent_the_bureau_is_never_called(bureau_world, loopback) -> None:  # type: ignore[no-untyped-def]
    customer, party = bureau_world["customer"], bureau_world["party"]
    await _submit(customer, party)
    event = await _outcome(bureau_world["results"])
    failed = notification_pb2.CreditReportFailed()
    event.data.Unpack(failed)
    assert (event.type, failed.reason, failed.party_id) == ("connector.credit_report.failed", "no_consent", party["id"])
    assert loopback.received("/bureau") == []
    assert await _reports(customer) == []
