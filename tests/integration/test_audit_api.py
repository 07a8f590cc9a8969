"""Auditors read and verify the audit trail through the gateway; nobody else may."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from services.common.identity import acting_as
from services.common.messaging_schema import audit_log
from services.common.uow import UnitOfWork
from tests.integration.conftest import caller_for, login, seed_org

pytestmark = pytest.mark.integration


async def test_auditor_lists_and_verifies_the_trail(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    officer = caller_for(customer.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    with acting_as(officer):
        for n in range(3):
            async with customer.uow_factory(UnitOfWork)() as uow:
                uow.audit("party.viewed_unmasked", "party", f"p-{n}", {"fields": ["id_number"]})
                await uow.commit()
    async with gateway() as client:
        auditor = await login(client, "auditor1")
        officer_headers = await login(client, "officer1")
        assert (await client.get("/api/v1/audit?service=customer", headers=officer_headers)).status_code == 403

        page = await client.get(
            "/api/v1/audit", params={"service": "customer", "actor_id": officer.user_id, "limit": 2}, headers=auditor
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert [e["entity_id"] for e in body["items"]] == ["p-2", "p-1"]
        assert body["items"][0]["details"] == {"fields": ["id_number"]}
        rest = await client.get(
            "/api/v1/audit",
            params={"service": "customer", "actor_id": officer.user_id, "cursor": body["next_cursor"]},
            headers=auditor,
        )
        assert [e["entity_id"] for e in rest.json()["items"]] == ["p-0"]
        assert rest.json()["next_cursor"] is None

        async def verify() -> dict[str, Any]:
            body = (await client.get("/api/v1/audit/verify", headers=auditor)).json()
            assert body["next_cursor"] is None
            return {v["service"]: v for v in body["items"]}

        verdicts = await verify()
        assert verdicts["customer"]["intact"] is True
        assert verdicts["credit"]["intact"] is None, "a service that is not running is reported, not hidden"

        async with customer.engine.begin() as conn:
            await conn.execute(update(audit_log).where(audit_log.c.entity_id == "p-1").values(entity_id="p-9"))
        verdicts = await verify()
        assert verdicts["customer"]["intact"] is False
        assert "altered" in verdicts["customer"]["reason"]
