"""NotificationService servicer: proto in, use case, proto out."""

from __future__ import annotations

from collections.abc import Callable

from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.timestamps import from_timestamp, to_timestamp
from services.notification import service
from services.notification.domain import rules, templates
from services.notification.models import MessageRow, NotificationRow, RuleRow, TemplateRow


class NotificationServicer(notification_pb2_grpc.NotificationServiceServicer):
    def __init__(self, *, uow: Callable[[], service.NotificationUnitOfWork]) -> None:
        self._uow = uow

    # -- inbox

    async def ListNotifications(
        self, request: notification_pb2.ListNotificationsRequest, context: ServicerContext
    ) -> notification_pb2.ListNotificationsResponse:
        rows, token = await service.list_notifications(
            uow=self._uow(),
            caller=require_caller(),
            recipient_id=request.recipient_id,
            size=request.page_size,
            token=request.page_token,
            unread_only=request.unread_only,
        )
        return notification_pb2.ListNotificationsResponse(
            notifications=[notification_to_proto(r) for r in rows], next_page_token=token
        )

    async def CountUnreadNotifications(
        self, request: notification_pb2.CountUnreadNotificationsRequest, context: ServicerContext
    ) -> notification_pb2.CountUnreadNotificationsResponse:
        count = await service.count_unread(uow=self._uow(), caller=require_caller())
        return notification_pb2.CountUnreadNotificationsResponse(unread=count)

    async def MarkNotificationRead(
        self, request: notification_pb2.MarkNotificationReadRequest, context: ServicerContext
    ) -> notification_pb2.MarkNotificationReadResponse:
        row = await service.mark_read(uow=self._uow(), caller=require_caller(), notification_id=request.notification_id)
        return notification_pb2.MarkNotificationReadResponse(notification=notification_to_proto(row))

    async def SendNotice(
        self, request: notification_pb2.SendNoticeRequest, context: ServicerContext
    ) -> notification_pb2.SendNoticeResponse:
        row, created = await service.send_notice(
            uow=self._uow(),
            caller=require_caller(),
            recipient_id=request.recipient_id,
            title=request.title,
            body=request.body,
            reference=request.reference,
            source=request.source,
        )
        return notification_pb2.SendNoticeResponse(notification=notification_to_proto(row), created=created)

    # -- rules

    async def CreateRule(
        self, request: notification_pb2.CreateRuleRequest, context: ServicerContext
    ) -> notification_pb2.CreateRuleResponse:
        spec = rules.RuleSpec(
            name=request.name,
            event_type=request.event_type,
            condition=request.condition,
            actions=[action_from_proto(a) for a in request.actions],
        )
        row = await service.create_rule(uow=self._uow(), caller=require_caller(), spec=spec, enabled=request.enabled)
        return notification_pb2.CreateRuleResponse(rule=rule_to_proto(row))

    async def UpdateRule(
        self, request: notification_pb2.UpdateRuleRequest, context: ServicerContext
    ) -> notification_pb2.UpdateRuleResponse:
        row = await service.update_rule(
            uow=self._uow(),
            caller=require_caller(),
            rule_id=request.rule_id,
            expected_version=request.expected_version,
            name=request.name,
            condition=request.condition,
            actions=[action_from_proto(a) for a in request.actions],
        )
        return notification_pb2.UpdateRuleResponse(rule=rule_to_proto(row))

    async def SetRuleEnabled(
        self, request: notification_pb2.SetRuleEnabledRequest, context: ServicerContext
    ) -> notification_pb2.SetRuleEnabledResponse:
        row = await service.set_rule_enabled(
            uow=self._uow(), caller=require_caller(), rule_id=request.rule_id, enabled=request.enabled
        )
        return notification_pb2.SetRuleEnabledResponse(rule=rule_to_proto(row))

    async def GetRule(
        self, request: notification_pb2.GetRuleRequest, context: ServicerContext
    ) -> notification_pb2.GetRuleResponse:
        row = await service.get_rule(uow=self._uow(), caller=require_caller(), rule_id=request.rule_id)
        return notification_pb2.GetRuleResponse(rule=rule_to_proto(row))

    async def ListRules(
        self, request: notification_pb2.ListRulesRequest, context: ServicerContext
    ) -> notification_pb2.ListRulesResponse:
        rows, token = await service.list_rules(
            uow=self._uow(), caller=require_caller(), event_type=request.event_type,
            size=request.page_size, token=request.page_token,
        )
        return notification_pb2.ListRulesResponse(rules=[rule_to_proto(r) for r in rows], next_page_token=token)

    async def DryRunRule(
        self, request: notification_pb2.DryRunRuleRequest, context: ServicerContext
    ) -> notification_pb2.DryRunRuleResponse:
        draft = None
        if not request.rule_id:
            draft = rules.RuleSpec(
                name="dry run",
                event_type=request.event_type,
                condition=request.condition,
                actions=[action_from_proto(a) for a in request.actions],
            )
        matched, planned = await service.dry_run_rule(
            uow=self._uow(), caller=require_caller(), rule_id=request.rule_id, draft=draft,
            sample_json=request.sample_json,
        )
        return notification_pb2.DryRunRuleResponse(
            matched=matched,
            actions=[
                notification_pb2.PlannedAction(
                    kind=p.kind, template_code=p.template_code, rendered=p.rendered, recipient=p.recipient,
                    error=p.error,
                )
                for p in planned
            ],
        )

    # -- templates

    async def CreateTemplate(
        self, request: notification_pb2.CreateTemplateRequest, context: ServicerContext
    ) -> notification_pb2.CreateTemplateResponse:
        spec = templates.TemplateSpec(
            code=request.code,
            channel=request.channel,
            category=request.category or "transactional",
            title=request.title,
            body=request.body,
            sms_template_code=request.sms_template_code,
            sms_sign_name=request.sms_sign_name,
        )
        row = await service.create_template(uow=self._uow(), caller=require_caller(), spec=spec)
        return notification_pb2.CreateTemplateResponse(template=template_to_proto(row))

    async def ListTemplates(
        self, request: notification_pb2.ListTemplatesRequest, context: ServicerContext
    ) -> notification_pb2.ListTemplatesResponse:
        rows = await service.list_templates(uow=self._uow(), caller=require_caller(), code=request.code)
        return notification_pb2.ListTemplatesResponse(templates=[template_to_proto(r) for r in rows])

    # -- delivery log

    async def ListMessages(
        self, request: notification_pb2.ListMessagesRequest, context: ServicerContext
    ) -> notification_pb2.ListMessagesResponse:
        rows, token = await service.list_messages(
            uow=self._uow(),
            caller=require_caller(),
            filters={
                "status": request.status,
                "template_code": request.template_code,
                "recipient_id": request.recipient_id,
                "event_id": request.event_id,
                "channel": request.channel,
            },
            created_from=from_timestamp(request.created_from) if request.HasField("created_from") else None,
            created_to=from_timestamp(request.created_to) if request.HasField("created_to") else None,
            size=request.page_size,
            token=request.page_token,
        )
        return notification_pb2.ListMessagesResponse(
            messages=[message_to_proto(r) for r in rows], next_page_token=token
        )

    async def GetMessage(
        self, request: notification_pb2.GetMessageRequest, context: ServicerContext
    ) -> notification_pb2.GetMessageResponse:
        row = await service.get_message(uow=self._uow(), caller=require_caller(), message_id=request.message_id)
        return notification_pb2.GetMessageResponse(message=message_to_proto(row))

    async def RecordDeliveryReceipt(
        self, request: notification_pb2.RecordDeliveryReceiptRequest, context: ServicerContext
    ) -> notification_pb2.RecordDeliveryReceiptResponse:
        row = await service.record_receipt(
            uow=self._uow(),
            caller=require_caller(),
            gateway_message_id=request.gateway_message_id,
            status=request.status,
            error_code=request.error_code,
            reported_at=from_timestamp(request.reported_at) if request.HasField("reported_at") else None,
        )
        return notification_pb2.RecordDeliveryReceiptResponse(message=message_to_proto(row))

    async def RecordOptOut(
        self, request: notification_pb2.RecordOptOutRequest, context: ServicerContext
    ) -> notification_pb2.RecordOptOutResponse:
        row = await service.record_opt_out(
            uow=self._uow(), caller=require_caller(), party_id=request.party_id, channel=request.channel,
            source=request.source,
        )
        return notification_pb2.RecordOptOutResponse(party_id=row.party_id, opted_out_at=to_timestamp(row.opted_out_at))

    # -- reminders

    async def ScheduleReminder(
        self, request: notification_pb2.ScheduleReminderRequest, context: ServicerContext
    ) -> notification_pb2.ScheduleReminderResponse:
        if not request.HasField("due_at"):
            from services.common.errors import InvalidArgument

            raise InvalidArgument.for_field("due_at", "is required")
        new = service.NewReminder(
            kind=request.kind,
            subject_id=request.subject_id,
            party_id=request.party_id,
            staff_id=request.staff_id,
            branch_id=request.branch_id,
            due_at=from_timestamp(request.due_at),
            yearly=request.yearly,
            opted_in=request.opted_in,
            attributes=dict(request.attributes),
        )
        reminder_id = await service.schedule_reminder(uow=self._uow(), caller=require_caller(), new=new)
        return notification_pb2.ScheduleReminderResponse(reminder_id=reminder_id, due_at=request.due_at)


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


