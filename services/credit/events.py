"""Events the credit service consumes.

``connector.esign.signed``: an e-signature provider's connector reports a signed contract; the
contract becomes signed when the reported hash is the generated contract's SHA-256, otherwise
the report is refused and recorded. The handler runs inside the consumer's transaction after
the inbox claimed the event id (a redelivery is applied once); the use case also de-duplicates
on (provider, external_ref).
"""

from __future__ import annotations

from granary.v1 import credit_pb2, events_pb2

from services.common.consumer import Subscription
from services.common.envelope import unpack
from services.common.identity import require_caller
from services.common.timestamps import from_timestamp
from services.common.uow import UnitOfWork
from services.credit.service import ESignature, apply_esignature

ESIGN_SIGNED = "connector.esign.signed"


async def on_esign_signed(event: events_pb2.Event, uow: UnitOfWork) -> None:
    payload = unpack(event, credit_pb2.ESignSigned)
    await apply_esignature(
        uow=uow,
        caller=require_caller(),
        signature=ESignature(
            event_id=event.id,
            contract_id=payload.contract_id,
            content_hash=payload.content_hash,
            signer=payload.signer,
            signed_at=from_timestamp(payload.signed_at) if payload.HasField("signed_at") else None,
            provider=payload.provider,
            external_ref=payload.external_ref,
        ),
    )


def subscriptions() -> list[Subscription]:
    return [Subscription(durable="credit-contract-on-esign-signed", event_type=ESIGN_SIGNED, handler=on_esign_signed)]
