"""Field task rules: what a new task needs and the state it starts in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.common.errors import FailedPrecondition, InvalidArgument

MIN_PRIORITY = 1
MAX_PRIORITY = 5
# 0 is what proto3 sends when the field is left out, so it means "normal".
DEFAULT_PRIORITY = 3
DEFAULT_ORIGIN = "manual"
MAX_ORIGIN_LENGTH = 120
MAX_ID_LENGTH = 80


class TaskType(StrEnum):
    PRE_LOAN_SURVEY = "pre_loan_survey"
    POST_LOAN_CHECK = "post_loan_check"
    OVERDUE_FOLLOW_UP = "overdue_follow_up"
    VISIT = "visit"
    COLLATERAL_VERIFICATION = "collateral_verification"
    VILLAGE_SURVEY = "village_survey"


class TaskStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    CHECKED_IN = "checked_in"
    SUBMITTED = "submitted"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class TaskPlan:
    """A validated new task, before it gets an id and a branch."""

    task_type: TaskType
    status: TaskStatus
    party_id: str
    assignee_id: str
    priority: int
    due_at: datetime
    origin: str


def check_priority(priority: int) -> int:
    if priority == 0:
        return DEFAULT_PRIORITY
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidArgument.for_field(
            "priority",
            f"must be between {MIN_PRIORITY} (highest) and {MAX_PRIORITY} (lowest), or 0 for {DEFAULT_PRIORITY}",
        )
    return priority


def check_due_at(due_at: datetime | None, now: datetime) -> datetime:
    if due_at is None:
        raise InvalidArgument.for_field("due_at", "is required")
    if due_at.tzinfo is None:
        # A naive time would be read in whatever zone the server runs in.
        raise InvalidArgument.for_field("due_at", "must carry a time zone")
    if due_at <= now:
        raise InvalidArgument.for_field("due_at", f"must be in the future (after {now.isoformat()})")
    return due_at


def _check_id(field: str, value: str) -> str:
    cleaned = value.strip()
    if len(cleaned) > MAX_ID_LENGTH:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_ID_LENGTH} characters")
    return cleaned


def plan_task(
    *,
    task_type: TaskType | None,
    party_id: str,
    assignee_id: str,
    priority: int,
    due_at: datetime | None,
    origin: str,
    now: datetime,
) -> TaskPlan:
    """Validates a new task; it starts assigned when someone is named, else new."""
    if task_type is None:
        raise InvalidArgument.for_field("task_type", "must be one of " + ", ".join(t.value for t in TaskType))
    assignee = _check_id("assignee_id", assignee_id)
    checked_origin = origin.strip() or DEFAULT_ORIGIN
    if len(checked_origin) > MAX_ORIGIN_LENGTH:
        raise InvalidArgument.for_field("origin", f"must be at most {MAX_ORIGIN_LENGTH} characters")
    return TaskPlan(
        task_type=task_type,
        status=TaskStatus.ASSIGNED if assignee else TaskStatus.NEW,
        party_id=_check_id("party_id", party_id),
        assignee_id=assignee,
        priority=check_priority(priority),
        due_at=check_due_at(due_at, now),
        origin=checked_origin,
    )


class TaskStateConflict(FailedPrecondition):
    """The task is not in a state that allows the action (cancelled, reassigned, finished...)."""

    reason = "FIELD_TASK_STATE_CONFLICT"


class NotTheAssignee(FailedPrecondition):
    """Only the officer a task is assigned to may work on it (the task was reassigned)."""

    reason = "FIELD_TASK_NOT_ASSIGNEE"


OPEN_STATUSES = frozenset({TaskStatus.NEW, TaskStatus.ASSIGNED, TaskStatus.ACCEPTED, TaskStatus.CHECKED_IN})
WORKING_STATUSES = frozenset({TaskStatus.ASSIGNED, TaskStatus.ACCEPTED, TaskStatus.CHECKED_IN})

# action -> (statuses it may start from, resulting status or None for "unchanged")
_TRANSITIONS: dict[str, tuple[frozenset[TaskStatus], TaskStatus | None]] = {
    "assign": (frozenset(OPEN_STATUSES), TaskStatus.ASSIGNED),
    "accept": (frozenset({TaskStatus.ASSIGNED}), TaskStatus.ACCEPTED),
    "check_in": (WORKING_STATUSES, TaskStatus.CHECKED_IN),
    "check_out": (frozenset({TaskStatus.CHECKED_IN, TaskStatus.SUBMITTED}), None),
    "save_form": (WORKING_STATUSES, None),
    "add_evidence": (WORKING_STATUSES, None),
    "sign": (frozenset({TaskStatus.CHECKED_IN}), None),
    "submit": (frozenset({TaskStatus.CHECKED_IN}), TaskStatus.SUBMITTED),
    "complete": (frozenset({TaskStatus.SUBMITTED}), TaskStatus.DONE),
    "return": (frozenset({TaskStatus.SUBMITTED}), TaskStatus.CHECKED_IN),
    "cancel": (frozenset({*OPEN_STATUSES, TaskStatus.SUBMITTED}), TaskStatus.CANCELLED),
    "expire": (frozenset(OPEN_STATUSES), TaskStatus.EXPIRED),
}
ACTIONS = tuple(_TRANSITIONS)


def transition(status: TaskStatus, action: str) -> TaskStatus:
    """The status after ``action``, or TaskStateConflict when the task's state forbids it."""
    allowed, target = _TRANSITIONS[action]
    if status not in allowed:
        raise TaskStateConflict(
            f"cannot {action.replace('_', ' ')} a task that is {status.value}",
            metadata={"status": status.value},
        )
    return target or status


def check_reason(reason: str, *, field: str = "reason") -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise InvalidArgument.for_field(field, "is required")
    if len(cleaned) > 500:
        raise InvalidArgument.for_field(field, "must be at most 500 characters")
    return cleaned
