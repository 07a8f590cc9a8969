"""Scheduled reminders on real services: post-loan checks after a disbursement and lead
follow-ups after an assignment.

The service's own dispatcher is switched off (a one-hour interval); the test drives a
dispatcher wired the same way with the time it needs (30 days later, the next morning), so
nothing sleeps. A fired reminder travels as ``notification.reminder.due`` through the
outbox and NATS back into the service, where the seeded reminder rules act on it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from granary.v1 import credit_pb2, customer_pb2
from sqlalchemy import select

from services.common.timestamps import from_timestamp
from services.fieldtask.models import FieldTaskRow
from services.notification.models import FieldTaskRequestRow, ReminderRow
from tests.integration.conftest import login, seed_org
from tests.integration.notification.helpers import (
    dispatcher_for,
    event_of,
    messages,
    notification_env,
    publish,
    register_party,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _reminders(host, kind: str) -> list[ReminderRow]:  # type: ignore[no-untyped-def]
    async with host.sessions() as session:
        return list((await session.scalars(select(ReminderRow).where(ReminderRow.kind == kind))).all())


async def _field_tasks(host) -> list[FieldTaskRow]:  # type: ignore[no-untyped-def]
    async with host.sessions() as session:
        return list((await session.scalars(select(FieldTaskRow))).all())


async def _inbox(client, username: str) -> list[dict]:  # type: ignore[no-untyped-def]
    reply = await client.get("/api/v1/notifications", headers=await login(client, username))
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


async def test_post_loan_check_fires_once_thirty_days_after_disbursement(
    start_service, gateway, loopback, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    customer = await start_service("customer")
    fieldtask = await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    dispatcher = dispatcher_for(notification)
    async with gateway() as client:
        party = await register_party(client)
        loan_id = str(uuid.uuid4())
        disbursed = event_of(
            "credit.loan.disbursed",
            loan_id,
            credit_pb2.LoanDisbursed(
                loan_id=loan_id, application_id=str(uuid.uuid4()), party_id=party["id"], amount="50000.00",
                managing_officer_id=party["managing_officer_id"], branch_id=party["branch_id"],
                disbursed_on="2025-03-01", maturity_date="2026-03-01",
            ),
        )
        disbursed_at = from_timestamp(disbursed.envelope.time)
        await publish(notification, disbursed)

        async def scheduled() -> bool:
            return len(await _reminders(notification, "post_loan_check")) == 1

        await eventually(scheduled)
        [reminder] = await _reminders(notification, "post_loan_check")
        assert reminder.due_at == disbursed_at + timedelta(days=30)
        assert (reminder.subject_id, reminder.staff_id) == (loan_id, org.staff["officer1"])

        # the same disbursement delivered again schedules nothing more
        await publish(notification, disbursed, msg_id=f"{disbursed.id}-again")

        # 29 days on: not yet
        report = await dispatcher.dispatch_once(disbursed_at + timedelta(days=29, hours=23))
        assert report.reminders == 0
        assert await _field_tasks(fieldtask) == []

        # 30 days on: the reminder fires, comes back as notification.reminder.due, and the
        # seeded post-loan rule orders the check from the field-task service and tells the officer
        day_30 = disbursed_at + timedelta(days=30, minutes=1)
        report = await dispatcher.dispatch_once(day_30)
        assert report.reminders == 1

        async def planned() -> bool:
            async with notification.sessions() as session:
                requests = (await session.scalars(select(FieldTaskRequestRow))).all()
            return len(requests) == 1 and len(await messages(notification, event_type="notification.reminder.due")) == 1

        await eventually(planned)
        await dispatcher.dispatch_once(day_30 + timedelta(minutes=1))
        [task] = await _field_tasks(fieldtask)
        assert task.task_type == "post_loan_check"
        assert (task.assignee_id, task.party_id, task.branch_id) == (
            org.staff["officer1"], party["id"], org.branch_ids["B1"],
        )
        assert task.priority == 3
        inbox = await _inbox(client, "officer1")
        [notice] = [n for n in inbox if n["source_event_type"] == "notification.reminder.due"]
        assert notice["title"] == "贷后检查到期"
        assert notice["body"] == f"贷款{loan_id}的贷后检查已到期，已为您生成外勤任务。"

        # later rounds fire nothing again: one reminder, one task, one notice
        for later in (day_30 + timedelta(days=1), day_30 + timedelta(days=40)):
            assert (await dispatcher.dispatch_once(later)).reminders == 0
        [fired] = await _reminders(notification, "post_loan_check")
        assert (fired.status, fired.fired_count) == ("fired", 1)
        assert len(await _field_tasks(fieldtask)) == 1
        assert len([n for n in await _inbox(client, "officer1")
                    if n["source_event_type"] == "notification.reminder.due"]) == 1


async def test_lead_follow_up_reminds_the_assigned_officer_the_next_morning(
    start_service, gateway, loopback, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    dispatcher = dispatcher_for(notification)
    lead_id = str(uuid.uuid4())
    assigned = event_of(
        "customer.lead.assigned",
        lead_id,
        customer_pb2.LeadAssigned(
            lead_id=lead_id, assigned_officer_id=org.staff["officer1"], branch_id=org.branch_ids["B1"],
            region_code="110105", name="张三",
        ),
    )
    assigned_at = from_timestamp(assigned.envelope.time)
    await publish(notification, assigned)

    async def scheduled() -> bool:
        return len(await _reminders(notification, "lead_follow_up")) == 1

    await eventually(scheduled)
    [reminder] = await _reminders(notification, "lead_follow_up")
    next_day = assigned_at.astimezone(SHANGHAI).date() + timedelta(days=1)
    nine = datetime.combine(next_day, time(9, 0), tzinfo=SHANGHAI).astimezone(UTC)
    assert reminder.due_at == nine
    assert reminder.staff_id == org.staff["officer1"]

    async with gateway() as client:
        assert (await dispatcher.dispatch_once(nine - timedelta(minutes=1))).reminders == 0
        assert await _inbox(client, "officer1") == []

        assert (await dispatcher.dispatch_once(nine + timedelta(minutes=1))).reminders == 1

        async def queued() -> bool:
            return len(await messages(notification, event_type="notification.reminder.due")) == 1

        await eventually(queued)
        await dispatcher.dispatch_once(nine + timedelta(minutes=2))
        [notice] = await _inbox(client, "officer1")
        assert notice["title"] == "线索跟进提醒"
        assert notice["body"] == "线索「张三」今天需要跟进，请及时联系。"
        assert await _inbox(client, "officer2") == []

        # fired once only
        assert (await dispatcher.dispatch_once(nine + timedelta(days=2))).reminders == 0
        assert len(await _inbox(client, "officer1")) == 1
