"""Delivery receipts from the SMS gateway: POST /api/v1/sms/receipts with the shared secret
marks the message delivered in the delivery log; a wrong or missing secret is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.clock import utcnow
from tests.integration.conftest import login, seed_org
from tests.integration.notification.helpers import (
    add_staff,
    dispatcher_for,
    messages,
    notification_env,
    overdue_event,
    publish,
    register_party,
)
from tests.support import eventually

pytestmark = pytest.mark.integration


async def test_a_delivery_receipt_marks_the_message_delivered_and_a_wrong_token_is_refused(
    start_service, gateway, loopback, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    notification_env(monkeypatch, loopback.sms_url, interval=3600)
    monkeypatch.setenv("GRANARY_NOTIFICATION_SMS_RECEIPT_TOKEN", "receipt-secret")
    customer = await start_service("customer")
    await start_service("fieldtask")
    notification = await start_service("notification")
    org = await seed_org(customer)
    await add_staff(customer, "admin1", ["admin"], org.branch_ids["B1"])
    async with gateway() as client:
        party = await register_party(client)
        event = overdue_event(party)
        await publish(notification, event)

        async def queued() -> bool:
            return len(await messages(notification, event_id=event.id)) == 1

        await eventually(queued)
        await dispatcher_for(notification).dispatch_once(utcnow() + timedelta(minutes=1))
        [sent] = await messages(notification, event_id=event.id)
        assert (sent.status, sent.gateway_message_id) == ("sent", "gw-1")
        admin = await login(client, "admin1")

        receipt = {"message_id": "gw-1", "status": "delivered", "reported_at": "2025-03-01T10:00:05+08:00"}
        for headers in ({}, {"X-Receipt-Token": "guessed"}):
            refused = await client.post("/api/v1/sms/receipts", json=receipt, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
        still = await client.get(f"/api/v1/messages/{sent.id}", headers=admin)
        assert (still.json()["status"], still.json()["delivered_at"]) == ("sent", None)

        accepted = await client.post(
            "/api/v1/sms/receipts", json=receipt, headers={"X-Receipt-Token": "receipt-secret"}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"message_id": sent.id, "status": "delivered"}
        log = await client.get(f"/api/v1/messages/{sent.id}", headers=admin)
        assert log.json()["status"] == "delivered"
        assert log.json()["delivered_at"] == "2025-03-01T02:00:05+00:00"
        delivered = await client.get("/api/v1/messages", params={"status": "delivered"}, headers=admin)
        assert [m["id"] for m in delivered.json()["items"]] == [sent.id]

        # a receipt for a message the gateway never had from us
        unknown = await client.post(
            "/api/v1/sms/receipts", json={"message_id": "gw-999", "status": "delivered"},
            headers={"X-Receipt-Token": "receipt-secret"},
        )
        assert unknown.status_code == 404
        bad = await client.post(
            "/api/v1/sms/receipts", json={"message_id": "gw-1", "status": "read"},
            headers={"X-Receipt-Token": "receipt-secret"},
        )
        assert bad.status_code == 422
