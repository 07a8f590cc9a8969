"""Notification use cases: rules, templates, the delivery log, the inbox, reminders.

Commands open one unit of work and commit once. Event handlers (``apply_rules``) run inside
the consumer's transaction and only write rows; everything that calls another system (SMS
gateway, customer directory, field-task service) is done by the ``Dispatcher`` outside any
transaction, one short transaction to claim work and one to record the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from granary.v1 import notification_pb2

from services.common.clock import as_utc, new_id, utcnow
from services.common.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.common.errors import FieldViolation as Violation
from services.common.identity import Caller, acting_as
from services.common.leader import LeaderLock
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.uow import UnitOfWork
from services.notification.domain import expressions, rules, templates
from services.notification.domain.notices import Notice
from services.notification.domain.ports import (
    BirthdayParty,
    Directory,
    FieldTaskOrder,
    FieldTasks,
    PermanentError,
    SmsConnector,
    SmsRequest,
    TransientError,
)
from services.notification.domain.protections import (
    Limits,
    QuietHours,
    birthdays_on,
    consent_purpose,
    mask_phone,
    rate_limited_until,
    retry_delay,
)
from services.notification.models import (
    FieldTaskRequestRow,
    MessageRow,
    NotificationRow,
    OptOutRow,
    ReminderRow,
    RuleRow,
    TemplateRow,
)
from services.notification.repository import (
    FieldTaskRequestRepository,
    MessageRepository,
    NotificationRepository,
    OptOutRepository,
    ReminderRepository,
    RuleRepository,
    TemplateRepository,
)

log = logging.getLogger(__name__)

RULE_MANAGERS = ("admin", "process_owner", "president", "risk_director")
RULE_READERS = (*RULE_MANAGERS, "supervisor", "auditor")
LOG_READERS = ("admin", "auditor", "risk_director", "president", "supervisor", "system")
ALL_BRANCHES = ("admin", "auditor", "risk_director", "system")
OPT_OUT_WRITERS = ("officer", "supervisor", "president", "admin", "system")
RECEIPT_WRITERS = ("system", "admin")
REMINDER_WRITERS = ("officer", "supervisor", "president", "admin", "system")
# "expanded": an SMS to a role, split into one message per staff member with that role.
MESSAGE_STATUSES = ("queued", "held", "sent", "failed", "delivered", "suppressed", "expanded")


class NotificationUnitOfWork(UnitOfWork):
    @property
    def notifications(self) -> NotificationRepository:
        return NotificationRepository(self.session)

    @property
    def rules(self) -> RuleRepository:
        return RuleRepository(self.session)

    @property
    def templates(self) -> TemplateRepository:
        return TemplateRepository(self.session)

    @property
    def messages(self) -> MessageRepository:
        return MessageRepository(self.session)

    @property
    def task_requests(self) -> FieldTaskRequestRepository:
        return FieldTaskRequestRepository(self.session)

    @property
    def opt_outs(self) -> OptOutRepository:
        return OptOutRepository(self.session)

    @property
    def reminders(self) -> ReminderRepository:
        return ReminderRepository(self.session)


class RuleNotFound(NotFound):
    reason = "RULE_NOT_FOUND"


class MessageNotFound(NotFound):
    reason = "MESSAGE_NOT_FOUND"


class NotificationNotFound(NotFound):
    reason = "NOTIFICATION_NOT_FOUND"


def _invalid(problems: list[tuple[str, str]]) -> InvalidArgument:
    return InvalidArgument(
        "; ".join(f"{f}: {p}" for f, p in problems), [Violation(f, p) for f, p in problems]
    )


def _require(caller: Caller, roles: tuple[str, ...], what: str) -> None:
    if not caller.has_role(*roles):
        raise PermissionDenied(f"your roles may not {what}")


# ------------------------------------------------------------------ in-app inbox


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
    *,
    uow: NotificationUnitOfWork,
    caller: Caller,
    recipient_id: str = "",
    size: int = 0,
    token: str = "",
    unread_only: bool = False,
) -> tuple[list[NotificationRow], str]:
    recipient = recipient_id or caller.user_id
    if recipient != caller.user_id and not caller.has_role("admin", "auditor"):
        raise PermissionDenied("you may only read your own notifications")
    limit = page_size(size)
    cursor = decode_cursor(token, 2)
    after = (as_utc(datetime.fromisoformat(cursor[0])), str(cursor[1])) if cursor else None
    async with uow:
        rows = await uow.notifications.inbox(recipient, limit=limit + 1, after=after, unread_only=unread_only)
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_cursor([as_utc(last.created_at).isoformat(), last.id])
    return rows, next_token


NOTICE_TITLE_MAX = 200
NOTICE_BODY_MAX = 2000
NOTICE_NAMESPACE = uuid.UUID("5b0f4a52-8d1e-4c55-9d3e-6a1b2c7d9e01")  # fixed: the same reference, the same id


async def send_notice(
    *,
    uow: NotificationUnitOfWork,
    caller: Caller,
    recipient_id: str,
    title: str,
    body: str,
    reference: str,
    source: str = "",
) -> tuple[NotificationRow, bool]:
    """One in-app notice per reference; a repeated reference returns the first one."""
    if caller.kind != "service":
        raise PermissionDenied("only services send notices directly; staff notices come from rules")
    problems = []
    if not recipient_id.strip():
        problems.append(("recipient_id", "is required"))
    if not title.strip():
        problems.append(("title", "is required"))
    elif len(title) > NOTICE_TITLE_MAX:
        problems.append(("title", f"must be at most {NOTICE_TITLE_MAX} characters"))
    if len(body) > NOTICE_BODY_MAX:
        problems.append(("body", f"must be at most {NOTICE_BODY_MAX} characters"))
    if not reference.strip():
        problems.append(("reference", "is required (it makes a repeated send harmless)"))
    if problems:
        raise _invalid(problems)
    # The notices' uniqueness is (source event, recipient); a reference of any length maps to one id.
    source_id = str(uuid.uuid5(NOTICE_NAMESPACE, reference))
    async with uow:
        row_id = new_id()
        created = await uow.notifications.add_once(
            {
                "id": row_id,
                "recipient_id": recipient_id.strip(),
                "title": title.strip(),
                "body": body,
                "source_event_id": source_id,
                "source_event_type": source.strip() or "notice",
                "created_at": utcnow(),
                "read_at": None,
            }
        )
        row = await uow.notifications.by_source(source_id, recipient_id.strip())
        assert row is not None
        if created:
            uow.audit(
                "notification.sent", "notification", row.id, {"recipient_id": row.recipient_id, "reference": reference}
            )
            await uow.commit()
    return row, created


async def count_unread(*, uow: NotificationUnitOfWork, caller: Caller) -> int:
    async with uow:
        return await uow.notifications.unread_count(caller.user_id)


async def mark_read(*, uow: NotificationUnitOfWork, caller: Caller, notification_id: str) -> NotificationRow:
    async with uow:
        row = await uow.notifications.get(notification_id)
        # Someone else's notice looks exactly like a missing one.
        if row is None or row.recipient_id != caller.user_id:
            raise NotificationNotFound(f"notification {notification_id} not found")
        if row.read_at is None:
            row.read_at = utcnow()
            uow.audit("notification.read", "notification", row.id)
            await uow.commit()
    return row


# ------------------------------------------------------------------ templates


async def create_template(
    *, uow: NotificationUnitOfWork, caller: Caller, spec: templates.TemplateSpec
) -> TemplateRow:
    _require(caller, RULE_MANAGERS, "manage templates")
    problems = templates.validate_template(spec)
    if problems:
        raise _invalid(problems)
    async with uow:
        latest = await uow.templates.latest(spec.code)
        if latest is not None and latest.channel != spec.channel:
            raise _invalid([("channel", f"template {spec.code} is a {latest.channel} template")])
        row = TemplateRow(
            id=new_id(),
            code=spec.code,
            version=(latest.version + 1) if latest else 1,
            channel=spec.channel,
            category=spec.category,
            title=spec.title,
            body=spec.body,
            sms_template_code=spec.sms_template_code,
            sms_sign_name=spec.sms_sign_name,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.templates.add(row)
        uow.audit("template.created", "template", row.id, {"code": row.code, "version": row.version})
        await uow.commit()
    return row


async def list_templates(*, uow: NotificationUnitOfWork, caller: Caller, code: str = "") -> list[TemplateRow]:
    _require(caller, RULE_READERS, "read templates")
    async with uow:
        return await uow.templates.all(code)


# ------------------------------------------------------------------ rules


async def _check_templates(uow: NotificationUnitOfWork, actions: list[rules.Action]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for i, action in enumerate(actions):
        if action.kind not in ("sms", "in_app") or not action.template_code:
            continue
        template = await uow.templates.latest(action.template_code)
        if template is None:
            problems.append((f"actions[{i}].template_code", f"no template {action.template_code}"))
        elif template.channel != action.kind:
            problems.append((f"actions[{i}].template_code", f"{action.template_code} is a {template.channel} template"))
    return problems


async def create_rule(*, uow: NotificationUnitOfWork, caller: Caller, spec: rules.RuleSpec, enabled: bool) -> RuleRow:
    _require(caller, RULE_MANAGERS, "manage rules")
    problems = rules.validate_rule(spec)
    if problems:
        raise _invalid(problems)
    async with uow:
        problems = await _check_templates(uow, spec.actions)
        if problems:
            raise _invalid(problems)
        now = utcnow()
        row = RuleRow(
            id=new_id(),
            name=spec.name.strip(),
            event_type=spec.event_type,
            condition=spec.condition.strip(),
            actions=[a.to_dict() for a in spec.actions],
            enabled=enabled,
            version=1,
            seed_key=None,
            created_by=caller.user_id,
            updated_by=caller.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.rules.add(row)
        uow.audit("rule.created", "rule", row.id, _rule_details(row))
        await uow.commit()
    return row


async def update_rule(
    *,
    uow: NotificationUnitOfWork,
    caller: Caller,
    rule_id: str,
    expected_version: int,
    name: str,
    condition: str,
    actions: list[rules.Action],
) -> RuleRow:
    _require(caller, RULE_MANAGERS, "manage rules")
    async with uow:
        row = await uow.rules.get(rule_id)
        if row is None:
            raise RuleNotFound(f"rule {rule_id} not found")
        if expected_version and expected_version != row.version:
            raise Conflict(f"rule {rule_id} is at version {row.version}, not {expected_version}: reload and retry")
        spec = rules.RuleSpec(name=name or row.name, event_type=row.event_type, condition=condition, actions=actions)
        problems = rules.validate_rule(spec) or await _check_templates(uow, actions)
        if problems:
            raise _invalid(problems)
        before = _rule_details(row)
        row.name = spec.name.strip()
        row.condition = spec.condition.strip()
        row.actions = [a.to_dict() for a in spec.actions]
        row.version += 1
        row.updated_by = caller.user_id
        row.updated_at = utcnow()
        uow.audit("rule.updated", "rule", row.id, {"before": before, "after": _rule_details(row)})
        await uow.commit()
    return row


async def set_rule_enabled(*, uow: NotificationUnitOfWork, caller: Caller, rule_id: str, enabled: bool) -> RuleRow:
    _require(caller, RULE_MANAGERS, "manage rules")
    async with uow:
        row = await uow.rules.get(rule_id)
        if row is None:
            raise RuleNotFound(f"rule {rule_id} not found")
        if row.enabled != enabled:
            row.enabled = enabled
            row.version += 1
            row.updated_by = caller.user_id
            row.updated_at = utcnow()
            uow.audit("rule.enabled" if enabled else "rule.disabled", "rule", row.id, {"version": row.version})
            await uow.commit()
    return row


async def get_rule(*, uow: NotificationUnitOfWork, caller: Caller, rule_id: str) -> RuleRow:
    _require(caller, RULE_READERS, "read rules")
    async with uow:
        row = await uow.rules.get(rule_id)
    if row is None:
        raise RuleNotFound(f"rule {rule_id} not found")
    return row


async def list_rules(
    *, uow: NotificationUnitOfWork, caller: Caller, event_type: str = "", size: int = 0, token: str = ""
) -> tuple[list[RuleRow], str]:
    _require(caller, RULE_READERS, "read rules")
    limit = page_size(size)
    cursor = decode_cursor(token, 1)
    async with uow:
        rows = await uow.rules.page(event_type=event_type, limit=limit + 1, after=str(cursor[0]) if cursor else None)
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_cursor([rows[-1].id])
    return rows, next_token


def _rule_details(row: RuleRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "event_type": row.event_type,
        "condition": row.condition,
        "actions": row.actions,
        "enabled": row.enabled,
        "version": row.version,
    }


@dataclass(frozen=True)
class PlannedAction:
    kind: str
    template_code: str = ""
    rendered: str = ""
    recipient: str = ""
    error: str = ""


DIRECTORY_PLACEHOLDERS = {"customer_name": "〈客户姓名〉", "staff_name": "〈员工姓名〉"}


async def dry_run_rule(
    *,
    uow: NotificationUnitOfWork,
    caller: Caller,
    rule_id: str,
    draft: rules.RuleSpec | None,
    sample_json: str,
) -> tuple[bool, list[PlannedAction]]:
    """What a rule would do with a sample event; nothing is sent or stored."""
    _require(caller, RULE_READERS, "try rules")
    try:
        sample = json.loads(sample_json or "{}")
    except ValueError as exc:
        raise InvalidArgument.for_field("sample_json", f"is not JSON: {exc}") from None
    if not isinstance(sample, dict):
        raise InvalidArgument.for_field("sample_json", "must be a JSON object")
    async with uow:
        if rule_id:
            row = await uow.rules.get(rule_id)
            if row is None:
                raise RuleNotFound(f"rule {rule_id} not found")
            actions = [rules.Action.from_dict(a) for a in row.actions]
            spec = rules.RuleSpec(row.name, row.event_type, row.condition, actions)
        elif draft is not None:
            spec = draft
            problems = rules.validate_rule(spec)
            if problems:
                raise _invalid(problems)
        else:
            raise InvalidArgument.for_field("rule_id", "give a rule id or a draft rule")
        if not rules.matches(spec.condition, sample):
            return False, []
        variables = {**DIRECTORY_PLACEHOLDERS, **template_variables(sample)}
        planned: list[PlannedAction] = []
        for action in spec.actions:
            recipient = action.role_for(sample) if action.recipient == "role" else rules.recipient_of(action, sample)
            if action.kind in ("sms", "in_app"):
                template = await uow.templates.latest(action.template_code)
                if template is None:
                    planned.append(PlannedAction(action.kind, action.template_code, error="unknown template"))
                    continue
                try:
                    rendered = templates.render(template.body, variables)
                    error = "" if recipient else f"the event has no {action.field_name}"
                except templates.MissingVariables as exc:
                    rendered, error = "", str(exc)
                planned.append(PlannedAction(action.kind, action.template_code, rendered, recipient, error))
            elif action.kind == "field_task":
                planned.append(
                    PlannedAction(
                        action.kind,
                        rendered=f"{action.task_type} priority {action.priority}, due in {action.due_in_hours} h",
                        recipient=recipient,
                        error="" if recipient else f"the event has no {action.field_name}",
                    )
                )
            else:
                planned.append(PlannedAction(action.kind, rendered=action.event_type))
    return True, planned


# ------------------------------------------------------------------ event → rules → work


def template_variables(data: Mapping[str, Any]) -> dict[str, str]:
    """Event fields usable in templates: top-level scalars, then scalars of nested maps."""
    values: dict[str, str] = {}
    nested: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (str, int, float, bool)):
                    nested.setdefault(str(k), str(v))
        elif isinstance(value, (str, int, float, bool)):
            values[key] = str(value)
    return {**nested, **values}


@dataclass(frozen=True)
class IncomingEvent:
    id: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any] = field(default_factory=dict)


async def apply_rules(uow: NotificationUnitOfWork, event: IncomingEvent) -> int:
    """Turns one event into queued work for every enabled rule whose condition holds.

    Runs in the consumer's transaction; the unique keys make a second delivery a no-op.
    Returns the number of rules that matched.
    """
    matched = 0
    now = utcnow()
    for rule in await uow.rules.enabled_for(event.type):
        try:
            if not rules.matches(rule.condition, event.data):
                continue
        except expressions.ExpressionError:
            log.warning("rule %s has an invalid condition; skipped", rule.id)
            continue
        matched += 1
        for index, raw in enumerate(rule.actions):
            action = rules.Action.from_dict(raw)
            await _plan_action(uow, rule, index, action, event, now)
    return matched


async def _plan_action(
    uow: NotificationUnitOfWork, rule: RuleRow, index: int, action: rules.Action, event: IncomingEvent, now: datetime
) -> None:
    data = event.data
    branch_id = str(data.get("branch_id", "") or "")
    if action.kind == "publish":
        uow.record(
            action.event_type,
            event.subject,
            notification_pb2.RuleTriggered(
                rule_id=rule.id,
                rule_name=rule.name,
                source_event_id=event.id,
                source_event_type=event.type,
                source_subject=event.subject,
                data=template_variables(data),
            ),
        )
        return
    if action.kind == "field_task":
        assignee = rules.recipient_of(action, data)
        await uow.task_requests.add_once(
            {
                "id": new_id(),
                "dedupe_key": rules.dedupe_key(event.id, rule.id, index, assignee),
                "rule_id": rule.id,
                "event_id": event.id,
                "task_type": action.task_type,
                "party_id": str(data.get("party_id", "") or ""),
                "assignee_id": assignee,
                "branch_id": branch_id,
                "priority": action.priority,
                "due_at": event.time + timedelta(hours=action.due_in_hours),
                "status": "queued" if assignee and branch_id else "failed",
                "attempts": 0,
                "last_error": "" if assignee and branch_id else f"the event has no {action.field_name} or branch_id",
                "task_id": "",
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        return
    # sms / in_app: one message row per (event, rule, action, recipient).
    role = ""
    if action.recipient == "role":
        role = action.role_for(data)
        recipient = role and branch_id
        recipient_id = role
    else:
        recipient_id = rules.recipient_of(action, data)
        recipient = recipient_id
    template = await uow.templates.latest(action.template_code)
    error = ""
    if template is None:
        error = f"unknown template {action.template_code}"
    elif not recipient:
        error = f"the event has no {action.field_name if action.recipient != 'role' else 'role or branch_id'}"
    message_id = new_id()
    inserted = await uow.messages.add_once(
        {
            "id": message_id,
            "dedupe_key": rules.dedupe_key(event.id, rule.id, index, recipient_id),
            "rule_id": rule.id,
            "event_id": event.id,
            "event_type": event.type,
            "channel": action.kind,
            "recipient_kind": action.recipient,
            "recipient_id": recipient_id,
            "recipient_masked": recipient_id if action.kind == "in_app" else "",
            "branch_id": branch_id,
            "role": role,
            "category": template.category if template else "transactional",
            "template_code": action.template_code,
            "template_version": template.version if template else 0,
            "variables": template_variables(data),
            "title": template.title if template else "",
            "body": "",
            "status": "failed" if error else "queued",
            "hold_reason": "",
            "attempts": 0,
            "last_error": error,
            "gateway_message_id": "",
            "next_attempt_at": now,
            "held_until": None,
            "sent_at": None,
            "delivered_at": None,
            "created_at": now,
            "updated_at": now,
        }
    )
    if inserted and error:
        uow.audit(
            "message.failed", "message", message_id,
            _audit_details(
                status="failed", channel=action.kind, template_code=action.template_code,
                recipient_kind=action.recipient, recipient_id=recipient_id,
                recipient=recipient_id if action.kind == "in_app" else "", error=error,
            ),
        )


def _audit_details(**values: Any) -> dict[str, Any]:
    """What the audit log keeps of a message: ids, template, status; the phone only masked."""
    return {k: v for k, v in values.items() if v not in ("", None)}


# ------------------------------------------------------------------ reminders


REMINDER_KINDS_NEED_OPT_IN = ("birthday",)


@dataclass(frozen=True)
class NewReminder:
    kind: str
    subject_id: str
    due_at: datetime
    party_id: str = ""
    staff_id: str = ""
    branch_id: str = ""
    yearly: bool = False
    opted_in: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    # Empty: once per kind, subject and due day (or once for ever for a yearly reminder).
    dedupe_key: str = ""


def _check_reminder(new: NewReminder) -> None:
    problems: list[tuple[str, str]] = []
    if not new.kind or not new.kind.replace("_", "").isalpha() or not new.kind.islower():
        problems.append(("kind", "a lowercase word such as birthday or post_loan_check"))
    if not new.subject_id:
        problems.append(("subject_id", "is required"))
    if new.kind in REMINDER_KINDS_NEED_OPT_IN and not new.opted_in:
        problems.append(("opted_in", f"{new.kind} reminders need the customer's opt-in"))
    if problems:
        raise _invalid(problems)


async def schedule_reminder_in(uow: NotificationUnitOfWork, new: NewReminder) -> str:
    """Inside an open unit of work (event handlers); the same kind, subject and day once."""
    _check_reminder(new)
    key = new.dedupe_key or (
        f"{new.kind}:{new.subject_id}:{as_utc(new.due_at).date().isoformat() if not new.yearly else 'yearly'}"
    )
    reminder_id = new_id()
    inserted = await uow.reminders.add_once(
        {
            "id": reminder_id,
            "dedupe_key": key,
            "kind": new.kind,
            "subject_id": new.subject_id,
            "party_id": new.party_id,
            "staff_id": new.staff_id,
            "branch_id": new.branch_id,
            "due_at": as_utc(new.due_at),
            "yearly": new.yearly,
            "attributes": dict(new.attributes),
            "status": "scheduled",
            "fired_count": 0,
            "created_at": utcnow(),
        }
    )
    if not inserted:
        existing = await uow.reminders.by_key(key)
        return existing.id if existing else reminder_id
    return reminder_id


async def schedule_reminder(*, uow: NotificationUnitOfWork, caller: Caller, new: NewReminder) -> str:
    _require(caller, REMINDER_WRITERS, "schedule reminders")
    async with uow:
        reminder_id = await schedule_reminder_in(uow, new)
        uow.audit("reminder.scheduled", "reminder", reminder_id, {"kind": new.kind, "subject_id": new.subject_id})
        await uow.commit()
    return reminder_id


def _fire(uow: NotificationUnitOfWork, reminder: ReminderRow) -> None:
    uow.record(
        "notification.reminder.due",
        reminder.subject_id,
        notification_pb2.ReminderDue(
            reminder_id=reminder.id,
            kind=reminder.kind,
            subject_id=reminder.subject_id,
            party_id=reminder.party_id,
            staff_id=reminder.staff_id,
            branch_id=reminder.branch_id,
            due_at=_ts(reminder.due_at),
            attributes=dict(reminder.attributes or {}),
        ),
    )
    reminder.fired_count += 1
    if reminder.yearly:
        due = as_utc(reminder.due_at)
        with contextlib.suppress(ValueError):
            reminder.due_at = due.replace(year=due.year + 1)
        if as_utc(reminder.due_at) == due:  # 29 February
            reminder.due_at = due.replace(year=due.year + 1, day=28)
    else:
        reminder.status = "fired"


def _ts(value: datetime) -> Any:
    from services.common.timestamps import to_timestamp

    return to_timestamp(value)


# ------------------------------------------------------------------ delivery log, receipts, opt-outs


async def list_messages(
    *,
    uow: NotificationUnitOfWork,
    caller: Caller,
    filters: dict[str, str],
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    size: int = 0,
    token: str = "",
) -> tuple[list[MessageRow], str]:
    _require(caller, LOG_READERS, "read the delivery log")
    if filters.get("status") and filters["status"] not in MESSAGE_STATUSES:
        raise InvalidArgument.for_field("status", f"must be one of {', '.join(MESSAGE_STATUSES)}")
    limit = page_size(size)
    cursor = decode_cursor(token, 2)
    after = (as_utc(datetime.fromisoformat(cursor[0])), str(cursor[1])) if cursor else None
    branches = None if caller.has_role(*ALL_BRANCHES) else [caller.branch_id]
    async with uow:
        rows = await uow.messages.search(
            filters=filters, branch_ids=branches, created_from=created_from, created_to=created_to,
            limit=limit + 1, after=after,
        )
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_cursor([as_utc(rows[-1].created_at).isoformat(), rows[-1].id])
    return rows, next_token


async def get_message(*, uow: NotificationUnitOfWork, caller: Caller, message_id: str) -> MessageRow:
    _require(caller, LOG_READERS, "read the delivery log")
    async with uow:
        row = await uow.messages.get(message_id)
    if row is None or not (caller.has_role(*ALL_BRANCHES) or row.branch_id == caller.branch_id):
        raise MessageNotFound(f"message {message_id} not found")
    return row


async def record_receipt(
    *, uow: NotificationUnitOfWork, caller: Caller, gateway_message_id: str, status: str, error_code: str,
    reported_at: datetime | None,
) -> MessageRow:
    _require(caller, RECEIPT_WRITERS, "record delivery receipts")
    if status not in ("delivered", "failed"):
        raise InvalidArgument.for_field("status", "must be delivered or failed")
    if not gateway_message_id:
        raise InvalidArgument.for_field("gateway_message_id", "is required")
    async with uow:
        row = await uow.messages.by_gateway_id(gateway_message_id)
        if row is None:
            raise MessageNotFound(f"no message with gateway id {gateway_message_id}")
        if row.status not in ("sent", "delivered", "failed"):
            raise FailedPrecondition(f"message {row.id} is {row.status}, not sent")
        when = reported_at or utcnow()
        if status == "delivered":
            row.status = "delivered"
            row.delivered_at = when
        elif row.status != "delivered":
            row.status = "failed"
            row.last_error = f"gateway receipt: {error_code or 'undelivered'}"
        row.updated_at = utcnow()
        uow.audit("message.receipt", "message", row.id, {"status": status, "error_code": error_code})
        await uow.commit()
    return row


async def record_opt_out(
    *, uow: NotificationUnitOfWork, caller: Caller, party_id: str, channel: str, source: str
) -> OptOutRow:
    _require(caller, OPT_OUT_WRITERS, "record opt-outs")
    if not party_id:
        raise InvalidArgument.for_field("party_id", "is required")
    async with uow:
        row = await uow.opt_outs.get(party_id)
        if row is None:
            row = OptOutRow(
                party_id=party_id,
                channel=channel or "sms",
                source=source or "manual",
                recorded_by=caller.user_id,
                opted_out_at=utcnow(),
            )
            uow.opt_outs.add(row)
            uow.audit("party.opted_out", "party", party_id, {"channel": row.channel, "source": row.source})
            await uow.commit()
    return row


# ------------------------------------------------------------------ the dispatcher


@dataclass(frozen=True)
class DispatchConfig:
    quiet_hours: QuietHours
    limits: Limits = field(default_factory=Limits)
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    interval_seconds: float = 1.0
    batch: int = 50
    lease_seconds: float = 120.0


@dataclass
class Outcome:
    status: str
    channel: str = ""
    hold_reason: str = ""
    held_until: datetime | None = None
    last_error: str = ""
    gateway_message_id: str = ""
    title: str = ""
    body: str = ""
    recipient_masked: str = ""
    attempted: bool = False
    next_attempt_at: datetime | None = None
    notify: list[str] = field(default_factory=list)
    fan_out: list[str] = field(default_factory=list)


@dataclass
class DispatchReport:
    released: int = 0
    reminders: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Sends what the rules queued: SMS, in-app messages, field tasks; fires reminders."""

    def __init__(
        self,
        *,
        uow: Callable[[], NotificationUnitOfWork],
        directory: Directory,
        field_tasks: FieldTasks,
        sms: SmsConnector,
        config: DispatchConfig,
        clock: Callable[[], datetime] = utcnow,
        caller: Callable[[], Caller] | None = None,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._field_tasks = field_tasks
        self._sms = sms
        self._config = config
        self._clock = clock
        # The identity the dispatcher's changes are audited under (the service's own).
        self._caller = caller

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._config.interval_seconds)
            if stop.is_set():
                return
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("notification dispatch failed; retrying next round")

    async def dispatch_once(self, now: datetime | None = None) -> DispatchReport:
        with acting_as(self._caller() if self._caller else None):
            return await self._dispatch_once(now or self._clock())

    async def _dispatch_once(self, now: datetime) -> DispatchReport:
        report = DispatchReport()
        lease = now + timedelta(seconds=self._config.lease_seconds)
        async with self._uow() as uow:
            released = await uow.messages.release_held(now)
            for row in released:
                uow.audit(
                    "message.released", "message", row.id,
                    _audit_details(
                        status="queued", channel=row.channel, template_code=row.template_code,
                        recipient_kind=row.recipient_kind, recipient_id=row.recipient_id,
                        recipient=row.recipient_masked, hold_reason=row.hold_reason,
                    ),
                )
            report.released = len(released)
            due = await uow.reminders.due(now, self._config.batch)
            for reminder in due:
                _fire(uow, reminder)
            report.reminders = len(due)
            message_ids = await uow.messages.claim_due(now, lease, self._config.batch)
            task_ids = await uow.task_requests.claim_due(now, lease, self._config.batch)
            await uow.commit()
        for message_id in message_ids:
            status = await self._process_message(message_id, now)
            report.messages[status] = report.messages.get(status, 0) + 1
        for request_id in task_ids:
            status = await self._process_task(request_id, now)
            report.tasks[status] = report.tasks.get(status, 0) + 1
        return report

    # -- messages

    async def _process_message(self, message_id: str, now: datetime) -> str:
        async with self._uow() as uow:
            message = await uow.messages.get(message_id)
            if message is None or message.status != "queued":
                return "skipped"
            template = await uow.templates.version(message.template_code, message.template_version)
            opted_out = message.category == "marketing" and await uow.opt_outs.get(message.recipient_id) is not None
            sent_before = await uow.messages.sent_times(
                message.recipient_id, message.template_code, now - timedelta(days=1)
            )
        try:
            if template is None:
                gone = f"template {message.template_code} v{message.template_version} is gone"
                outcome = Outcome("failed", last_error=gone)
            elif message.channel == "in_app":
                outcome = await self._in_app(message, template)
            elif message.recipient_kind == "role":
                outcome = await self._fan_out(message)
            else:
                outcome = await self._sms_outcome(message, template, opted_out, sent_before, now)
        except TransientError as exc:
            outcome = self._retry(message, str(exc), now)
        except PermanentError as exc:
            outcome = Outcome("failed", last_error=str(exc), attempted=True)
        return await self._record(message_id, outcome, now)

    async def _in_app(self, message: MessageRow, template: TemplateRow) -> Outcome:
        try:
            title = templates.render(template.title, message.variables)
            body = templates.render(template.body, message.variables)
        except templates.MissingVariables as exc:
            return Outcome("failed", last_error=str(exc))
        if message.recipient_kind == "role":
            recipients = await self._directory.staff_with_role(message.branch_id, message.role)
        else:
            recipients = [message.recipient_id]
        masked = message.recipient_id if message.recipient_kind == "user" else f"{message.role}@{message.branch_id}"
        return Outcome("sent", channel="in_app", title=title, body=body, notify=recipients, recipient_masked=masked)

    async def _fan_out(self, message: MessageRow) -> Outcome:
        """An SMS to a role becomes one message per staff member, each with its own protections."""
        staff = await self._directory.staff_with_role(message.branch_id, message.role)
        where = f"{message.role}@{message.branch_id}"
        if not staff:
            return Outcome("failed", last_error=f"no staff with role {where}", recipient_masked=where)
        return Outcome("expanded", recipient_masked=where, fan_out=sorted(set(staff)))

    async def _sms_outcome(
        self, message: MessageRow, template: TemplateRow, opted_out: bool, sent_before: list[datetime], now: datetime
    ) -> Outcome:
        customer = message.recipient_kind == "customer"
        if customer:
            contact = await self._directory.party_contact(message.recipient_id)
        else:
            contact = await self._directory.staff_contact(message.recipient_id)
        variables = dict(message.variables)
        variables.setdefault("customer_name" if customer else "staff_name", contact.name)
        masked = mask_phone(contact.phone_e164) if contact.phone_e164 else ""
        try:
            body = templates.render(template.body, variables)
        except templates.MissingVariables as exc:
            # Never a blank in a customer's message: the error is the message's outcome.
            return Outcome("failed", last_error=str(exc), recipient_masked=masked)
        if not contact.phone_e164:
            return Outcome("failed", last_error="no mobile number on record", body=body)
        if message.category == "marketing":
            if opted_out:
                return Outcome("suppressed", hold_reason="opt_out", body=body, recipient_masked=masked)
            purpose = consent_purpose(message.event_type, message.variables)
            if not customer or not await self._directory.has_consent(message.recipient_id, purpose):
                return Outcome("suppressed", hold_reason="no_consent", body=body, recipient_masked=masked)
        if customer:
            release = self._config.quiet_hours.release_at(now)
            if release is not None:
                return Outcome(
                    "held", hold_reason="quiet_hours", held_until=release, body=body, recipient_masked=masked
                )
        free_at = rate_limited_until([as_utc(t) for t in sent_before], now, self._config.limits)
        if free_at is not None:
            return Outcome("held", hold_reason="rate_limit", held_until=free_at, body=body, recipient_masked=masked)
        params = {name: variables[name] for name in templates.variables(template.body)}
        request = SmsRequest(
            message_id=message.id,
            phone_e164=contact.phone_e164,
            sign_name=template.sms_sign_name,
            template_code=template.sms_template_code,
            params=params,
            text=f"【{template.sms_sign_name}】{body}",
        )
        try:
            result = await self._sms.send(request)
        except TransientError as exc:
            outcome = self._retry(message, str(exc), now)
            outcome.body, outcome.recipient_masked = body, masked
            return outcome
        except PermanentError as exc:
            return Outcome("failed", last_error=str(exc), body=body, recipient_masked=masked, attempted=True,
                           channel=self._sms.channel)
        return Outcome(
            "sent", channel=self._sms.channel, gateway_message_id=result.gateway_message_id, body=body,
            recipient_masked=masked, attempted=True,
        )

    def _retry(self, message: MessageRow, error: str, now: datetime) -> Outcome:
        attempts = message.attempts + 1
        if attempts >= self._config.max_attempts:
            return Outcome("failed", last_error=f"gave up after {attempts} attempts: {error}", attempted=True)
        return Outcome(
            "queued", last_error=error, attempted=True,
            next_attempt_at=now + retry_delay(attempts, self._config.retry_base_seconds),
        )

    async def _record(self, message_id: str, outcome: Outcome, now: datetime) -> str:
        async with self._uow() as uow:
            row = await uow.messages.get(message_id)
            if row is None or row.status != "queued":
                return "skipped"
            row.status = outcome.status
            row.updated_at = now
            if outcome.attempted:
                row.attempts += 1
            if outcome.channel:
                row.channel = "in_app" if outcome.channel == "in_app" else outcome.channel
            if outcome.body:
                row.body = outcome.body
            if outcome.recipient_masked:
                row.recipient_masked = outcome.recipient_masked
            row.hold_reason = outcome.hold_reason
            row.held_until = outcome.held_until
            row.next_attempt_at = outcome.next_attempt_at
            if outcome.status == "sent":
                row.sent_at = now
                row.gateway_message_id = outcome.gateway_message_id
                row.last_error = ""
                for recipient in outcome.notify:
                    await uow.notifications.add_once(
                        {
                            "id": new_id(),
                            "recipient_id": recipient,
                            "title": outcome.title or row.title,
                            "body": outcome.body,
                            "source_event_id": row.event_id,
                            "source_event_type": row.event_type,
                            "created_at": now,
                            "read_at": None,
                        }
                    )
            else:
                row.last_error = outcome.last_error
            for staff_id in outcome.fan_out:
                await uow.messages.add_once(_one_of(row, staff_id, now))
            uow.audit(
                f"message.{_AUDIT_VERBS.get(outcome.status, outcome.status)}", "message", row.id,
                _audit_details(
                    status=row.status, channel=row.channel, template_code=row.template_code,
                    recipient_kind=row.recipient_kind, recipient_id=row.recipient_id,
                    recipient=row.recipient_masked, hold_reason=row.hold_reason,
                    held_until=row.held_until.isoformat() if row.held_until else "",
                    attempts=row.attempts, error=row.last_error, gateway_message_id=row.gateway_message_id,
                    staff=len(outcome.fan_out) or None,
                ),
            )
            if outcome.status == "failed":
                uow.record(
                    "notification.message.failed",
                    row.id,
                    notification_pb2.MessageFailed(
                        message_id=row.id, rule_id=row.rule_id, template_code=row.template_code,
                        recipient_kind=row.recipient_kind, recipient_id=row.recipient_id, error=row.last_error,
                    ),
                )
            await uow.commit()
        return outcome.status

    # -- field tasks

    async def _process_task(self, request_id: str, now: datetime) -> str:
        async with self._uow() as uow:
            request = await uow.task_requests.get(request_id)
            if request is None or request.status != "queued":
                return "skipped"
        order = FieldTaskOrder(
            request_id=request.id,
            task_type=request.task_type,
            party_id=request.party_id,
            assignee_id=request.assignee_id,
            branch_id=request.branch_id,
            priority=request.priority,
            due_at=as_utc(request.due_at),
            origin=f"rule:{request.rule_id}",
        )
        task_id, status, error, next_at = "", "created", "", None
        try:
            task_id = await self._field_tasks.create(order)
        except TransientError as exc:
            attempts = request.attempts + 1
            if attempts >= self._config.max_attempts:
                status, error = "failed", f"gave up after {attempts} attempts: {exc}"
            else:
                status, error = "queued", str(exc)
                next_at = now + retry_delay(attempts, self._config.retry_base_seconds)
        except PermanentError as exc:
            status, error = "failed", str(exc)
        async with self._uow() as uow:
            row = await uow.task_requests.get(request_id)
            if row is None or row.status != "queued":
                return "skipped"
            row.status, row.last_error, row.next_attempt_at = status, error, next_at
            row.attempts += 1
            row.task_id = task_id
            row.updated_at = now
            await uow.commit()
        return status


