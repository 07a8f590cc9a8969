"""Field task use cases: one function per command or query, one commit per command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from granary.v1 import fieldtask_pb2

from services.common.clock import new_id, utcnow
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.identity import Caller
from services.common.uow import UnitOfWork
from services.fieldtask.domain.task import TaskStatus, TaskType, plan_task
from services.fieldtask.models import FieldTaskRow
from services.fieldtask.repository import FieldTaskRepository

# Roles that see every branch's tasks; everyone else sees their own branch's tasks and the
# tasks assigned to them.
ALL_BRANCHES_ROLES = ("admin", "auditor", "system")
TASK_WRITERS = ("officer", "supervisor", "president", "admin", "system")
OTHER_BRANCH_WRITERS = ("admin", "system")


class FieldTaskUnitOfWork(UnitOfWork):
    @property
    def tasks(self) -> FieldTaskRepository:
        return FieldTaskRepository(self.session)


class FieldTaskNotFound(NotFound):
    reason = "FIELD_TASK_NOT_FOUND"


@dataclass(frozen=True)
class NewFieldTask:
    task_type: TaskType | None
    due_at: datetime | None
    party_id: str = ""
    assignee_id: str = ""
    branch_id: str = ""
    priority: int = 0
    origin: str = ""


def _may_see(caller: Caller, task: FieldTaskRow) -> bool:
    return (
        caller.has_role(*ALL_BRANCHES_ROLES)
        or task.branch_id == caller.branch_id
        or (bool(task.assignee_id) and task.assignee_id == caller.user_id)
    )


async def create_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, new: NewFieldTask) -> FieldTaskRow:
    if not caller.has_role(*TASK_WRITERS):
        raise PermissionDenied("your roles may not create field tasks")
    now = utcnow()
    plan = plan_task(
        task_type=new.task_type,
        party_id=new.party_id,
        assignee_id=new.assignee_id,
        priority=new.priority,
        due_at=new.due_at,
        origin=new.origin,
        now=now,
    )
    branch_id = new.branch_id.strip() or caller.branch_id
    if branch_id != caller.branch_id and not caller.has_role(*OTHER_BRANCH_WRITERS):
        raise PermissionDenied("you may only create field tasks in your own branch")
    if not branch_id:
        raise InvalidArgument.for_field("branch_id", "is required")
    async with uow:
        task = FieldTaskRow(
            id=new_id(),
            task_type=plan.task_type.value,
            status=plan.status.value,
            party_id=plan.party_id,
            assignee_id=plan.assignee_id,
            branch_id=branch_id,
            priority=plan.priority,
            due_at=plan.due_at,
            origin=plan.origin,
            created_by=caller.user_id,
            created_at=now,
        )
        uow.tasks.add(task)
        uow.record(
            "fieldtask.task.created",
            task.id,
            fieldtask_pb2.FieldTaskCreated(
                task_id=task.id,
                task_type=TYPE_TO_PROTO[plan.task_type],
                party_id=task.party_id,
                assignee_id=task.assignee_id,
                branch_id=task.branch_id,
                origin=task.origin,
            ),
        )
        await uow.commit()
    return task


async def get_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> FieldTaskRow:
    async with uow:
        task = await uow.tasks.get(task_id)
    # Out of scope looks exactly like absent: existence is itself information.
    if task is None or not _may_see(caller, task):
        raise FieldTaskNotFound(f"field task {task_id} not found")
    return task


TYPE_TO_PROTO = {
    TaskType.PRE_LOAN_SURVEY: fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
    TaskType.POST_LOAN_CHECK: fieldtask_pb2.FIELD_TASK_TYPE_POST_LOAN_CHECK,
    TaskType.OVERDUE_FOLLOW_UP: fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP,
    TaskType.VISIT: fieldtask_pb2.FIELD_TASK_TYPE_VISIT,
    TaskType.COLLATERAL_VERIFICATION: fieldtask_pb2.FIELD_TASK_TYPE_COLLATERAL_VERIFICATION,
    TaskType.VILLAGE_SURVEY: fieldtask_pb2.FIELD_TASK_TYPE_VILLAGE_SURVEY,
}
TYPE_FROM_PROTO = {v: k for k, v in TYPE_TO_PROTO.items()}
STATUS_TO_PROTO = {
    TaskStatus.NEW: fieldtask_pb2.FIELD_TASK_STATUS_NEW,
    TaskStatus.ASSIGNED: fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED,
    TaskStatus.ACCEPTED: fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED,
    TaskStatus.CHECKED_IN: fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN,
    TaskStatus.SUBMITTED: fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED,
    TaskStatus.DONE: fieldtask_pb2.FIELD_TASK_STATUS_DONE,
    TaskStatus.CANCELLED: fieldtask_pb2.FIELD_TASK_STATUS_CANCELLED,
    TaskStatus.EXPIRED: fieldtask_pb2.FIELD_TASK_STATUS_EXPIRED,
}
