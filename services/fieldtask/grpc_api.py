"""FieldTaskService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import grpc
from granary.v1 import fieldtask_pb2, fieldtask_pb2_grpc

from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.fieldtask import service
from services.fieldtask.domain.task import TaskStatus, TaskType
from services.fieldtask.models import FieldTaskRow


class FieldTaskServicer(fieldtask_pb2_grpc.FieldTaskServiceServicer):
    def __init__(self, *, uow: Callable[[], service.FieldTaskUnitOfWork]) -> None:
        self._uow = uow

    async def CreateFieldTask(
        self, request: fieldtask_pb2.CreateFieldTaskRequest, context: grpc.aio.ServicerContext
    ) -> fieldtask_pb2.CreateFieldTaskResponse:
        task = await service.create_field_task(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewFieldTask(
                # Unspecified or unknown enum numbers map to None; the domain names the field.
                task_type=service.TYPE_FROM_PROTO.get(request.task_type),
                due_at=request.due_at.ToDatetime(tzinfo=UTC) if request.HasField("due_at") else None,
                party_id=request.party_id,
                assignee_id=request.assignee_id,
                branch_id=request.branch_id,
                priority=request.priority,
                origin=request.origin,
            ),
        )
        return fieldtask_pb2.CreateFieldTaskResponse(task=task_to_proto(task))

    async def GetFieldTask(
        self, request: fieldtask_pb2.GetFieldTaskRequest, context: grpc.aio.ServicerContext
    ) -> fieldtask_pb2.GetFieldTaskResponse:
        task = await service.get_field_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return fieldtask_pb2.GetFieldTaskResponse(task=task_to_proto(task))



def task_to_proto(task: FieldTaskRow) -> fieldtask_pb2.FieldTask:
    return fieldtask_pb2.FieldTask(
        id=task.id,
        task_type=service.TYPE_TO_PROTO[TaskType(task.task_type)],
        status=service.STATUS_TO_PROTO[TaskStatus(task.status)],
        party_id=task.party_id,
        assignee_id=task.assignee_id,
        branch_id=task.branch_id,
        priority=task.priority,
        due_at=to_timestamp(task.due_at),
        origin=task.origin,
        created_at=to_timestamp(task.created_at),
    )
