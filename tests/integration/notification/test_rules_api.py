"""Rules, templates and the in-app inbox over REST, and the seeded rules other than the
overdue one (approvals, rejections, due-soon loans, new process tasks), on real services."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from granary.v1 import credit_pb2, events_pb2, notification_pb2, process_pb2

from services.common.clock import utcnow
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


@pytest.fixture
async def api_world(start_service, gateway, loopback, monkeypatch):  # type: ignore[no-untyped-def]
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    await add_staff(customer, "admin1", ["admin"], org.branch_ids["B1"])
    for name in ("sup1", "sup2"):
        await add_staff(customer, name, ["supervisor"], org.branch_ids["B1"])
    async with gateway() as client:
        party = await register_party(client)
        yield {
            "notification": notification, "client": client, "org": org, "party": party,
            "admin": await login(client, "admin1"), "officer": await login(client, "officer1"),
        }


async def _settled(notification, event_id: str, count: int) -> list:  # type: ignore[no-untyped-def]
    dispatcher = dispatcher_for(notification)

    async def done() -> bool:
        await dispatcher.dispatch_once(utcnow() + timedelta(minutes=1))
        rows = await messages(notification, event_id=event_id)
        return len(rows) == count and all(m.status != "queued" for m in rows)

    await eventually(done)
    return await messages(notification, event_id=event_id)


async def test_rules_are_managed_over_the_api(api_world) -> None:  # type: ignore[no-untyped-def]
    client, admin, officer = api_world["client"], api_world["admin"], api_world["officer"]
    draft = {
        "name": "大额逾期", "event_type": "credit.loan.overdue", "condition": "dpd > 30 and overdue_amount >= 10000",
        "actions": [{"kind": "in_app", "template_code": "process.task.created.staff", "recipient": "role",
                     "role": "supervisor"}],
    }
    # only managers write rules
    assert (await client.post("/api/v1/rules", json=draft, headers=officer)).status_code == 403

    # bad input: each problem named by field
    bad = await client.post(
        "/api/v1/rules",
        json={**draft, "event_type": "credit.loan.exploded", "condition": "__import__('os')",
              "actions": [{"kind": "sms", "template_code": "no.such.template", "recipient": "customer"},
                          {"kind": "field_task", "task_type": "DIG", "priority": 0, "due_in_hours": 0}]},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"event_type", "condition"} <= fields
    assert {"actions[1].task_type", "actions[1].priority", "actions[1].due_in_hours"} <= fields
    unknown_template = await client.post(
        "/api/v1/rules",
        json={**draft, "actions": [{"kind": "sms", "template_code": "no.such.template", "recipient": "customer"}]},
        headers=admin,
    )
    assert unknown_template.status_code == 422
    assert unknown_template.json()["errors"][0]["field"] == "actions[0].template_code"

    created = await client.post("/api/v1/rules", json=draft, headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["version"], rule["enabled"], rule["seed_key"]) == (1, True, None)

    # dry run: matched or not, with what would be sent; nothing is stored
    sample = {"dpd": 45, "overdue_amount": "12000.00", "branch_id": "b-1", "title": "大额逾期 L-1"}
    dry = await client.post("/api/v1/rules/dry-run", json={"rule_id": rule["id"], "sample": sample}, headers=admin)
    assert dry.status_code == 200
    assert dry.json() == {"matched": True, "actions": [{
        "kind": "in_app", "template_code": "process.task.created.staff",
        "rendered": "您有新的待办任务「大额逾期 L-1」，请及时处理。", "recipient": "supervisor", "error": None,
    }]}
    small = await client.post("/api/v1/rules/dry-run", json={"rule_id": rule["id"], "sample": {**sample, "dpd": 5}},
                              headers=admin)
    assert small.json() == {"matched": False, "actions": []}
    as_draft = await client.post(
        "/api/v1/rules/dry-run",
        json={"event_type": "credit.loan.overdue", "condition": "dpd >", "actions": draft["actions"], "sample": {}},
        headers=admin,
    )
    assert as_draft.status_code == 422

    # edit with the version read; a stale version is a conflict
    edited = await client.put(
        f"/api/v1/rules/{rule['id']}",
        json={"expected_version": 1, "condition": "dpd > 60", "actions": draft["actions"]},
        headers=admin,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["condition"]) == (2, "dpd > 60")
    stale = await client.put(
        f"/api/v1/rules/{rule['id']}",
        json={"expected_version": 1, "condition": "dpd > 90", "actions": draft["actions"]},
        headers=admin,
    )
    assert stale.status_code == 409
    disabled = await client.post(f"/api/v1/rules/{rule['id']}/disable", headers=admin)
    assert (disabled.json()["enabled"], disabled.json()["version"]) == (False, 3)
    enabled = await client.post(f"/api/v1/rules/{rule['id']}/enable", headers=admin)
    assert (enabled.json()["enabled"], enabled.json()["version"]) == (True, 4)
    fetched = await client.get(f"/api/v1/rules/{rule['id']}", headers=admin)
    assert fetched.json()["condition"] == "dpd > 60"
    assert (await client.get(f"/api/v1/rules/{uuid.uuid4()}", headers=admin)).status_code == 404

    listed = await client.get("/api/v1/rules", params={"event_type": "credit.loan.overdue"}, headers=admin)
    assert {r["seed_key"] for r in listed.json()["items"]} == {"loan-overdue", None}


async def test_templates_are_versioned_and_a_new_version_is_used_from_then_on(api_world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, admin = api_world["notification"], api_world["client"], api_world["admin"]
    body = "尊敬的{customer_name}，您的贷款已逾期{dpd}天，请于今日内还款，详询{branch_phone}。"
    missing_sms_code = await client.post(
        "/api/v1/templates",
        json={"code": "loan.overdue.customer", "channel": "sms", "title": "逾期", "body": "您好{customer_name"},
        headers=admin,
    )
    assert missing_sms_code.status_code == 422
    wrong_channel = await client.post(
        "/api/v1/templates",
        json={"code": "loan.overdue.customer", "channel": "in_app", "title": "逾期", "body": "您好"},
        headers=admin,
    )
    assert wrong_channel.status_code == 422
    v2 = await client.post(
        "/api/v1/templates",
        json={"code": "loan.overdue.customer", "channel": "sms", "title": "逾期提醒", "body": body.replace(
            "，详询{branch_phone}", ""), "sms_template_code": "SMS_LOAN_OVERDUE_V2", "sms_sign_name": "农信社"},
        headers=admin,
    )
    assert v2.status_code == 201, v2.text
    assert (v2.json()["version"], v2.json()["variables"]) == (2, ["customer_name", "dpd"])
    versions = await client.get("/api/v1/templates", params={"code": "loan.overdue.customer"}, headers=admin)
    assert sorted(t["version"] for t in versions.json()["items"]) == [1, 2]

    event = overdue_event(api_world["party"], dpd=7)
    await publish(notification, event)
    [sms_row] = [m for m in await _settled(notification, event.id, 1)]
    assert (sms_row.status, sms_row.template_version) == ("sent", 2)
    [sms] = loopback.received()
    assert sms["body"]["template_code"] == "SMS_LOAN_OVERDUE_V2"
    assert sms["body"]["content"] == "【农信社】尊敬的王建国，您的贷款已逾期7天，请于今日内还款。"


async def test_seeded_rules_tell_applicants_borrowers_and_candidates(api_world, loopback) -> None:  # type: ignore[no-untyped-def]
    notification, client, party, org = (
        api_world["notification"], api_world["client"], api_world["party"], api_world["org"],
    )
    common = {"party_id": party["id"], "managing_officer_id": party["managing_officer_id"],
              "branch_id": party["branch_id"]}
    approved = event_of("credit.application.approved", "A-1", credit_pb2.ApplicationChanged(
        application_id="A-1", product_id="P", amount="30000.00", **common))
    rejected = event_of("credit.application.rejected", "A-2", credit_pb2.ApplicationChanged(
        application_id="A-2", product_id="P", amount="80000.00", **common))
    due_soon = event_of("credit.loan.due_soon", "L-1", credit_pb2.LoanDueSoon(
        loan_id="L-1", installment_number=3, due_date="2025-04-20", amount_due="1520.00", business_date="2025-04-17",
        **common))
    for event in (approved, rejected, due_soon):
        await publish(notification, event)
        [row] = await _settled(notification, event.id, 1)
        assert row.status == "sent", row.last_error
    contents = [r["body"]["content"] for r in loopback.received()]
    assert contents == [
        "【农信社】尊敬的王建国，您申请的30000.00元贷款已审批通过，客户经理将与您联系签约。",
        "【农信社】尊敬的王建国，很遗憾，您申请的80000.00元贷款未获批准，详情请咨询您的客户经理。",
        "【农信社】尊敬的王建国，您的贷款第3期将于2025-04-20到期，应还1520.00元，请按时还款。",
    ]

    # a new approval task: an in-app notice to every candidate (supervisors of the branch)
    task = process_pb2.ProcessTaskChanged(
        task_id="T-1", instance_id="I-1", business_key="A-1", node_id="review", title="贷款审批 · A-1",
        candidate_role="supervisor", branch_id=org.branch_ids["B1"],
    )
    created = event_of("process.task.created", "I-1", task)
    await publish(notification, created)
    await _settled(notification, created.id, 1)
    for username in ("sup1", "sup2"):
        headers = await login(client, username)
        inbox = await client.get("/api/v1/notifications", headers=headers)
        [notice] = inbox.json()["items"]
        assert (notice["title"], notice["body"], notice["read"]) == (
            "新的待办任务", "您有新的待办任务「贷款审批 · A-1」，请及时处理。", False,
        )
        assert (await client.get("/api/v1/notifications/unread-count", headers=headers)).json() == {"unread": 1}
        if username == "sup1":
            read = await client.post(f"/api/v1/notifications/{notice['id']}/read", headers=headers)
            assert read.json()["read"] is True
            assert (await client.get("/api/v1/notifications/unread-count", headers=headers)).json() == {"unread": 0}
            unread = await client.get("/api/v1/notifications", params={"unread_only": True}, headers=headers)
            assert unread.json()["items"] == []
            sup1_notice = notice["id"]
    # someone else's notice looks like a missing one
    other = await client.post(f"/api/v1/notifications/{sup1_notice}/read", headers=await login(client, "sup2"))
    assert other.status_code == 404


async def test_a_rule_can_publish_a_derived_event(api_world) -> None:  # type: ignore[no-untyped-def]
    notification, client, admin = api_world["notification"], api_world["client"], api_world["admin"]
    rule = await client.post(
        "/api/v1/rules",
        json={"name": "严重逾期转风险", "event_type": "credit.loan.overdue", "condition": "dpd >= 90",
              "actions": [{"kind": "publish", "event_type": "notification.loan.flagged"}]},
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    derived = await notification.bus.js.pull_subscribe(
        notification.bus.subject_for("notification.loan.flagged"), durable=f"test-{uuid.uuid4().hex[:8]}",
        stream=notification.bus.stream,
    )
    try:
        event = overdue_event(api_world["party"], dpd=95)
        await publish(notification, event)
        [msg] = await derived.fetch(1, timeout=15)
        await msg.ack()
        envelope = events_pb2.Event.FromString(msg.data)
        payload = notification_pb2.RuleTriggered()
        envelope.data.Unpack(payload)
        assert (envelope.type, payload.rule_id, payload.source_event_id) == (
            "notification.loan.flagged", rule.json()["id"], event.id,
        )
        assert payload.data["dpd"] == "95"
    finally:
        await derived.unsubscribe()
