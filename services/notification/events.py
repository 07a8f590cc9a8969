"""Events the notification service reacts to."""

from __future__ import annotations

from granary.v1 import customer_pb2, events_pb2

from services.common.consumer import Subscription
from services.common.envelope import unpack
from services.common.uow import UnitOfWork
from services.notification.domain.notices import new_customer_notice
from services.notification.service import add_notice


async def on_party_created(event: events_pb2.Event, uow: UnitOfWork) -> None:
    data = unpack(event, customer_pb2.PartyCreated)
    notice = new_customer_notice(managing_officer_id=data.managing_officer_id, party_name=data.name)
    add_notice(uow, notice, event_id=event.id, event_type=event.type)


def subscriptions() -> list[Subscription]:
    return [
        Subscription(
            durable="notification-party-created",
            event_type="customer.party.created",
            handler=on_party_created,
        ),
    ]
