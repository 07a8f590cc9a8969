"""NotificationService servicer: proto in, use case, proto out."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.notification import service
from services.notification.models import NotificationRow


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, *, uow: Callable[[], service.NotificationUnitOfWork]) -> None:
        self._uow = uow

    async def ListNotifications(
        self, request: notification_pb2.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> notification_pb2.ListNotificationsResponse:
        rows, token = await service.list_notifications(
            uow=self._uow(),
            caller=require_caller(),
            recipient_id=request.recipient_id,
            size=request.page_size,
            token=request.page_token,
        )
        return notification_pb2.ListNotificationsResponse(
            notifications=[notification_to_proto(r) for r in rows], next_page_token=token
        )


def notification_to_proto(row: NotificationRow) -> notification_pb2.Notification:
    message = notification_pb2.Notification(
        id=row.id,
        recipient_id=row.recipient_id,
        title=row.title,
        body=row.body,
        source_event_id=row.source_event_id,
        source_event_type=row.source_event_type,
        created_at=to_timestamp(row.created_at),
    )
    if row.read_at is not None:
        message.read_at.CopyFrom(to_timestamp(row.read_at))
    return message
