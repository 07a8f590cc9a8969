"""New field task rules and who may see a task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.common.identity import Caller
from services.fieldtask.domain.task import TaskStatus, TaskType, plan_task
from services.fieldtask.models import FieldTaskRow
from services.fieldtask.service import _may_see

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def plan(**overrides: Any) -> Any:
    args: dict[str, Any] = {
        "task_type": TaskType.PRE_LOAN_SURVEY,
        "party_id": "party-1",
        "assignee_id": "",
        "priority": 0,
        "due_at": NOW + timedelta(days=2),
        "origin": "",
        "now": NOW,
    }
    args.update(overrides)
    return plan_task(**args)


def violation(**overrides: Any) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as info:
        plan(**overrides)
    [v] = info.value.violations
    return v.field, v.description


def test_defaults() -> None:
    task = plan()
    assert task.status is TaskStatus.NEW
    assert task.priority == 3
    assert task.origin == "manual"
    assert task.party_id == "party-1"


def test_a_named_assignee_makes_it_assigned() -> None:
    task = plan(assignee_id=" officer-7 ", origin="proc:credit-42", priority=1)
    assert task.status is TaskStatus.ASSIGNED
    assert task.assignee_id == "officer-7"
    assert task.origin == "proc:credit-42"
    assert task.priority == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"task_type": None}, "task_type", "pre_loan_survey"),
        ({"priority": 6}, "priority", "between 1 (highest) and 5 (lowest)"),
        ({"due_at": None}, "due_at", "required"),
        ({"due_at": NOW}, "due_at", "in the future"),
        ({"due_at": NOW - timedelta(minutes=1)}, "due_at", "in the future"),
        ({"due_at": datetime(2030, 1, 1)}, "due_at", "time zone"),
        ({"origin": "x" * 121}, "origin", "120"),
        ({"party_id": "p" * 81}, "party_id", "80"),
        ({"assignee_id": "a" * 81}, "assignee_id", "80"),
    ],
)
def test_broken_rules_name_their_field(overrides: dict[str, Any], field: str, fragment: str) -> None:
    got_field, description = violation(**overrides)
    assert got_field == field
    assert fragment in description


@pytest.mark.parametrize("priority", [1, 2, 3, 4, 5])
def test_priorities_in_range_are_kept(priority: int) -> None:
    assert plan(priority=priority).priority == priority


def row(branch_id: str, assignee_id: str = "", created_by: str = "u7") -> FieldTaskRow:
    return FieldTaskRow(id="t1", branch_id=branch_id, assignee_id=assignee_id, created_by=created_by)


def staff(*roles: str, branch: str = "b1", user: str = "u1") -> Caller:
    return Caller(user_id=user, username=user, roles=frozenset(roles), branch_id=branch)


@pytest.mark.parametrize(
    ("caller", "task", "visible"),
    [
        # Officers see their own tasks (assigned to or created by them), not their colleagues'.
        (staff("officer"), row("b1"), False),
        (staff("officer"), row("b1", assignee_id="u2"), False),
        (staff("officer"), row("b1", created_by="u1"), True),
        (staff("officer"), row("b2"), False),
        (staff("officer"), row("b2", assignee_id="u1"), True),
        (staff("officer", user=""), row("b2"), False),
        (staff("supervisor"), row("b2", assignee_id="u9"), False),
        # Managers see their branch's.
        (staff("supervisor"), row("b1", assignee_id="u9"), True),
        (staff("president"), row("b1"), True),
        (staff("admin"), row("b2"), True),
        (staff("auditor"), row("b2"), True),
        (staff("system", branch=""), row("b2"), True),
    ],
)
def test_branch_scope(caller: Caller, task: FieldTaskRow, visible: bool) -> None:
    assert _may_see(caller, task) is visible
