"""Notification use cases."""

from __future__ import annotations

from datetime import datetime

from services.common.clock import as_utc, new_id, utcnow
from services.common.errors import PermissionDenied
from services.common.identity import Caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.uow import UnitOfWork
from services.notification.domain.notices import Notice
from services.notification.models import NotificationRow
from services.notification.repository import NotificationRepository


class NotificationUnitOfWork(UnitOfWork):
    @property
    def notifications(self) -> NotificationRepository:
        return NotificationRepository(self.session)


def add_notice(uow: UnitOfWork, notice: Notice, *, event_id: str, event_type: str) -> NotificationRow:
    """Adds a notice inside the caller's unit of work (an event handler's transaction)."""
    row = NotificationRow(
        id=new_id(),
        recipient_id=notice.recipient_id,
        title=notice.title,
        body=notice.body,
        source_event_id=event_id,
        source_event_type=event_type,
        created_at=utcnow(),
    )
    NotificationRepository(uow.session).add(row)
    return row


async def list_notifications(
    *, uow: NotificationUnitOfWork, caller: Caller, recipient_id: str = "", size: int = 0, token: str = ""
) -> tuple[list[NotificationRow], str]:
    recipient = recipient_id or caller.user_id
    if recipient != caller.user_id and not caller.has_role("admin", "auditor"):
        raise PermissionDenied("you may only read your own notifications")
    limit = page_size(size)
    cursor = decode_cursor(token, 2)
    after = (as_utc(datetime.fromisoformat(cursor[0])), str(cursor[1])) if cursor else None
    async with uow:
        rows = await uow.notifications.inbox(recipient, limit=limit + 1, after=after)
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_cursor([as_utc(last.created_at).isoformat(), last.id])
    return rows, next_token