def action_from_proto(action: notification_pb2.RuleAction) -> rules.Action:
    return rules.Action(
        kind=action.kind,
        template_code=action.template_code,
        recipient=action.recipient,
        recipient_field=action.recipient_field,
        role=action.role,
        task_type=action.task_type,
        priority=action.priority,
        due_in_hours=action.due_in_hours,
        event_type=action.event_type,
    )


def rule_to_proto(row: RuleRow) -> notification_pb2.Rule:
    return notification_pb2.Rule(
        id=row.id,
        name=row.name,
        event_type=row.event_type,
        condition=row.condition,
        actions=[notification_pb2.RuleAction(**rules.Action.from_dict(a).to_dict()) for a in row.actions],
        enabled=row.enabled,
        version=row.version,
        seed_key=row.seed_key or "",
        updated_by=row.updated_by,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )


def template_to_proto(row: TemplateRow) -> notification_pb2.Template:
    return notification_pb2.Template(
        id=row.id,
        code=row.code,
        version=row.version,
        channel=row.channel,
        category=row.category,
        title=row.title,
        body=row.body,
        sms_template_code=row.sms_template_code,
        sms_sign_name=row.sms_sign_name,
        variables=templates.variables(row.title + row.body),
        created_at=to_timestamp(row.created_at),
    )


def message_to_proto(row: MessageRow) -> notification_pb2.Message:
    message = notification_pb2.Message(
        id=row.id,
        rule_id=row.rule_id,
        event_id=row.event_id,
        event_type=row.event_type,
        channel=row.channel,
        recipient_kind=row.recipient_kind,
        recipient_id=row.recipient_id,
        recipient_masked=row.recipient_masked,
        template_code=row.template_code,
        template_version=row.template_version,
        variables={str(k): str(v) for k, v in (row.variables or {}).items()},
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        hold_reason=row.hold_reason,
        gateway_message_id=row.gateway_message_id,
        category=row.category,
        created_at=to_timestamp(row.created_at),
        updated_at=to_timestamp(row.updated_at),
    )
    for name in ("held_until", "sent_at", "delivered_at"):
        value = getattr(row, name)
        if value is not None:
            getattr(message, name).CopyFrom(to_timestamp(value))
    return message
