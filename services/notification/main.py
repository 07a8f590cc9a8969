"""Composition root of the notification service."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.leader import LeaderLock
from services.common.runtime import ServiceApp, ServiceHost
from services.common.settings import NotificationSettings
from services.notification import events
from services.notification.clients import CustomerDirectory, FieldTaskClient
from services.notification.connectors.sms import HttpSmsConnector, LogSmsConnector
from services.notification.domain.ports import SmsConnector
from services.notification.domain.protections import Limits, QuietHours
from services.notification.grpc_api import NotificationServicer
from services.notification.service import BirthdayGreetings, DispatchConfig, Dispatcher, NotificationUnitOfWork


def sms_connector(settings: NotificationSettings) -> SmsConnector:
    if settings.sms_connector == "http":
        return HttpSmsConnector(
            url=settings.sms_gateway_url,
            token=settings.sms_gateway_token.get_secret_value(),
            timeout_seconds=settings.sms_timeout_seconds,
        )
    return LogSmsConnector()


def dispatch_config(settings: NotificationSettings) -> DispatchConfig:
    return DispatchConfig(
        quiet_hours=QuietHours.parse(settings.quiet_hours, settings.timezone),
        limits=Limits(settings.limit_per_minute, settings.limit_per_hour, settings.limit_per_day),
        max_attempts=settings.sms_max_attempts,
        retry_base_seconds=settings.sms_retry_base_seconds,
        interval_seconds=settings.dispatch_interval_seconds,
    )


def build(host: ServiceHost) -> ServiceApp:
    uow = host.uow_factory(NotificationUnitOfWork)
    settings = host.settings.notification
    servicer = NotificationServicer(uow=uow)
    sms = sms_connector(settings)
    directory = CustomerDirectory(host.channels, host.address_of("customer"))
    dispatcher = Dispatcher(
        uow=uow,
        directory=directory,
        field_tasks=FieldTaskClient(host.channels, host.address_of("fieldtask")),
        sms=sms,
        config=dispatch_config(settings),
        caller=host.service_caller,
    )
    birthdays = BirthdayGreetings(
        uow=uow,
        directory=directory,
        zone=ZoneInfo(settings.timezone),
        leader=LeaderLock(host.engine, "notification-birthday-greetings"),
        caller=host.service_caller,
    )
    on_stop = [sms.close] if isinstance(sms, HttpSmsConnector) else []
    return ServiceApp(
        register=lambda server: notification_pb2_grpc.add_NotificationServiceServicer_to_server(servicer, server),
        service_names=[notification_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name],
        subscriptions=events.subscriptions(),
        background_jobs=[dispatcher.run, birthdays.run],
        on_stop=on_stop,
    )
