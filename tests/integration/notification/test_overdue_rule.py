"""The seeded overdue rule end to end, over real services, PostgreSQL, NATS and HTTP.

credit.loan.overdue (dpd > 3) → one SMS to the borrower through the HTTP SMS connector and
one high-priority overdue follow-up task for the managing officer in the field-task service;
the same event delivered again yields nothing more.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.fieldtask.models import FieldTaskRow
from services.notification.models import FieldTaskRequestRow
from tests.integration.conftest import seed_org
from tests.integration.notification.helpers import (
    consumer_settled,
    messages,
    notification_env,
    overdue_event,
    publish,
    register_party,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

DURABLE = "notification-rules-credit-loan-overdue"


async def _tasks(fieldtask) -> list[FieldTaskRow]:  # type: ignore[no-untyped-def]
    async with fieldtask.sessions() as session:
        return list((await session.scalars(select(FieldTaskRow))).all())


async def test_overdue_event_sends_one_sms_and_creates_one_task_even_when_redelivered(
    start_service, gateway, loopback, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    notification_env(monkeypatch, loopback.sms_url)
    customer = await start_service("customer")
    fieldtask = await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    async with gateway() as client:
        party = await register_party(client)

    event = overdue_event(party, dpd=5, amount="1200.50")
    await publish(notification, event)

    async def sms_and_task() -> bool:
        return len(loopback.received()) == 1 and len(await _tasks(fieldtask)) == 1

    await eventually(sms_and_task)
    [sms] = loopback.received()
    assert sms["body"]["phone"] == "+8613800138000"
    assert sms["body"]["template_code"] == "SMS_LOAN_OVERDUE"
    assert sms["body"]["sign_name"] == "农信社"
    assert sms["body"]["template_params"] == {"customer_name": "王建国", "dpd": "5", "overdue_amount": "1200.50"}
    assert sms["body"]["content"] == (
        "【农信社】尊敬的王建国，您的贷款已逾期5天，逾期金额1200.50元，请尽快还款。如已还款请忽略。"
    )
    assert sms["authorization"] == "Bearer test-token"
    [task] = await _tasks(fieldtask)
    assert task.task_type == "overdue_follow_up"
    assert task.priority == 1
    assert task.assignee_id == org.staff["officer1"]
    assert task.party_id == party["id"]
    assert task.branch_id == org.branch_ids["B1"]

    [logged] = await messages(notification, event_id=event.id)
    assert logged.status == "sent"
    assert logged.recipient_masked == "138****8000"
    assert logged.gateway_message_id == "gw-1"
    assert logged.attempts == 1

    # the same event again, as after a producer's retry or a replay: nothing more
    await publish(notification, event, msg_id=f"{event.id}-again")

    async def consumed_twice() -> bool:
        return await consumer_settled(notification, DURABLE, 2)

    await eventually(consumed_twice)
    # nothing new was queued for the dispatcher to act on
    async with notification.sessions() as session:
        statuses = (await session.scalars(select(FieldTaskRequestRow.status))).all()
    assert list(statuses) == ["created"]
    assert len(loopback.received()) == 1
    assert len(await _tasks(fieldtask)) == 1
    assert len(await messages(notification, event_id=event.id)) == 1

    # dpd 3 is not "more than 3 days": nothing at all
    early = overdue_event(party, dpd=3)
    await publish(notification, early)

    async def consumed_three() -> bool:
        return await consumer_settled(notification, DURABLE, 3)

    await eventually(consumed_three)
    assert await messages(notification, event_id=early.id) == []
    async with notification.sessions() as session:
        requests = (await session.scalars(select(FieldTaskRequestRow))).all()
    assert [r.event_id for r in requests] == [event.id]