# A message that goes back to "queued" after a transient failure is a retry.
_AUDIT_VERBS = {"queued": "retry_scheduled"}


def _one_of(parent: MessageRow, staff_id: str, now: datetime) -> dict[str, Any]:
    """The message of one staff member out of an SMS to a role."""
    return {
        "id": new_id(),
        "dedupe_key": f"{parent.dedupe_key}:{staff_id}",
        "rule_id": parent.rule_id,
        "event_id": parent.event_id,
        "event_type": parent.event_type,
        "channel": "sms",
        "recipient_kind": "staff",
        "recipient_id": staff_id,
        "recipient_masked": "",
        "branch_id": parent.branch_id,
        "role": parent.role,
        "category": parent.category,
        "template_code": parent.template_code,
        "template_version": parent.template_version,
        "variables": dict(parent.variables),
        "title": parent.title,
        "body": "",
        "status": "queued",
        "hold_reason": "",
        "attempts": 0,
        "last_error": "",
        "gateway_message_id": "",
        "next_attempt_at": now,
        "held_until": None,
        "sent_at": None,
        "delivered_at": None,
        "created_at": now,
        "updated_at": now,
    }


# ------------------------------------------------------------------ birthday greetings


async def schedule_birthday_greetings(
    *, uow: NotificationUnitOfWork, caller: Caller, parties: list[BirthdayParty], year: int, due_at: datetime
) -> int:
    """One greeting reminder per party and year, however often the job runs; returns the new ones."""
    _require(caller, ("system",), "schedule birthday greetings")
    created = 0
    async with uow:
        for party in parties:
            key = f"birthday:{party.party_id}:{year}"
            if await uow.reminders.by_key(key) is not None:
                continue
            reminder_id = await schedule_reminder_in(
                uow,
                NewReminder(
                    kind="birthday",
                    subject_id=party.party_id,
                    party_id=party.party_id,
                    staff_id=party.managing_officer_id,
                    branch_id=party.branch_id,
                    due_at=due_at,
                    opted_in=True,  # the customer service lists only parties with the consent
                    dedupe_key=key,
                ),
            )
            uow.audit("reminder.scheduled", "reminder", reminder_id, {"kind": "birthday", "party_id": party.party_id,
                                                                       "year": year})
            created += 1
        await uow.commit()
    return created


