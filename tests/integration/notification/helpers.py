"""Shared steps of the notification integration tests."""

from __future__ import annotations

import uuid

import httpx
import pytest
from google.protobuf.message import Message
from granary.v1 import credit_pb2
from sqlalchemy import select

from services.common.envelope import OutgoingEvent, build_event
from services.common.runtime import ServiceHost
from services.notification.models import MessageRow
from tests.integration.conftest import login

VALID_ID = "11010519491231002X"


def notification_env(monkeypatch: pytest.MonkeyPatch, sms_url: str, *, interval: float = 0.1) -> None:
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_CONNECTOR", "http")
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_GATEWAY_URL", sms_url)
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_GATEWAY_TOKEN", "test-token")
    monkeypatch.setenv("GRANARY_NOTIFICATION_DISPATCH_INTERVAL_SECONDS", str(interval))
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_TIMEOUT_SECONDS", "2")
    # Tests run at any hour: quiet hours are switched off unless a test is about them.
    monkeypatch.setenv("GRANARY_NOTIFICATION_QUIET_HOURS", "00:00-00:00")


async def register_party(client: httpx.AsyncClient, *, name: str = "王建国", mobile: str = "13800138000") -> dict:
    headers = await login(client, "officer1")
    reply = await client.post(
        "/api/v1/parties",
        json={"kind": "person", "name": name, "id_number": VALID_ID, "mobile": mobile},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def overdue_event(party: dict, *, dpd: int = 5, amount: str = "1200.50") -> OutgoingEvent:
    loan_id = str(uuid.uuid4())
    return build_event(
        event_type="credit.loan.overdue",
        source="credit",
        subject=loan_id,
        data=credit_pb2.LoanOverdue(
            loan_id=loan_id,
            party_id=party["id"],
            managing_officer_id=party["managing_officer_id"],
            branch_id=party["branch_id"],
            dpd=dpd,
            overdue_amount=amount,
            bucket="M1",
            threshold=3,
        ),
    )


def event_of(event_type: str, subject: str, data: Message) -> OutgoingEvent:
    return build_event(event_type=event_type, source="test", subject=subject, data=data)


async def publish(host: ServiceHost, event: OutgoingEvent, msg_id: str | None = None) -> None:
    await host.bus.publish(host.bus.subject_for(event.type), event.to_bytes(), {"Nats-Msg-Id": msg_id or event.id})


async def messages(host: ServiceHost, **where: str) -> list[MessageRow]:
    async with host.sessions() as session:
        query = select(MessageRow)
        for column, value in where.items():
            query = query.where(getattr(MessageRow, column) == value)
        return list((await session.scalars(query.order_by(MessageRow.created_at))).all())


async def consumer_settled(host: ServiceHost, durable: str, delivered: int) -> bool:
    info = await host.bus.js.consumer_info(host.bus.stream, durable)
    return info.delivered.stream_seq >= delivered and info.num_ack_pending == 0


async def add_staff(customer: ServiceHost, username: str, roles: list[str], branch_id: str, phone: str = "") -> str:
    """Creates a staff member through the customer service, as an administrator would."""
    from granary.v1 import customer_pb2, customer_pb2_grpc

    from services.common.grpc_client import ServiceChannels, call
    from services.common.identity import ServiceIdentity, TokenSigner
    from tests.integration.conftest import PASSWORD

    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=5, fallback_caller=ServiceIdentity(signer, "test-seed"))
    try:
        stub = channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
        reply = await call(
            stub.CreateStaff,
            customer_pb2.CreateStaffRequest(
                username=username, display_name=username, password=PASSWORD, roles=roles, branch_id=branch_id,
                phone=phone,
            ),
        )
        return str(reply.staff.id)
    finally:
        await channels.close()


def dispatcher_for(host: ServiceHost):  # type: ignore[no-untyped-def]
    """A dispatcher wired exactly like the service's, driven by the test with its own clock."""
    from services.notification.clients import CustomerDirectory, FieldTaskClient
    from services.notification.main import dispatch_config, sms_connector
    from services.notification.service import Dispatcher, NotificationUnitOfWork

    settings = host.settings.notification
    return Dispatcher(
        uow=host.uow_factory(NotificationUnitOfWork),
        directory=CustomerDirectory(host.channels, host.address_of("customer")),
        field_tasks=FieldTaskClient(host.channels, host.address_of("fieldtask")),
        sms=sms_connector(settings),
        config=dispatch_config(settings),
        caller=host.service_caller,
    )
