"""Protections around sending, on real services: quiet hours, rate limits, opt-out and
consent, an SMS gateway that is down and comes back, a template with a missing variable.

The service's own dispatcher is switched off (a one-hour interval); each test drives a
dispatcher wired the same way with the time it needs, against the real database, the
real customer service and the loopback SMS gateway process.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from granary.v1 import customer_pb2

from services.common.audit import list_entries, verify_chain
from services.common.clock import utcnow
from services.common.envelope import OutgoingEvent
from tests.integration.conftest import login, seed_org
from tests.integration.notification.helpers import (
    add_staff,
    dispatcher_for,
    event_of,
    messages,
    notification_env,
    overdue_event,
    publish,
    register_party,
)
from tests.support import eventually

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def world(start_service, gateway, loopback, monkeypatch):  # type: ignore[no-untyped-def]
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("GRANARY_NOTIFICATION_LIMIT_PER_HOUR", "2")
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    await add_staff(customer, "admin1", ["admin"], org.branch_ids["B1"])
    async with gateway() as client:
        party = await register_party(client)
        yield {"notification": notification, "customer": customer, "client": client, "party": party, "org": org}


async def _queued(host, event_id: str, count: int = 1) -> list:  # type: ignore[no-untyped-def]
    async def arrived() -> bool:
        return len(await messages(host, event_id=event_id)) >= count

    await eventually(arrived)
    return await messages(host, event_id=event_id)


def _tomorrow_at(hour: int, minute: int = 0) -> datetime:
    local_day = utcnow().astimezone(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(local_day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


async def test_quiet_hours_hold_a_customer_sms_and_release_it_in_the_morning(world, loopback, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    notification = world["notification"]
    monkeypatch.setenv("GRANARY_NOTIFICATION_QUIET_HOURS", "21:00-08:00")
    notification.settings.__dict__.pop("notification", None)  # re-read the setting
    dispatcher = dispatcher_for(notification)
    event = overdue_event(world["party"])
    await publish(notification, event)
    await _queued(notification, event.id)

    evening = _tomorrow_at(22, 15)
    await dispatcher.dispatch_once(evening)
    [held] = await messages(notification, event_id=event.id)
    assert (held.status, held.hold_reason) == ("held", "quiet_hours")
    assert held.held_until is not None
    assert held.held_until.astimezone(SHANGHAI).time() == time(8, 0)
    assert loopback.received() == []

    await dispatcher.dispatch_once(evening + timedelta(hours=9, minutes=44))  # 07:59
    assert (await messages(notification, event_id=event.id))[0].status == "held"
    assert loopback.received() == []

    await dispatcher.dispatch_once(evening + timedelta(hours=9, minutes=46))  # 08:01
    [sent] = await messages(notification, event_id=event.id)
    assert sent.status == "sent"
    assert len(loopback.received()) == 1


async def test_rate_limits_per_minute_and_per_hour_hold_then_send(world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification = world["notification"]
    dispatcher = dispatcher_for(notification)
    events = [overdue_event(world["party"], dpd=d) for d in (4, 5, 6)]
    for event in events:
        await publish(notification, event)
    for event in events:
        await _queued(notification, event.id)

    start = utcnow() + timedelta(minutes=1)
    await dispatcher.dispatch_once(start)
    statuses = [(await messages(notification, event_id=e.id))[0] for e in events]
    assert sorted(m.status for m in statuses) == ["held", "held", "sent"]
    assert {m.hold_reason for m in statuses if m.status == "held"} == {"rate_limit"}
    assert len(loopback.received()) == 1

    # a minute later the per-minute window frees one; the hour allows two (set for this test)
    await dispatcher.dispatch_once(start + timedelta(seconds=61))
    assert len(loopback.received()) == 2
    now_held = [(await messages(notification, event_id=e.id))[0] for e in events]
    [waiting] = [m for m in now_held if m.status == "held"]
    assert waiting.hold_reason == "rate_limit"
    assert waiting.held_until is not None and waiting.held_until > start + timedelta(minutes=59)

    await dispatcher.dispatch_once(start + timedelta(minutes=30))
    assert len(loopback.received()) == 2
    await dispatcher.dispatch_once(start + timedelta(hours=1, seconds=2))
    assert len(loopback.received()) == 3
    final = [(await messages(notification, event_id=e.id))[0] for e in events]
    assert [m.status for m in final] == ["sent", "sent", "sent"]


async def test_marketing_needs_consent_and_never_goes_after_opt_out(world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, party = world["notification"], world["client"], world["party"]
    dispatcher = dispatcher_for(notification)
    officer = await login(client, "officer1")
    # a birthday greeting needs the customer's opt-in to be scheduled at all
    refused = await client.post(
        "/api/v1/reminders",
        json={"kind": "birthday", "subject_id": party["id"], "party_id": party["id"], "due_at": utcnow().isoformat()},
        headers=officer,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "opted_in"

    async def birthday(yearly_subject: str) -> list:  # type: ignore[no-untyped-def]
        reply = await client.post(
            "/api/v1/reminders",
            json={
                "kind": "birthday", "subject_id": yearly_subject, "party_id": party["id"],
                "branch_id": party["branch_id"], "due_at": utcnow().isoformat(), "opted_in": True,
            },
            headers=officer,
        )
        assert reply.status_code == 201, reply.text
        # the reminder fires, its event comes back through NATS and the birthday rule queues an SMS
        await dispatcher.dispatch_once()

        async def queued() -> bool:
            return any(m.template_code == "reminder.birthday.customer"
                       for m in await messages(notification, status="queued"))

        await eventually(queued)
        await dispatcher.dispatch_once(utcnow() + timedelta(minutes=2))
        return [m for m in await messages(notification) if m.variables.get("subject_id") == yearly_subject]

    # no marketing consent on record: suppressed, nothing sent
    [no_consent] = await birthday("bday-1")
    assert (no_consent.status, no_consent.hold_reason) == ("suppressed", "no_consent")
    assert loopback.received() == []

    # the customer opts out (退订): suppressed for ever, whatever the consent
    opt_out = await client.post(
        "/api/v1/opt-outs", json={"party_id": party["id"], "source": "sms_reply"}, headers=officer
    )
    assert opt_out.status_code == 201, opt_out.text
    [opted_out] = await birthday("bday-2")
    assert (opted_out.status, opted_out.hold_reason) == ("suppressed", "opt_out")
    assert loopback.received() == []


async def test_sms_gateway_down_then_up_is_retried_and_sent_once(world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification = world["notification"]
    dispatcher = dispatcher_for(notification)
    loopback.set_mode(sms="down")
    event = overdue_event(world["party"])
    await publish(notification, event)
    await _queued(notification, event.id)

    t0 = utcnow() + timedelta(minutes=1)
    await dispatcher.dispatch_once(t0)
    [first] = await messages(notification, event_id=event.id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert "503" in first.last_error
    assert first.next_attempt_at is not None and first.next_attempt_at > t0  # backoff

    await dispatcher.dispatch_once(t0 + timedelta(seconds=10))
    [second] = await messages(notification, event_id=event.id)
    assert (second.status, second.attempts) == ("queued", 2)
    assert (second.next_attempt_at - (t0 + timedelta(seconds=10))) > (first.next_attempt_at - t0)  # doubled
    assert len(loopback.refused()) == 2 and loopback.received() == []

    loopback.set_mode(sms="ok")
    await dispatcher.dispatch_once(t0 + timedelta(seconds=20))
    await dispatcher.dispatch_once(t0 + timedelta(seconds=40))
    [sent] = await messages(notification, event_id=event.id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, "")
    assert len(loopback.received()) == 1

    # a permanent refusal is recorded with the gateway's own error, and not retried
    loopback.set_mode(sms="reject")
    other = overdue_event(world["party"], dpd=9)
    await publish(notification, other)
    await _queued(notification, other.id)
    await dispatcher.dispatch_once(t0 + timedelta(minutes=5))
    [failed] = await messages(notification, event_id=other.id)
    assert failed.status == "failed"
    assert "isv.MOBILE_NUMBER_ILLEGAL" in failed.last_error
    await dispatcher.dispatch_once(t0 + timedelta(minutes=10))
    assert (await messages(notification, event_id=other.id))[0].attempts == 1


async def test_a_missing_template_variable_fails_visibly_and_sends_nothing(world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client = world["notification"], world["client"]
    admin = await login(client, "admin1")
    template = await client.post(
        "/api/v1/templates",
        json={
            "code": "loan.overdue.bonus", "channel": "sms", "title": "逾期提醒",
            "body": "尊敬的{customer_name}，您已逾期{dpd}天，还款可减免{waiver_amount}元。",
            "sms_template_code": "SMS_OVERDUE_WAIVER", "sms_sign_name": "农信社",
        },
        headers=admin,
    )
    assert template.status_code == 201, template.text
    assert template.json()["variables"] == ["customer_name", "dpd", "waiver_amount"]
    rule = await client.post(
        "/api/v1/rules",
        json={
            "name": "逾期减免提醒", "event_type": "credit.loan.overdue", "condition": "dpd > 3",
            "actions": [{"kind": "sms", "template_code": "loan.overdue.bonus", "recipient": "customer"}],
        },
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    # the seeded overdue rule is switched off for this test: only the new rule acts
    seeded = await client.get("/api/v1/rules", params={"event_type": "credit.loan.overdue"}, headers=admin)
    [seeded_id] = [r["id"] for r in seeded.json()["items"] if r["seed_key"] == "loan-overdue"]
    assert (await client.post(f"/api/v1/rules/{seeded_id}/disable", headers=admin)).json()["enabled"] is False

    # the dry run already shows the problem
    dry = await client.post(
        "/api/v1/rules/dry-run", json={"rule_id": rule.json()["id"], "sample": {"dpd": 5, "party_id": "p"}},
        headers=admin,
    )
    assert dry.status_code == 200
    assert dry.json()["matched"] is True
    assert dry.json()["actions"][0]["error"] == "missing variable: waiver_amount"

    event = overdue_event(world["party"])
    await publish(notification, event)
    await _queued(notification, event.id)
    await dispatcher_for(notification).dispatch_once(utcnow() + timedelta(minutes=1))
    [failed] = await messages(notification, event_id=event.id)
    assert failed.status == "failed"
    assert failed.last_error == "missing variable: waiver_amount"
    assert failed.body == ""
    assert loopback.received() == [] and loopback.refused() == []

    # and the delivery log shows it, recipient masked
    log = await client.get("/api/v1/messages", params={"status": "failed"}, headers=admin)
    assert log.status_code == 200
    [entry] = log.json()["items"]
    assert entry["template_code"] == "loan.overdue.bonus"
    assert entry["last_error"] == "missing variable: waiver_amount"
    assert entry["recipient_masked"] == "138****8000"
    assert "13800138000" not in log.text


async def test_marketing_with_recorded_consent_is_sent_until_the_customer_opts_out(world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, party = world["notification"], world["client"], world["party"]
    admin, officer = await login(client, "admin1"), await login(client, "officer1")
    template = await client.post(
        "/api/v1/templates",
        json={
            "code": "promo.tier_up", "channel": "sms", "category": "marketing", "title": "客户升级礼遇",
            "body": "尊敬的{customer_name}，恭喜您升级为{after}客户，可享受优惠利率。回TD退订",
            "sms_template_code": "SMS_TIER_UP", "sms_sign_name": "农信社",
        },
        headers=admin,
    )
    assert template.status_code == 201, template.text
    rule = await client.post(
        "/api/v1/rules",
        json={
            "name": "客户升级：营销短信", "event_type": "customer.tier.changed", "condition": 'after == "gold"',
            "actions": [{"kind": "sms", "template_code": "promo.tier_up", "recipient": "customer"}],
        },
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    consent = await client.post(
        f"/api/v1/parties/{party['id']}/consents", json={"purpose": "marketing"}, headers=officer
    )
    assert consent.status_code == 201, consent.text
    dispatcher = dispatcher_for(notification)

    def tier_up() -> OutgoingEvent:
        return event_of(
            "customer.tier.changed", party["id"],
            customer_pb2.TierChanged(party_id=party["id"], dimension="value", before="silver", after="gold",
                                     managing_officer_id=party["managing_officer_id"]),
        )

    first = tier_up()
    await publish(notification, first)
    await _queued(notification, first.id)
    await dispatcher.dispatch_once(utcnow() + timedelta(minutes=1))
    [sent] = await messages(notification, event_id=first.id)
    assert (sent.status, sent.category) == ("sent", "marketing")
    [sms] = loopback.received()
    assert sms["body"]["content"] == "【农信社】尊敬的王建国，恭喜您升级为gold客户，可享受优惠利率。回TD退订"

    # after the opt-out the consent no longer counts
    opt_out = await client.post("/api/v1/opt-outs", json={"party_id": party["id"], "source": "sms_reply"},
                                headers=officer)
    assert opt_out.status_code == 201, opt_out.text
    second = tier_up()
    await publish(notification, second)
    await _queued(notification, second.id)
    await dispatcher.dispatch_once(utcnow() + timedelta(days=2))
    [suppressed] = await messages(notification, event_id=second.id)
    assert (suppressed.status, suppressed.hold_reason) == ("suppressed", "opt_out")
    assert len(loopback.received()) == 1


async def test_holding_releasing_sending_and_failing_are_audited_with_the_recipient_masked(  # type: ignore[no-untyped-def]
    world, loopback, monkeypatch
) -> None:
    notification = world["notification"]
    monkeypatch.setenv("GRANARY_NOTIFICATION_QUIET_HOURS", "21:00-08:00")
    notification.settings.__dict__.pop("notification", None)  # re-read the setting
    dispatcher = dispatcher_for(notification)
    event = overdue_event(world["party"])
    await publish(notification, event)
    [message] = await _queued(notification, event.id)

    async def trail(message_id: str) -> list[dict]:
        entries = await list_entries(notification.engine, entity_type="message", entity_id=message_id, limit=50)
        return list(reversed(entries))  # oldest first

    evening = _tomorrow_at(22, 15)
    await dispatcher.dispatch_once(evening)
    await dispatcher.dispatch_once(evening + timedelta(hours=9, minutes=46))  # 08:01: released and sent
    assert [e["action"] for e in await trail(message.id)] == ["message.held", "message.released", "message.sent"]
    held, released, sent = await trail(message.id)
    assert held["details"]["hold_reason"] == "quiet_hours"
    assert sent["details"]["gateway_message_id"] == "gw-1"
    for entry in (held, released, sent):
        assert entry["details"]["recipient"] == "138****8000"
        assert entry["details"]["template_code"] == "loan.overdue.customer"
        assert entry["actor_id"] == "service:notification"

    loopback.set_mode(sms="reject")
    other = overdue_event(world["party"], dpd=8)
    await publish(notification, other)
    [refused] = await _queued(notification, other.id)
    await dispatcher.dispatch_once(evening + timedelta(hours=12))
    [failed] = await trail(refused.id)
    assert failed["action"] == "message.failed"
    assert failed["details"]["recipient"] == "138****8000"
    assert "isv.MOBILE_NUMBER_ILLEGAL" in failed["details"]["error"]

    # the full number is nowhere in the audit log (it is kept for ever)
    everything = await list_entries(notification.engine, limit=1000)
    assert everything and not any("13800138000" in str(e["details"]) for e in everything)
    assert (await verify_chain(notification.engine)).intact
