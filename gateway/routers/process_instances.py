"""/api/v1/process-instances and /api/v1/process-incidents: run, inspect, cancel; incidents."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import process_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.routers.tasks import TaskRead, _time
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(tags=["process instances"])


class InstanceCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "process_key": "credit_sop",
                    "business_key": "9d4e1a7b-3c2f-4e5d-b6a8-7c9d0e1f2a3b",
                    "variables": {"application_id": "9d4e1a7b-3c2f-4e5d-b6a8-7c9d0e1f2a3b", "amount": "80000.00"},
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-655443322110",
                }
            ]
        }
    )
    process_key: str = Field(min_length=1, max_length=100)
    business_key: str = Field(min_length=1, max_length=100, description="e.g. the application id")
    variables: dict[str, Any] = Field(default_factory=dict)
    branch_id: str = ""


class TimerRead(BaseModel):
    node_id: str
    due_at: str
    attached_to: str | None
    interrupting: bool


class HistoryRead(BaseModel):
    task_id: str | None
    node_id: str | None
    action: str
    actor_id: str
    decision: str | None
    comment: str | None
    at: str


class InstanceRead(BaseModel):
    id: str
    process_key: str
    version: int
    business_key: str
    status: str
    active_nodes: list[str]
    timers: list[TimerRead]
    open_tasks: list[TaskRead]
    waiting_messages: list[str]
    variables: dict[str, Any] | None
    initiator_id: str
    branch_id: str
    cancel_reason: str | None
    started_at: str
    ended_at: str | None
    history: list[HistoryRead]

    @classmethod
    def from_proto(cls, i: process_pb2.ProcessInstance) -> InstanceRead:
        return cls(
            id=i.id,
            process_key=i.process_key,
            version=i.version,
            business_key=i.business_key,
            status=i.status,
            active_nodes=list(i.active_nodes),
            timers=[
                TimerRead(
                    node_id=t.node_id,
                    due_at=from_timestamp(t.due_at).isoformat(),
                    attached_to=t.attached_to or None,
                    interrupting=t.interrupting,
                )
                for t in i.timers
            ],
            open_tasks=[TaskRead.from_proto(t) for t in i.open_tasks],
            waiting_messages=list(i.waiting_messages),
            variables=json.loads(i.variables_json) if i.variables_json else None,
            initiator_id=i.initiator_id,
            branch_id=i.branch_id,
            cancel_reason=i.cancel_reason or None,
            started_at=from_timestamp(i.started_at).isoformat(),
            ended_at=_time(i, "ended_at"),
            history=[
                HistoryRead(
                    task_id=h.task_id or None,
                    node_id=h.node_id or None,
                    action=h.action,
                    actor_id=h.actor_id,
                    decision=h.decision or None,
                    comment=h.comment or None,
                    at=from_timestamp(h.at).isoformat(),
                )
                for h in i.history
            ],
        )


class InstancePage(BaseModel):
    items: list[InstanceRead]
    next_cursor: str | None = None


class InstanceCancel(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "客户撤回申请，终止流程"}]})
    reason: str = Field(min_length=1, max_length=500)


class IncidentRead(BaseModel):
    id: str
    instance_id: str
    node_id: str
    kind: str
    error: str
    attempts: list[dict[str, str]]
    trace_id: str | None
    status: str
    created_at: str
    resolved_at: str | None

    @classmethod
    def from_proto(cls, i: process_pb2.Incident) -> IncidentRead:
        return cls(
            id=i.id,
            instance_id=i.instance_id,
            node_id=i.node_id,
            kind=i.kind,
            error=i.error,
            attempts=[{"at": a.at, "error": a.error} for a in i.attempts],
            trace_id=i.trace_id or None,
            status=i.status,
            created_at=from_timestamp(i.created_at).isoformat(),
            resolved_at=_time(i, "resolved_at"),
        )


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    next_cursor: str | None = None


@router.post("/process-instances", status_code=status.HTTP_201_CREATED, response_model=InstanceRead)
async def start_instance(body: InstanceCreate, request: Request, user: CurrentUser) -> InstanceRead:
    reply = await call(
        request.app.state.backend.process.StartProcessInstance,
        process_pb2.StartProcessInstanceRequest(
            process_key=body.process_key,
            business_key=body.business_key,
            variables_json=json.dumps(body.variables, ensure_ascii=False),
            branch_id=body.branch_id,
        ),
        caller=user,
    )
    return InstanceRead.from_proto(reply.instance)


@router.get("/process-instances", response_model=InstancePage)
async def list_instances(
    request: Request,
    user: CurrentUser,
    status_: str = Query("", alias="status"),
    process_key: str = "",
    business_key: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> InstancePage:
    reply = await call(
        request.app.state.backend.process.ListProcessInstances,
        process_pb2.ListProcessInstancesRequest(
            status=status_, process_key=process_key, business_key=business_key, page_size=limit, page_token=cursor
        ),
        caller=user,
    )
    return InstancePage(
        items=[InstanceRead.from_proto(i) for i in reply.instances], next_cursor=reply.next_page_token or None
    )


@router.get("/process-instances/{instance_id}", response_model=InstanceRead)
async def get_instance(instance_id: str, request: Request, user: CurrentUser) -> InstanceRead:
    reply = await call(
        request.app.state.backend.process.GetProcessInstance,
        process_pb2.GetProcessInstanceRequest(instance_id=instance_id),
        caller=user,
    )
    return InstanceRead.from_proto(reply.instance)


@router.post("/process-instances/{instance_id}/cancel", response_model=InstanceRead)
async def cancel_instance(instance_id: str, body: InstanceCancel, request: Request, user: CurrentUser) -> InstanceRead:
    reply = await call(
        request.app.state.backend.process.CancelProcessInstance,
        process_pb2.CancelProcessInstanceRequest(instance_id=instance_id, reason=body.reason),
        caller=user,
    )
    return InstanceRead.from_proto(reply.instance)


@router.get(
    "/process-incidents",
    response_model=IncidentPage,
    dependencies=[Depends(RequireRoles("admin", "process_owner", "auditor"))],
)
async def list_incidents(
    request: Request,
    user: CurrentUser,
    status_: str = Query("open", alias="status"),
    instance_id: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> IncidentPage:
    reply = await call(
        request.app.state.backend.process.ListIncidents,
        process_pb2.ListIncidentsRequest(status=status_, instance_id=instance_id, page_size=limit, page_token=cursor),
        caller=user,
    )
    return IncidentPage(
        items=[IncidentRead.from_proto(i) for i in reply.incidents], next_cursor=reply.next_page_token or None
    )


@router.post(
    "/process-incidents/{incident_id}/retry",
    response_model=IncidentRead,
    dependencies=[Depends(RequireRoles("admin", "process_owner"))],
)
async def retry_incident(incident_id: str, request: Request, user: CurrentUser) -> IncidentRead:
    reply = await call(
        request.app.state.backend.process.RetryIncident,
        process_pb2.RetryIncidentRequest(incident_id=incident_id),
        caller=user,
    )
    return IncidentRead.from_proto(reply.incident)
