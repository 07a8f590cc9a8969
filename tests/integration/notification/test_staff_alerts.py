"""Process task reminders and escalations reach the staff concerned in the app and by SMS.

The events are the process service's own payload (``ProcessTaskChanged``) on NATS; the
staff directory is the real customer service, the SMS gateway the loopback process.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from granary.v1 import process_pb2

from services.common.clock import utcnow
from services.common.timestamps import to_timestamp
from tests.integration.conftest import login, seed_org
from tests.integration.notification.helpers import (
    add_staff,
    dispatcher_for,
    event_of,
    messages,
    notification_env,
    publish,
)
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def staff_world(start_service, gateway, loopback, monkeypatch):  # type: ignore[no-untyped-def]
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    b1 = org.branch_ids["B1"]
    staff = {
        "sup1": await add_staff(customer, "sup1", ["supervisor"], b1, phone="+8613900139001"),
        "sup2": await add_staff(customer, "sup2", ["supervisor"], b1, phone="+8613900139002"),
        "sup3": await add_staff(customer, "sup3", ["supervisor"], org.branch_ids["B2"], phone="+8613900139003"),
    }
    async with gateway() as client:
        yield {"notification": notification, "client": client, "org": org, "staff": staff}


def task_event(event_type: str, branch_id: str, *, assignee_id: str = "") -> tuple[str, object]:
    task_id = str(uuid.uuid4())
    payload = process_pb2.ProcessTaskChanged(
        task_id=task_id, instance_id=str(uuid.uuid4()), business_key="APP-2025-0042", node_id="review",
        title="贷款审批 · APP-2025-0042", candidate_role="supervisor", branch_id=branch_id,
        assignee_id=assignee_id, process_key="loan_approval",
    )
    payload.due_at.CopyFrom(to_timestamp(utcnow() + timedelta(hours=2)))
    return task_id, event_of(event_type, task_id, payload)


async def _inbox(client, username: str) -> list[dict]:  # type: ignore[no-untyped-def]
    reply = await client.get("/api/v1/notifications", headers=await login(client, username))
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


class Clock:
    """The dispatcher's time: two minutes further on each round (past the per-minute limit)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def tick(self) -> datetime:
        self.now += timedelta(minutes=2)
        return self.now


CLOCK = Clock()


async def _dispatch_until_settled(notification, event_id: str, expected: int) -> list:  # type: ignore[no-untyped-def]
    """Dispatches until the event's messages (fanned-out ones included) are all done."""
    dispatcher = dispatcher_for(notification)

    async def done() -> bool:
        await dispatcher.dispatch_once(CLOCK.tick())
        rows = await messages(notification, event_id=event_id)
        return len(rows) == expected and all(m.status not in ("queued", "held") for m in rows)

    await eventually(done)
    return await messages(notification, event_id=event_id)


async def test_a_reminded_task_tells_its_assignee_in_the_app_and_by_sms(staff_world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, staff = staff_world["notification"], staff_world["client"], staff_world["staff"]
    _, event = task_event("process.task.reminded", staff_world["org"].branch_ids["B1"], assignee_id=staff["sup1"])
    await publish(notification, event)

    rows = await _dispatch_until_settled(notification, event.id, 2)
    assert sorted((m.channel, m.status) for m in rows) == [("in_app", "sent"), ("sms", "sent")]
    [sms] = loopback.received()
    assert sms["body"]["phone"] == "+8613900139001"
    assert sms["body"]["template_code"] == "SMS_TASK_REMINDED"
    assert sms["body"]["content"] == "【农信社】sup1您好，待办任务「贷款审批 · APP-2025-0042」即将超时，请尽快处理。"
    [logged] = [m for m in rows if m.channel == "sms"]
    assert logged.recipient_masked == "139****9001"

    [notice] = await _inbox(client, "sup1")
    assert notice["title"] == "待办任务即将超时"
    assert notice["body"] == "待办任务「贷款审批 · APP-2025-0042」即将超时，请尽快处理。"
    assert await _inbox(client, "sup2") == []


async def test_an_unassigned_reminded_task_tells_every_candidate_of_its_branch(staff_world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client = staff_world["notification"], staff_world["client"]
    _, event = task_event("process.task.reminded", staff_world["org"].branch_ids["B1"])
    await publish(notification, event)

    # the in-app message to the role, the SMS to the role and one SMS per supervisor of B1
    rows = await _dispatch_until_settled(notification, event.id, 4)
    assert sorted((m.recipient_kind, m.status) for m in rows) == [
        ("role", "expanded"), ("role", "sent"), ("staff", "sent"), ("staff", "sent"),
    ]
    assert sorted(r["body"]["phone"] for r in loopback.received()) == ["+8613900139001", "+8613900139002"]
    for username in ("sup1", "sup2"):
        [notice] = await _inbox(client, username)
        assert notice["title"] == "待办任务即将超时"
    assert await _inbox(client, "sup3") == []  # another branch


async def test_an_escalated_task_reaches_the_staff_concerned_in_the_app_and_by_sms(staff_world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, staff = staff_world["notification"], staff_world["client"], staff_world["staff"]
    b1 = staff_world["org"].branch_ids["B1"]

    # as the process service emits it: the new task in the escalation lane, not yet claimed
    _, unassigned = task_event("process.task.escalated", b1)
    await publish(notification, unassigned)
    rows = await _dispatch_until_settled(notification, unassigned.id, 4)
    assert all(m.last_error == "" for m in rows), [m.last_error for m in rows]
    sent = loopback.received()
    assert sorted(r["body"]["phone"] for r in sent) == ["+8613900139001", "+8613900139002"]
    assert {r["body"]["template_code"] for r in sent} == {"SMS_TASK_ESCALATED"}
    assert "【农信社】sup2您好，待办任务「贷款审批 · APP-2025-0042」已超时并升级给您，请尽快处理。" in [
        r["body"]["content"] for r in sent
    ]
    for username in ("sup1", "sup2"):
        [notice] = await _inbox(client, username)
        assert notice["title"] == "待办任务已升级"

    # escalated straight to a named person: only that person
    _, assigned = task_event("process.task.escalated", b1, assignee_id=staff["sup2"])
    await publish(notification, assigned)
    rows = await _dispatch_until_settled(notification, assigned.id, 2)
    assert sorted((m.recipient_kind, m.status) for m in rows) == [("staff", "sent"), ("user", "sent")]
    assert [r["body"]["phone"] for r in loopback.received()[2:]] == ["+8613900139002"]
    assert len(await _inbox(client, "sup2")) == 2
    assert len(await _inbox(client, "sup1")) == 1

    # redelivered: nothing more
    await publish(notification, unassigned, msg_id=f"{unassigned.id}-again")
    await publish(notification, assigned, msg_id=f"{assigned.id}-again")

    async def consumed() -> bool:
        info = await notification.bus.js.consumer_info(
            notification.bus.stream, "notification-rules-process-task-escalated"
        )
        return info.delivered.consumer_seq >= 4 and info.num_ack_pending == 0

    await eventually(consumed)
    await _dispatch_until_settled(notification, unassigned.id, 4)
    await _dispatch_until_settled(notification, assigned.id, 2)
    assert len(loopback.received()) == 3
