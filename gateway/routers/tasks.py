"""/api/v1/tasks: the approval inbox (mine, claimable, overdue), claim, release, complete."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from granary.v1 import process_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/tasks", tags=["tasks"])


def _time(message: Any, name: str) -> str | None:
    return from_timestamp(getattr(message, name)).isoformat() if message.HasField(name) else None


class TaskRead(BaseModel):
    id: str
    instance_id: str
    process_key: str
    node_id: str
    title: str
    candidate_role: str
    branch_id: str
    assignee_id: str | None
    priority: int
    business_key: str
    status: str
    created_at: str
    due_at: str | None
    completed_at: str | None
    completed_by: str | None
    decision: str | None
    comment: str | None

    @classmethod
    def from_proto(cls, t: process_pb2.InboxTask) -> TaskRead:
        return cls(
            id=t.id,
            instance_id=t.instance_id,
            process_key=t.process_key,
            node_id=t.node_id,
            title=t.title,
            candidate_role=t.candidate_role,
            branch_id=t.branch_id,
            assignee_id=t.assignee_id or None,
            priority=t.priority,
            business_key=t.business_key,
            status=t.status,
            created_at=from_timestamp(t.created_at).isoformat(),
            due_at=_time(t, "due_at"),
            completed_at=_time(t, "completed_at"),
            completed_by=t.completed_by or None,
            decision=t.decision or None,
            comment=t.comment or None,
        )


class TaskPage(BaseModel):
    items: list[TaskRead]
    next_cursor: str | None = None


class TaskComplete(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"decision": "approve", "comment": "经营稳定，还款来源充足，同意"}]}
    )
    decision: Literal["approve", "reject", "return", "transfer", "submit"]
    comment: str = Field("", max_length=2000)
    transfer_to: str = Field("", description="transfer (转办): the user who gets the task")
    data: dict[str, Any] = Field(default_factory=dict, description="form fields merged into the instance data")


@router.get("", response_model=TaskPage)
async def list_tasks(
    request: Request,
    user: CurrentUser,
    view: Literal["mine", "claimable", "overdue"] = "mine",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> TaskPage:
    reply = await call(
        request.app.state.backend.process.ListTasks,
        process_pb2.ListTasksRequest(view=view, page_size=limit, page_token=cursor),
        caller=user,
    )
    return TaskPage(items=[TaskRead.from_proto(t) for t in reply.tasks], next_cursor=reply.next_page_token or None)


@router.get("/{task_id}", response_model=TaskRead)
async def get_task(task_id: str, request: Request, user: CurrentUser) -> TaskRead:
    reply = await call(
        request.app.state.backend.process.GetTask, process_pb2.GetTaskRequest(task_id=task_id), caller=user
    )
    return TaskRead.from_proto(reply.task)


@router.post("/{task_id}/claim", response_model=TaskRead)
async def claim_task(task_id: str, request: Request, user: CurrentUser) -> TaskRead:
    reply = await call(
        request.app.state.backend.process.ClaimTask, process_pb2.ClaimTaskRequest(task_id=task_id), caller=user
    )
    return TaskRead.from_proto(reply.task)


@router.post("/{task_id}/release", response_model=TaskRead)
async def release_task(task_id: str, request: Request, user: CurrentUser) -> TaskRead:
    reply = await call(
        request.app.state.backend.process.ReleaseTask, process_pb2.ReleaseTaskRequest(task_id=task_id), caller=user
    )
    return TaskRead.from_proto(reply.task)


@router.post("/{task_id}/complete", response_model=TaskRead)
async def complete_task(task_id: str, body: TaskComplete, request: Request, user: CurrentUser) -> TaskRead:
    """A finished task answers 409; of two users completing at once, one wins and the other gets 409."""
    reply = await call(
        request.app.state.backend.process.CompleteTask,
        process_pb2.CompleteTaskRequest(
            task_id=task_id,
            decision=body.decision,
            comment=body.comment,
            transfer_to=body.transfer_to,
            data_json=json.dumps(body.data, ensure_ascii=False) if body.data else "",
        ),
        caller=user,
    )
    return TaskRead.from_proto(reply.task)
