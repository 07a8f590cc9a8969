"""/api/v1/notifications: the user's in-app inbox (list, unread count, mark read).

``router`` also carries the notification service's other resources (rules, templates, the
delivery log, opt-outs, reminders); ``public_router`` the SMS gateway's receipt callback,
which authenticates with its own shared secret instead of a user token.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from granary.v1 import notification_pb2
from pydantic import BaseModel

from gateway.auth import CurrentUser
from gateway.routers import messages, rules, sms_receipts
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

inbox = APIRouter(prefix="/notifications", tags=["notifications"])


class NotificationRead(BaseModel):
    id: str
    title: str
    body: str
    source_event_type: str
    created_at: str
    read: bool

    @classmethod
    def from_proto(cls, n: notification_pb2.Notification) -> NotificationRead:
        return cls(
            id=n.id,
            title=n.title,
            body=n.body,
            source_event_type=n.source_event_type,
            created_at=from_timestamp(n.created_at).isoformat(),
            read=n.HasField("read_at"),
        )


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None


class UnreadCount(BaseModel):
    unread: int


@inbox.get("", response_model=NotificationPage)
async def list_notifications(
    request: Request,
    user: CurrentUser,
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
    unread_only: bool = False,
) -> NotificationPage:
    reply = await call(
        request.app.state.backend.notification.ListNotifications,
        notification_pb2.ListNotificationsRequest(page_size=limit, page_token=cursor, unread_only=unread_only),
        caller=user,
    )
    return NotificationPage(
        items=[NotificationRead.from_proto(n) for n in reply.notifications],
        next_cursor=reply.next_page_token or None,
    )


@inbox.get("/unread-count", response_model=UnreadCount)
async def unread_count(request: Request, user: CurrentUser) -> UnreadCount:
    reply = await call(
        request.app.state.backend.notification.CountUnreadNotifications,
        notification_pb2.CountUnreadNotificationsRequest(),
        caller=user,
    )
    return UnreadCount(unread=reply.unread)


@inbox.post("/{notification_id}/read", response_model=NotificationRead)
async def mark_read(notification_id: str, request: Request, user: CurrentUser) -> NotificationRead:
    reply = await call(
        request.app.state.backend.notification.MarkNotificationRead,
        notification_pb2.MarkNotificationReadRequest(notification_id=notification_id),
        caller=user,
    )
    return NotificationRead.from_proto(reply.notification)


router = APIRouter()
router.include_router(inbox)
router.include_router(rules.router)
router.include_router(messages.router)

public_router = APIRouter()
public_router.include_router(sms_receipts.router)
