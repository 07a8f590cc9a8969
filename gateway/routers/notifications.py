"""/api/v1/notifications: the user's in-app inbox."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from granary.v1 import notification_pb2
from pydantic import BaseModel

from gateway.auth import CurrentUser
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/notifications", tags=["notifications"])


class NotificationRead(BaseModel):
    id: str
    title: str
    body: str
    source_event_type: str
    created_at: str
    read: bool


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None


@router.get("", response_model=NotificationPage)
async def list_notifications(
    request: Request,
    user: CurrentUser,
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> NotificationPage:
    reply = await call(
        request.app.state.backend.notification.ListNotifications,
        notification_pb2.ListNotificationsRequest(page_size=limit, page_token=cursor),
        caller=user,
    )
    return NotificationPage(
        items=[
            NotificationRead(
                id=n.id,
                title=n.title,
                body=n.body,
                source_event_type=n.source_event_type,
                created_at=from_timestamp(n.created_at).isoformat(),
                read=n.HasField("read_at"),
            )
            for n in reply.notifications
        ],
        next_cursor=reply.next_page_token or None,
    )
