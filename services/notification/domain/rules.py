"""Event-condition-action rules: when event X, if a condition over its data, then actions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.notification.domain import expressions

# The events the service listens to (one durable consumer each). A rule on any other type
# would never fire, so it is refused.
SUPPORTED_EVENT_TYPES: tuple[str, ...] = (
    "credit.loan.overdue",
    "credit.loan.due_soon",
    "credit.loan.disbursed",
    "credit.application.submitted",
    "credit.application.approved",
    "credit.application.rejected",
    "credit.application.returned",
    "credit.application.withdrawn",
    "customer.party.created",
    "customer.lead.assigned",
    "customer.tier.changed",
    "fieldtask.task.completed",
    "fieldtask.task.expired",
    "process.task.created",
    "process.task.reminded",
    "process.task.escalated",
    "process.incident.raised",
    "notification.reminder.due",
)

ACTION_KINDS = ("sms", "in_app", "field_task", "publish")
# "role": every staff member with the role in the event's branch gets their own SMS.
SMS_RECIPIENTS = ("customer", "staff", "role")
IN_APP_RECIPIENTS = ("user", "role")
TASK_TYPES = (
    "PRE_LOAN_SURVEY",
    "POST_LOAN_CHECK",
    "OVERDUE_FOLLOW_UP",
    "VISIT",
    "COLLATERAL_VERIFICATION",
    "VILLAGE_SURVEY",
)
DEFAULT_FIELDS = {"customer": "party_id", "staff": "managing_officer_id", "user": "assignee_id", "role": "branch_id"}
MAX_ACTIONS = 10
_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
_DERIVED = re.compile(r"notification\.[a-z_]+\.[a-z_]+")


@dataclass(frozen=True)
class Action:
    kind: str
    template_code: str = ""
    recipient: str = ""
    recipient_field: str = ""
    role: str = ""
    task_type: str = ""
    priority: int = 0
    due_in_hours: int = 0
    event_type: str = ""

    @property
    def field_name(self) -> str:
        if self.kind == "field_task":
            return self.recipient_field or "managing_officer_id"
        return self.recipient_field or DEFAULT_FIELDS.get(self.recipient, "")

    def role_for(self, data: dict[str, Any]) -> str:
        """A literal role, or ``@field`` for the role named by an event field (candidate_role)."""
        if self.role.startswith("@"):
            value = data.get(self.role[1:], "")
            return str(value) if value else ""
        return self.role

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Action:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class RuleSpec:
    name: str
    event_type: str
    condition: str
    actions: list[Action] = field(default_factory=list)


def validate_rule(spec: RuleSpec) -> list[tuple[str, str]]:
    """(field, problem) pairs for everything wrong with a rule; empty when it may be stored."""
    problems: list[tuple[str, str]] = []
    if not spec.name.strip() or len(spec.name) > 200:
        problems.append(("name", "is required (at most 200 characters)"))
    if spec.event_type not in SUPPORTED_EVENT_TYPES:
        problems.append(("event_type", "is not an event the notification service listens to"))
    try:
        expressions.parse(spec.condition)
    except expressions.ExpressionError as exc:
        problems.append(("condition", str(exc)))
    if not spec.actions:
        problems.append(("actions", "at least one action is required"))
    if len(spec.actions) > MAX_ACTIONS:
        problems.append(("actions", f"at most {MAX_ACTIONS} actions"))
    for i, action in enumerate(spec.actions):
        problems.extend((f"actions[{i}].{f}", p) for f, p in _validate_action(action))
    return problems


def _validate_action(action: Action) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if action.kind not in ACTION_KINDS:
        return [("kind", f"must be one of {', '.join(ACTION_KINDS)}")]
    if action.recipient_field and not _FIELD.fullmatch(action.recipient_field):
        problems.append(("recipient_field", "must be an event field name"))
    if action.kind in ("sms", "in_app") and not action.template_code.strip():
        problems.append(("template_code", "is required"))
    if action.kind == "sms" and action.recipient not in SMS_RECIPIENTS:
        problems.append(("recipient", f"must be one of {', '.join(SMS_RECIPIENTS)}"))
    elif action.kind == "sms" and action.recipient == "role" and not action.role.strip():
        problems.append(("role", "is required for SMS to a role"))
    if action.kind == "in_app":
        if action.recipient not in IN_APP_RECIPIENTS:
            problems.append(("recipient", f"must be one of {', '.join(IN_APP_RECIPIENTS)}"))
        elif action.recipient == "role" and not action.role.strip():
            problems.append(("role", "is required for in-app messages to a role"))
    if action.kind == "field_task":
        if action.task_type not in TASK_TYPES:
            problems.append(("task_type", f"must be one of {', '.join(TASK_TYPES)}"))
        if not 1 <= action.priority <= 5:
            problems.append(("priority", "must be between 1 (highest) and 5"))
        if not 1 <= action.due_in_hours <= 24 * 90:
            problems.append(("due_in_hours", "must be between 1 and 2160 hours"))
    if action.kind == "publish" and not _DERIVED.fullmatch(action.event_type):
        problems.append(("event_type", "a derived event is named notification.<entity>.<verb>"))
    return problems


def matches(condition: str, data: dict[str, Any]) -> bool:
    return expressions.evaluate(condition, data)


def recipient_of(action: Action, data: dict[str, Any]) -> str:
    """The id the action addresses (party, staff, user or branch), from the event's data."""
    value = data.get(action.field_name, "")
    return str(value) if value not in (None, "") else ""


def dedupe_key(event_id: str, rule_id: str, action_index: int, recipient: str) -> str:
    """One message per (event, rule, action, recipient), however often the event arrives."""
    return f"{event_id}:{rule_id}:{action_index}:{recipient}"
