"""Composition root of the notification service."""

from __future__ import annotations

from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.runtime import ServiceApp, ServiceHost
from services.notification import events
from services.notification.grpc_api import NotificationServicer
from services.notification.service import NotificationUnitOfWork


def build(host: ServiceHost) -> ServiceApp:
    servicer = NotificationServicer(uow=host.uow_factory(NotificationUnitOfWork))
    return ServiceApp(
        register=lambda server: notification_pb2_grpc.add_NotificationServiceServicer_to_server(servicer, server),
        service_names=[notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name],
        subscriptions=events.subscriptions(),
    )
