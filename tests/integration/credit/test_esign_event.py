"""E-signature by event: a provider's connector publishes ``connector.esign.signed`` on the real
NATS JetStream; the credit service's consumer signs the contract when the hash matches, refuses
and records a mismatch, and applies a redelivered report once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from granary.v1 import credit_pb2
from sqlalchemy import select

from services.common import messaging_schema
from services.common.envelope import OutgoingEvent, build_event
from services.common.timestamps import to_timestamp
from services.credit.models import ESignReceiptRow
from tests.integration.credit.support import Credit
from tests.support import eventually

pytestmark = pytest.mark.integration

SIGNED_AT = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def esign_event(contract_id: str, content_hash: str, external_ref: str) -> OutgoingEvent:
    return build_event(
        event_type="connector.esign.signed",
        source="esign-connector",
        subject=contract_id,
        data=credit_pb2.ESignSigned(
            contract_id=contract_id,
            content_hash=content_hash,
            signer="张三 (CN=330102199001011234)",
            signed_at=to_timestamp(SIGNED_AT),
            provider="esign-demo",
            external_ref=external_ref,
        ),
    )


async def publish(credit: Credit, event: OutgoingEvent, msg_id: str = "") -> None:
    bus = credit.host.bus
    await bus.publish(bus.subject_for(event.type), event.to_bytes(), {"Nats-Msg-Id": msg_id or event.id})


async def receipts(credit: Credit, **where: str) -> list[ESignReceiptRow]:
    async with credit.host.sessions() as session:
        stmt = select(ESignReceiptRow).order_by(ESignReceiptRow.received_at)
        for name, value in where.items():
            stmt = stmt.where(getattr(ESignReceiptRow, name) == value)
        return list((await session.scalars(stmt)).all())


async def recorded(credit: Credit, external_ref: str) -> None:
    async def check() -> bool:
        return bool(await receipts(credit, external_ref=external_ref))

    check.__name__ = f"receipt {external_ref} recorded"
    await eventually(check)


async def approved_contract(credit: Credit) -> Any:
    product = await credit.product()
    app = await credit.application(product, amount="20000", term=6)
    for action in ("start_review", "approve"):
        await credit.rpc("TransitionApplication", credit.supervisor, application_id=app.id, action=action)
    contract = (
        await credit.rpc("GenerateContract", credit.officer, application_id=app.id, template_code="LOAN")
    ).contract
    return app, contract


async def test_esign_event_signs_on_matching_hash_refuses_mismatch_and_applies_once(credit: Credit) -> None:
    app, contract = await approved_contract(credit)

    # a mismatching hash is refused and recorded; the contract waits for a signature
    await publish(credit, esign_event(contract.id, "0" * 64, "ES-BAD"))
    await recorded(credit, "ES-BAD")
    [bad] = await receipts(credit, external_ref="ES-BAD")
    assert (bad.outcome, bad.contract_id) == ("refused", contract.id)
    assert bad.reason.startswith("HASH_MISMATCH")
    still = (await credit.rpc("GetContract", credit.officer, contract_id=contract.id)).contract
    assert still.status == "pending_signature"
    [refusal] = await credit.events("credit.contract.signature_refused")
    assert (refusal.contract_id, refusal.status) == (contract.id, "signature_refused")

    # the matching hash signs it and moves the application to contracted
    good = esign_event(contract.id, contract.content_hash, "ES-1")
    await publish(credit, good)
    await recorded(credit, "ES-1")
    signed = (await credit.rpc("GetContract", credit.officer, contract_id=contract.id)).contract
    assert (signed.status, signed.signature_method, signed.evidence_ref) == ("signed", "electronic", "esign-demo:ES-1")
    assert signed.signed_by == "张三 (CN=330102199001011234)"
    assert (await credit.rpc("GetApplication", credit.officer, application_id=app.id)).application.status == (
        "contracted"
    )

    # redelivery: the same envelope past JetStream's duplicate window, and the provider resending
    # the same report under a new event id; then a sentinel, applied after both
    await publish(credit, good, msg_id="redelivered-es-1")
    await publish(credit, esign_event(contract.id, contract.content_hash, "ES-1"))
    await publish(credit, esign_event("no-such-contract", contract.content_hash, "ES-SENTINEL"))
    await recorded(credit, "ES-SENTINEL")
    [sentinel] = await receipts(credit, external_ref="ES-SENTINEL")
    assert (sentinel.outcome, sentinel.reason) == ("refused", "CONTRACT_NOT_FOUND")
    assert [r.outcome for r in await receipts(credit, external_ref="ES-1")] == ["applied"]
    assert len(await credit.events("credit.application.contracted")) == 1
    async with credit.host.engine.connect() as conn:
        signed_events = (
            await conn.execute(
                select(messaging_schema.outbox.c.event_id).where(
                    messaging_schema.outbox.c.event_type == "credit.contract.signed"
                )
            )
        ).all()
    assert len(signed_events) == 1

    # a later report for the signed contract (another reference) is refused, the signature stays
    await publish(credit, esign_event(contract.id, contract.content_hash, "ES-2"))
    await recorded(credit, "ES-2")
    [late] = await receipts(credit, external_ref="ES-2")
    assert (late.outcome, late.reason) == ("refused", "ALREADY_SIGNED: the contract is signed")

    # the e-signed contract is good for disbursement
    loan = (await credit.rpc("DisburseLoan", credit.supervisor, application_id=app.id, external_ref="T-ES")).loan
    assert loan.contract_id == contract.id
