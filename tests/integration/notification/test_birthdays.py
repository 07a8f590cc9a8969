"""Birthday greetings from customer data, on the real customer service.

The daily job asks the customer service for today's birthdays (only parties with a
"birthday_greeting" consent come back) and schedules one greeting per party and year; the
dispatcher fires it at 09:00 local and the seeded birthday rule sends the SMS. The job and
the dispatcher are driven with chosen dates, nothing sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.common.leader import LeaderLock
from services.notification.clients import CustomerDirectory
from services.notification.models import ReminderRow
from services.notification.service import BirthdayGreetings, NotificationUnitOfWork
from tests.integration.conftest import login, seed_org
from tests.integration.notification.helpers import dispatcher_for, messages, notification_env
from tests.support import eventually

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 6, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def job_for(notification, leader: LeaderLock | None = None) -> BirthdayGreetings:  # type: ignore[no-untyped-def]
    return BirthdayGreetings(
        uow=notification.uow_factory(NotificationUnitOfWork),
        directory=CustomerDirectory(notification.channels, notification.address_of("customer")),
        zone=SHANGHAI,
        leader=leader,
        caller=notification.service_caller,
    )


async def _birthday_reminders(notification) -> list[ReminderRow]:  # type: ignore[no-untyped-def]
    async with notification.sessions() as session:
        query = select(ReminderRow).where(ReminderRow.kind == "birthday").order_by(ReminderRow.due_at)
        return list((await session.scalars(query)).all())


async def test_birthday_greetings_once_per_consenting_party_and_year(
    start_service, gateway, loopback, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        parties: dict[str, dict] = {}
        for key, name, id_number, mobile, consent in [
            ("dec31", "李春梅", "11010519491231002X", "13800138001", True),
            ("dec31_no_consent", "赵铁柱", "110105198012310014", "13800138002", False),
            ("feb29", "孙二妹", "110105199202290039", "13800138003", True),
        ]:
            reply = await client.post(
                "/api/v1/parties",
                json={"kind": "person", "name": name, "id_number": id_number, "mobile": mobile},
                headers=officer,
            )
            assert reply.status_code == 201, reply.text
            parties[key] = reply.json()
            if consent:
                granted = await client.post(
                    f"/api/v1/parties/{reply.json()['id']}/consents", json={"purpose": "birthday_greeting"},
                    headers=officer,
                )
                assert granted.status_code == 201, granted.text

    job = job_for(notification)
    # 31 December: only the party who agreed to greetings
    assert await job.run_once(local(2030, 12, 31)) == 1
    [reminder] = await _birthday_reminders(notification)
    assert reminder.party_id == parties["dec31"]["id"]
    assert reminder.due_at == local(2030, 12, 31, 9)
    # the job runs again that day (another round, a restart): nothing more
    assert await job.run_once(local(2030, 12, 31, 15)) == 0
    assert await job.run_once(local(2030, 12, 31, 23, 59)) == 0
    assert len(await _birthday_reminders(notification)) == 1
    # a year later: the next greeting
    assert await job.run_once(local(2031, 12, 31)) == 1
    # 29 February is greeted on the 28th in common years, on the 29th in leap years, once a year
    assert await job.run_once(local(2031, 2, 28)) == 1
    assert await job.run_once(local(2032, 2, 28)) == 0
    assert await job.run_once(local(2032, 2, 29)) == 1
    assert await job.run_once(local(2032, 2, 29, 12)) == 0
    due = sorted((r.party_id, r.due_at) for r in await _birthday_reminders(notification))
    assert due == sorted([
        (parties["dec31"]["id"], local(2030, 12, 31, 9)),
        (parties["dec31"]["id"], local(2031, 12, 31, 9)),
        (parties["feb29"]["id"], local(2031, 2, 28, 9)),
        (parties["feb29"]["id"], local(2032, 2, 29, 9)),
    ])

    # at 09:00 on the day the greeting goes out, with the recorded consent
    dispatcher = dispatcher_for(notification)
    assert (await dispatcher.dispatch_once(local(2030, 12, 31, 8, 59))).reminders == 0
    assert (await dispatcher.dispatch_once(local(2030, 12, 31, 9, 1))).reminders == 1

    async def queued() -> bool:
        return len(await messages(notification, template_code="reminder.birthday.customer")) == 1

    await eventually(queued)
    await dispatcher.dispatch_once(local(2030, 12, 31, 9, 2))
    [greeting] = await messages(notification, template_code="reminder.birthday.customer")
    assert (greeting.status, greeting.category, greeting.recipient_masked) == ("sent", "marketing", "138****8001")
    [sms] = loopback.received()
    assert sms["body"]["phone"] == "+8613800138001"
    assert sms["body"]["content"] == "【农信社】尊敬的李春梅，祝您生日快乐！感谢您一直以来的信任与支持。回TD退订"


async def test_one_replica_runs_the_birthday_job(start_service, loopback, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    await start_service("customer")
    notification = await start_service("notification")
    lock1 = LeaderLock(notification.engine, "test-birthday-greetings")
    lock2 = LeaderLock(notification.engine, "test-birthday-greetings")
    first, second = job_for(notification, lock1), job_for(notification, lock2)
    try:
        assert await first.tick(local(2030, 6, 1)) == 0
        assert await second.tick(local(2030, 6, 1)) is None
        assert await first.tick(local(2030, 6, 1) + timedelta(hours=1)) == 0
        # the leader goes away: the other replica takes over
        await lock1.release()
        assert await second.tick(local(2030, 6, 1)) == 0
        assert await first.tick(local(2030, 6, 1)) is None
    finally:
        await lock1.release()
        await lock2.release()