class BirthdayGreetings:
    """The daily job: today's birthdays (with consent) from the customer service become reminders.

    Reminders are due at ``send_at`` local time and fired by the dispatcher like any other; the
    seeded birthday rule turns them into the greeting SMS. One replica runs it (leader lock).
    """

    def __init__(
        self,
        *,
        uow: Callable[[], NotificationUnitOfWork],
        directory: Directory,
        zone: ZoneInfo,
        send_at: time = time(9, 0),
        leader: LeaderLock | None = None,
        interval_seconds: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
        caller: Callable[[], Caller] | None = None,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._zone = zone
        self._send_at = send_at
        self._leader = leader
        self._interval = interval_seconds
        self._clock = clock
        self._caller = caller

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("birthday greetings failed; retrying next round")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval)
        finally:
            if self._leader is not None:
                await self._leader.release()

    async def tick(self, now: datetime | None = None) -> int | None:
        """Schedules today's greetings if this replica leads; None when another one does."""
        if self._leader is not None and not await self._leader.is_leader():
            return None
        return await self.run_once(now)

    async def run_once(self, now: datetime | None = None) -> int:
        today = (now or self._clock()).astimezone(self._zone).date()
        parties: list[BirthdayParty] = []
        for month, day in birthdays_on(today):
            parties.extend(await self._directory.birthday_parties(month, day))
        if not parties:
            return 0
        due_at = datetime.combine(today, self._send_at, tzinfo=self._zone)
        caller = self._caller() if self._caller else None
        if caller is None:
            raise PermissionDenied("the birthday job runs as the service's own identity")
        with acting_as(caller):
            return await schedule_birthday_greetings(
                uow=self._uow(), caller=caller, parties=parties, year=today.year, due_at=due_at
            )


def parse_variables(raw: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()}


def as_field_task_request(row: FieldTaskRequestRow) -> dict[str, Any]:
    return {"id": row.id, "status": row.status, "task_id": row.task_id, "error": row.last_error}
