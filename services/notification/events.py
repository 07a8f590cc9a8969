"""Events the notification service reacts to.

Every supported event type has a durable consumer that runs the rules on it; a few also
schedule reminders (post-loan checks after a disbursement, lead follow-ups). Payloads are
decoded generically from the envelope's ``Any`` into a dict of their fields, so a rule
reads the producer's field names (``dpd``, ``party_id``, ``candidate_role``...).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format, struct_pb2, symbol_database
from google.protobuf.message import Message

# Imported for their side effect: every payload type is registered in the descriptor pool.
from granary.v1 import (  # noqa: F401
    credit_pb2,
    customer_pb2,
    events_pb2,
    fieldtask_pb2,
    notification_pb2,
    process_pb2,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.consumer import Subscription
from services.common.envelope import unpack
from services.common.timestamps import from_timestamp
from services.common.uow import UnitOfWork
from services.notification.domain.notices import new_customer_notice
from services.notification.domain.rules import SUPPORTED_EVENT_TYPES
from services.notification.service import (
    IncomingEvent,
    NewReminder,
    NotificationUnitOfWork,
    add_notice,
    apply_rules,
    schedule_reminder_in,
)

POST_LOAN_CHECK_AFTER = timedelta(days=30)
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def event_data(event: events_pb2.Event) -> dict[str, Any]:
    """The payload's fields by their proto names; unknown types give an empty dict."""
    type_name = event.data.type_url.rsplit("/", 1)[-1]
    if not type_name:
        return {}
    try:
        message_class = symbol_database.Default().GetSymbol(type_name)
    except KeyError:
        return {}
    message = message_class()
    event.data.Unpack(message)
    if isinstance(message, struct_pb2.Struct):
        return json_format.MessageToDict(message)
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def incoming(event: events_pb2.Event) -> IncomingEvent:
    return IncomingEvent(
        id=event.id,
        type=event.type,
        subject=event.subject,
        time=from_timestamp(event.time),
        data=event_data(event),
    )


async def on_rule_event(event: events_pb2.Event, uow: UnitOfWork) -> None:
    await apply_rules(_typed(uow), incoming(event))


async def on_party_created(event: events_pb2.Event, uow: UnitOfWork) -> None:
    data = unpack(event, customer_pb2.PartyCreated)
    notice = new_customer_notice(managing_officer_id=data.managing_officer_id, party_name=data.name)
    add_notice(uow, notice, event_id=event.id, event_type=event.type)
    await apply_rules(_typed(uow), incoming(event))


async def on_loan_disbursed(event: events_pb2.Event, uow: UnitOfWork) -> None:
    """A disbursed loan gets its first post-loan check reminder."""
    typed = _typed(uow)
    received = incoming(event)
    data = received.data
    if data.get("loan_id") and data.get("managing_officer_id"):
        await schedule_reminder_in(
            typed,
            NewReminder(
                kind="post_loan_check",
                subject_id=str(data["loan_id"]),
                party_id=str(data.get("party_id", "")),
                staff_id=str(data["managing_officer_id"]),
                branch_id=str(data.get("branch_id", "")),
                due_at=received.time + POST_LOAN_CHECK_AFTER,
            ),
        )
    await apply_rules(typed, received)


async def on_lead_assigned(event: events_pb2.Event, uow: UnitOfWork) -> None:
    """An assigned lead is followed up the next working morning (09:00 local)."""
    typed = _typed(uow)
    received = incoming(event)
    data = received.data
    if data.get("lead_id") and data.get("assigned_officer_id"):
        await schedule_reminder_in(
            typed,
            NewReminder(
                kind="lead_follow_up",
                subject_id=str(data["lead_id"]),
                staff_id=str(data["assigned_officer_id"]),
                branch_id=str(data.get("branch_id", "")),
                due_at=_next_morning(received.time),
                attributes={"name": str(data.get("name", ""))},
            ),
        )
    await apply_rules(typed, received)


def _next_morning(moment: datetime) -> datetime:
    local = moment.astimezone(LOCAL_ZONE)
    return datetime.combine(local.date() + timedelta(days=1), time(9, 0), tzinfo=LOCAL_ZONE)


def _typed(uow: UnitOfWork) -> NotificationUnitOfWork:
    """The consumer's unit of work, seen with this service's repositories."""
    if isinstance(uow, NotificationUnitOfWork):
        return uow
    return _Bridge(uow)


class _Bridge(NotificationUnitOfWork):
    """Shares the consumer's open session and pending events (records go to its outbox)."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    @property
    def session(self) -> AsyncSession:
        return self._inner.session

    def record(self, event_type: str, subject: str, data: Message) -> str:
        return self._inner.record(event_type, subject, data)

    def audit(self, action: str, entity_type: str, entity_id: str, details: dict[str, Any] | None = None) -> None:
        self._inner.audit(action, entity_type, entity_id, details)


_SPECIAL = {
    "customer.party.created": on_party_created,
    "credit.loan.disbursed": on_loan_disbursed,
    "customer.lead.assigned": on_lead_assigned,
}


def subscriptions() -> list[Subscription]:
    subs = [
        Subscription(
            durable="notification-party-created",
            event_type="customer.party.created",
            handler=on_party_created,
        ),
    ]
    for event_type in SUPPORTED_EVENT_TYPES:
        if event_type == "customer.party.created":
            continue
        durable = "notification-rules-" + event_type.replace(".", "-").replace("_", "-")
        handler = _SPECIAL.get(event_type, on_rule_event)
        subs.append(Subscription(durable=durable, event_type=event_type, handler=handler))
    return subs
