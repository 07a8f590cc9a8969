"""The audit chain (written with the change, tamper-evident) and idempotent commands."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services import cli
from services.common import messaging_schema
from services.common.audit import list_entries, verify_chain
from services.common.audit_witness import AuditWitness, witness_bucket
from services.common.db import create_engine, session_factory
from services.common.identity import TokenSigner, acting_as
from services.common.messaging_schema import audit_log
from services.common.uow import UnitOfWork
from tests.integration.conftest import login, seed_org

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request, new_database, tmp_path: Path) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}" if request.param == "sqlite" else await new_database()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_schema.metadata.create_all)
    yield engine
    await engine.dispose()


async def _change(engine: AsyncEngine, n: int, *, commit: bool = True) -> None:
    async with UnitOfWork(session_factory(engine), source="test") as uow:
        uow.audit("party.updated", "party", f"p-{n}", {"field": "name", "after": f"名{n}"})
        if commit:
            await uow.commit()


async def test_entries_are_chained_under_concurrency_and_tampering_is_detected(engine: AsyncEngine) -> None:
    signer = TokenSigner("s" * 40)
    officer = signer.verify(signer.issue(user_id="u-1", username="officer", roles=["officer"], branch_id="b-1"))
    with acting_as(officer):
        await asyncio.gather(*(_change(engine, n) for n in range(20)))
        await _change(engine, 99, commit=False)  # rolled back: no audit entry either
    report = await verify_chain(engine)
    assert report.intact and report.entries == 20
    [entry] = await list_entries(engine, entity_type="party", entity_id="p-7", limit=10)
    assert entry["actor_id"] == "u-1" and entry["action"] == "party.updated"
    assert entry["details"] == {"field": "name", "after": "名7"}
    assert await list_entries(engine, entity_type="party", entity_id="p-99", limit=10) == []

    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.entity_id == "p-7").values(actor_id="someone-else"))
    altered = await verify_chain(engine)
    assert not altered.intact and "altered" in altered.reason
    assert altered.broken_at_seq == entry["seq"]

    # Remove an entry from the middle of the chain (the concurrent order decides which one that is).
    # Cutting off the newest entries is not visible in the chain itself; the witness shows it
    # (test_audit_verify_command_compares_the_chain_with_its_witnessed_head).
    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.entity_id == "p-7").values(actor_id="u-1"))
        seqs = sorted((await conn.execute(select(audit_log.c.seq))).scalars())
        await conn.execute(delete(audit_log).where(audit_log.c.seq == seqs[len(seqs) // 2]))
    removed = await verify_chain(engine)
    assert not removed.intact and "removed" in removed.reason
    assert removed.broken_at_seq == seqs[len(seqs) // 2 + 1]


def _verify_credit() -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["audit", "verify", "--service", "credit"])
    return code, out.getvalue()


async def test_audit_verify_command_reports_a_broken_chain(new_database, platform_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = await new_database()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_schema.metadata.create_all)
    for n in range(3):
        await _change(engine, n)
    monkeypatch.setenv("GRANARY_CREDIT_DATABASE_URL", url)

    assert await asyncio.to_thread(_verify_credit) == (
        0,
        "credit: audit chain intact (3 entries); witness: not witnessed yet\n",
    )
    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.entity_id == "p-1").values(details={"x": 1}))
    code, out = await asyncio.to_thread(_verify_credit)
    assert code == 1 and "BROKEN at entry 2" in out
    await engine.dispose()


async def test_audit_verify_command_compares_the_chain_with_its_witnessed_head(  # type: ignore[no-untyped-def]
    new_database, platform_env, monkeypatch
) -> None:
    url = await new_database()
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_schema.metadata.create_all)
    for n in range(5):
        await _change(engine, n)
    monkeypatch.setenv("GRANARY_CREDIT_DATABASE_URL", url)
    nc = await nats.connect(platform_env["GRANARY_NATS_URL"])
    witness = AuditWitness(
        nc.jetstream(), bucket=witness_bucket(platform_env["GRANARY_NATS_STREAM"]), service="credit"
    )
    try:
        first = await witness.publish(engine)
        assert first is not None and (first.seq, first.entries) == (5, 5)

        # Entries appended after the witness leave it in the chain: intact.
        for n in range(5, 8):
            await _change(engine, n)
        code, out = await asyncio.to_thread(_verify_credit)
        assert code == 0, out
        assert out.startswith("credit: audit chain intact (8 entries); witness: holds seq 5 (hash ")

        head = await witness.publish(engine)
        assert head is not None and head.seq == 8

        # The witness cannot be read: the chain is still checked, and the exit code says so.
        monkeypatch.setenv("GRANARY_NATS_URL", "nats://127.0.0.1:1")
        code, out = await asyncio.to_thread(_verify_credit)
        assert code == 2, out
        assert out == "credit: audit chain intact (8 entries); witness: could not be read: NATS unreachable\n"
        monkeypatch.setenv("GRANARY_NATS_URL", platform_env["GRANARY_NATS_URL"])

        # A database administrator cuts the newest three entries: the shorter chain is consistent...
        async with engine.begin() as conn:
            await conn.execute(delete(audit_log).where(audit_log.c.seq > 5))
        assert (await verify_chain(engine)).intact
        # ...but it no longer holds the witnessed head.
        code, out = await asyncio.to_thread(_verify_credit)
        assert code == 1, out
        assert out.startswith(
            f"credit: audit chain NOT INTACT (5 entries): truncated: the chain ends at seq 5, but seq 8 "
            f"(hash {head.hash[:12]}…) was witnessed at "
        )
        # The service's own witness job does not move the witness back to the shorter chain.
        assert await witness.publish(engine) == head
        assert await witness.read() == head

        # After a deliberate restore, a NATS administrator removes the service's key (the history
        # keeps the old heads); the next round witnesses the restored chain.
        kv = await nc.jetstream().key_value(witness_bucket(platform_env["GRANARY_NATS_STREAM"]))
        await kv.delete("credit")
        code, out = await asyncio.to_thread(_verify_credit)
        assert (code, out) == (0, "credit: audit chain intact (5 entries); witness: not witnessed yet\n")
        restored = await witness.publish(engine)
        assert restored is not None and restored.seq == 5
        assert len(await kv.history("credit")) == 4  # two heads, the delete marker, the new head
    finally:
        await nc.close()
        await engine.dispose()


async def test_a_repeated_post_with_the_same_idempotency_key_is_answered_once(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    body = {"name": "孙小梅", "id_number": "11010519491231002X"}
    async with gateway() as client:
        headers = await login(client, "officer1")
        first = await client.post("/api/v1/parties", json=body, headers={**headers, "Idempotency-Key": "k-1"})
        again = await client.post("/api/v1/parties", json=body, headers={**headers, "Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        reused = await client.post(
            "/api/v1/parties", json={**body, "name": "别人"}, headers={**headers, "Idempotency-Key": "k-1"}
        )
        assert reused.status_code == 409
        assert reused.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"
        # without the key the duplicate is caught by the domain (same ID number)
        duplicate = await client.post("/api/v1/parties", json=body, headers=headers)
        assert duplicate.status_code == 409 and duplicate.json()["reason"] == "PARTY_EXISTS"
        bad_key = await client.post("/api/v1/parties", json=body, headers={**headers, "Idempotency-Key": "x" * 201})
        assert bad_key.status_code == 422
    async with customer.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(messaging_schema.outbox))).scalar()
    assert events == 1, "one party, one event"
