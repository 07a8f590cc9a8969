"""Auditors read and verify the audit trail through the gateway; nobody else may."""

from __future__ import annotations

from typing import Any

import nats
import pytest
from sqlalchemy import delete, select, update

from services.common.audit import entry_hash, verify_chain
from services.common.audit_witness import AuditWitness, chain_head, witness_bucket
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


async def test_verify_reports_a_chain_cut_or_rewritten_after_its_head_was_witnessed(  # type: ignore[no-untyped-def]
    start_service, gateway
) -> None:
    customer = await start_service("customer")
    org = await seed_org(customer)
    officer = caller_for(customer.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])

    async def change(n: int) -> None:
        with acting_as(officer):
            async with customer.uow_factory(UnitOfWork)() as uow:
                uow.audit("party.viewed_unmasked", "party", f"p-{n}", {"fields": ["id_number"]})
                await uow.commit()

    for n in range(3):
        await change(n)
    assert customer.audit_witness is not None
    # What the service's witness job does every interval, called once so the test need not wait.
    witnessed = await customer.audit_witness.publish(customer.engine)
    assert witnessed is not None

    async with gateway() as client:
        auditor = await login(client, "auditor1")

        async def verify() -> dict[str, Any]:
            reply = await client.get("/api/v1/audit/verify", headers=auditor)
            assert reply.status_code == 200, reply.text
            verdicts = {v["service"]: v for v in reply.json()["items"]}
            assert verdicts["credit"]["intact"] is None and verdicts["credit"]["witness"] is None  # not running
            return verdicts["customer"]  # type: ignore[no-any-return]

        # Entries appended after the witness: the chain still holds the witnessed head.
        for n in range(3, 5):
            await change(n)
        verdict = await verify()
        assert verdict["intact"] is True, verdict
        assert verdict["witness"]["status"] == "matches"
        assert (verdict["witness"]["seq"], verdict["witness"]["hash"]) == (witnessed.seq, witnessed.hash)

        head = await customer.audit_witness.publish(customer.engine)
        assert head is not None and head.seq > witnessed.seq

        # Someone who can write the table changes the newest entry and recomputes its hash: the
        # chain itself is consistent, the witness is not.
        async with customer.engine.begin() as conn:
            row = dict((await conn.execute(select(audit_log).where(audit_log.c.seq == head.seq))).mappings().one())
            row["entity_id"] = "p-other"
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == head.seq)
                .values(entity_id="p-other", hash=entry_hash(row["prev_hash"], row))
            )
        assert (await verify_chain(customer.engine)).intact
        verdict = await verify()
        assert verdict["intact"] is False and verdict["broken_at_seq"] is None
        assert verdict["witness"]["status"] == "rewritten"
        assert verdict["reason"].startswith(f"rewritten: seq {head.seq}'s hash ")

        # The newest two entries cut off the end.
        async with customer.engine.begin() as conn:
            await conn.execute(delete(audit_log).where(audit_log.c.seq > head.seq - 2))
        assert (await verify_chain(customer.engine)).intact
        verdict = await verify()
        assert verdict["intact"] is False and verdict["entries"] == head.entries - 2
        assert verdict["witness"]["status"] == "truncated"
        assert verdict["reason"].startswith(
            f"truncated: the chain ends at seq {head.seq - 2}, but seq {head.seq} (hash {head.hash[:12]}…) "
            f"was witnessed at "
        )
        assert verdict["witness"]["seq"] == head.seq and verdict["witness"]["witnessed_at"]


async def test_a_service_witnesses_its_chain_head_when_it_stops(  # type: ignore[no-untyped-def]
    start_service, platform_env, monkeypatch
) -> None:
    monkeypatch.setenv("GRANARY_AUDIT_WITNESS_INTERVAL_SECONDS", "3600")  # no periodic round during the test
    customer = await start_service("customer")
    org = await seed_org(customer)
    assert customer.audit_witness is not None
    before = await customer.audit_witness.publish(customer.engine)
    officer = caller_for(customer.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    with acting_as(officer):
        async with customer.uow_factory(UnitOfWork)() as uow:
            uow.audit("party.viewed_unmasked", "party", "p-last", {"fields": ["id_number"]})
            await uow.commit()
    head = await chain_head(customer.engine)
    assert head is not None and before is not None and head.seq > before.seq
    await customer.stop()

    nc = await nats.connect(platform_env["GRANARY_NATS_URL"])
    try:
        witness = AuditWitness(
            nc.jetstream(), bucket=witness_bucket(platform_env["GRANARY_NATS_STREAM"]), service="customer"
        )
        witnessed = await witness.read()
    finally:
        await nc.close()
    assert witnessed is not None
    assert (witnessed.seq, witnessed.hash, witnessed.entries) == (head.seq, head.hash, head.entries)
