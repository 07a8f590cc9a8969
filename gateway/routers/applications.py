"""/api/v1/applications: loan applications, their status machine and approval opinions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from google.protobuf.json_format import MessageToDict
from granary.v1 import credit_pb2, process_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/applications", tags=["applications"])

FRONT_OFFICE = ("officer", "supervisor", "president", "admin")
APPROVERS = ("supervisor", "president", "risk_director", "committee_member", "admin")


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "household_id": "5b9e2c7a-1d3f-4a6b-8c9d-0e1f2a3b4c5d",
                    "product_id": "c2e8b1d4-6a7f-4b3c-9d2e-1f0a5b6c7d8e",
                    "amount": "80000.00",
                    "term_months": 12,
                    "purpose": "大棚扩建",
                    "guarantee_method": "保证",
                    "guarantor_ids": ["7a1d9e4c-2b3f-4e8a-a6c5-0d1e2f3a4b5c"],
                    "collateral": [],
                    "idempotency_key": "7f3e9a2c5b1d4e6f",
                    "draft": False,
                }
            ]
        }
    )
    party_id: str
    household_id: str = ""
    product_id: str
    amount: str = Field(description="decimal string")
    term_months: int = Field(ge=0)
    purpose: str = ""
    guarantee_method: str = Field(description="信用, 保证, 抵押, 质押 or 联保")
    guarantor_ids: list[str] = Field(default_factory=list)
    collateral: list[str] = Field(default_factory=list)
    idempotency_key: str = Field(description="natural de-duplication: the same key returns the same application")
    draft: bool = False
    credit_line_id: str = ""
    branch_id: str = ""
    managing_officer_id: str = ""


class TransitionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"action": "withdraw", "node": "", "comment": "客户主动撤回申请"}]}
    )
    action: Literal["submit", "start_review", "approve", "reject", "return", "withdraw"]
    node: str = ""
    comment: str = ""


class OpinionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"node": "initial_review", "decision": "approve", "comment": "经营稳定，同意"}]}
    )
    node: str
    decision: Literal["approve", "reject", "return", "comment"]
    comment: str = ""


class ExposureRead(BaseModel):
    outstanding: str
    line_limits: str
    additional: str
    total: str


def as_dict(message: Any) -> dict[str, Any]:
    """A proto message as JSON with its field names and defaults (decimal strings stay strings)."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(RequireRoles(*FRONT_OFFICE))])
async def submit_application(body: ApplicationCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.SubmitApplication,
        credit_pb2.SubmitApplicationRequest(**body.model_dump()),
        caller=user,
    )
    return {**as_dict(reply.application), "replayed": reply.replayed}


@router.get("")
async def list_applications(
    request: Request,
    user: CurrentUser,
    status_filter: str = Query("", alias="status"),
    party_id: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.ListApplications,
        credit_pb2.ListApplicationsRequest(status=status_filter, party_id=party_id, page_size=limit, page_token=cursor),
        caller=user,
    )
    return {"items": [as_dict(a) for a in reply.applications], "next_cursor": reply.next_page_token or None}


@router.get("/exposure", response_model=ExposureRead)
async def party_exposure(
    request: Request, user: CurrentUser, party_id: str = "", household_id: str = "", additional_amount: str = ""
) -> ExposureRead:
    """Total exposure for approval tiers: outstanding principal + unused line limits + this amount."""
    reply = await call(
        request.app.state.backend.credit.GetPartyExposure,
        credit_pb2.GetPartyExposureRequest(
            party_id=party_id, household_id=household_id, additional_amount=additional_amount
        ),
        caller=user,
    )
    return ExposureRead(**as_dict(reply))


@router.get("/{application_id}")
async def get_application(application_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GetApplication,
        credit_pb2.GetApplicationRequest(application_id=application_id),
        caller=user,
    )
    return as_dict(reply.application)


@router.post("/{application_id}/transitions")
async def transition(
    application_id: str, body: TransitionCreate, request: Request, user: CurrentUser
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.TransitionApplication,
        credit_pb2.TransitionApplicationRequest(application_id=application_id, **body.model_dump()),
        caller=user,
    )
    return as_dict(reply.application)


@router.post(
    "/{application_id}/opinions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(RequireRoles(*APPROVERS))],
)
async def add_opinion(application_id: str, body: OpinionCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.AddApprovalOpinion,
        credit_pb2.AddApprovalOpinionRequest(application_id=application_id, **body.model_dump()),
        caller=user,
    )
    return as_dict(reply.opinion)


class ContractCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"template_code": "LOAN_STANDARD"}]})
    template_code: str


@router.post(
    "/{application_id}/contracts",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(RequireRoles(*FRONT_OFFICE))],
)
async def generate_contract(
    application_id: str, body: ContractCreate, request: Request, user: CurrentUser
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GenerateContract,
        credit_pb2.GenerateContractRequest(application_id=application_id, template_code=body.template_code),
        caller=user,
    )
    return as_dict(reply.contract)


# ---------------------------------------------------------------- where is application X


class TimelineStep(BaseModel):
    """One approval node (an inbox task) of the application's process, passed or pending."""

    instance_id: str
    task_id: str
    node_id: str
    title: str
    candidate_role: str
    branch_id: str
    status: str = Field(description="open, completed, cancelled or escalated")
    holder_id: str | None = Field(description="who holds the task (claimed or decided it); None while unclaimed")
    started_at: str
    ended_at: str | None
    duration_seconds: float = Field(description="time the node took, or has taken so far while open")
    due_at: str | None
    decision: str | None
    comment: str | None


class TimelineEvent(BaseModel):
    instance_id: str
    at: str
    action: str = Field(description="instance.started, task.created, task.completed, service.completed, …")
    node_id: str
    actor_id: str
    decision: str | None
    comment: str | None


class TimelineProcess(BaseModel):
    instance_id: str
    process_key: str
    version: int
    status: str
    started_at: str
    ended_at: str | None
    active_nodes: list[str]
    waiting_messages: list[str]


class TimelineOpinion(BaseModel):
    node: str
    actor_id: str
    role: str
    decision: str
    comment: str
    created_at: str


class TimelineRead(BaseModel):
    application_id: str
    status: str
    processes: list[TimelineProcess]
    steps: list[TimelineStep] = Field(description="approval nodes in the order they were reached")
    current: list[TimelineStep] = Field(description="the open nodes: who holds each now and since when")
    events: list[TimelineEvent] = Field(description="the whole process trail, service calls and messages included")
    opinions: list[TimelineOpinion] = Field(description="approval opinions recorded by the credit service")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "application_id": "01J9Z6Q4",
                    "status": "in_review",
                    "processes": [
                        {
                            "instance_id": "01J9Z6Q5",
                            "process_key": "credit_sop",
                            "version": 1,
                            "status": "running",
                            "started_at": "2025-03-01T08:00:00+00:00",
                            "ended_at": None,
                            "active_nodes": ["president_approval"],
                            "waiting_messages": [],
                        }
                    ],
                    "steps": [
                        {
                            "instance_id": "01J9Z6Q5",
                            "task_id": "01J9Z6R0",
                            "node_id": "initial_review",
                            "title": "初审 · 01J9Z6Q4",
                            "candidate_role": "supervisor",
                            "branch_id": "01J9Z6B1",
                            "status": "completed",
                            "holder_id": "01J9Z6S1",
                            "started_at": "2025-03-01T09:00:00+00:00",
                            "ended_at": "2025-03-01T10:30:00+00:00",
                            "duration_seconds": 5400.0,
                            "due_at": "2025-03-03T09:00:00+00:00",
                            "decision": "approve",
                            "comment": "同意",
                        }
                    ],
                    "current": [],
                    "events": [],
                    "opinions": [],
                }
            ]
        }
    }


def _at(message: Any, name: str) -> str | None:
    return from_timestamp(getattr(message, name)).isoformat() if message.HasField(name) else None


def _step(task: process_pb2.InboxTask, now: datetime) -> TimelineStep:
    started = from_timestamp(task.created_at)
    ended = from_timestamp(task.completed_at) if task.HasField("completed_at") else None
    return TimelineStep(
        instance_id=task.instance_id,
        task_id=task.id,
        node_id=task.node_id,
        title=task.title,
        candidate_role=task.candidate_role,
        branch_id=task.branch_id,
        status=task.status,
        holder_id=task.completed_by or task.assignee_id or None,
        started_at=started.isoformat(),
        ended_at=ended.isoformat() if ended else None,
        duration_seconds=round(((ended or now) - started).total_seconds(), 3),
        due_at=_at(task, "due_at"),
        decision=task.decision or None,
        comment=task.comment or None,
    )


@router.get("/{application_id}/timeline", response_model=TimelineRead)
async def timeline(application_id: str, request: Request, user: CurrentUser) -> TimelineRead:
    """Where the application is: every node passed and pending, who holds it now and since when,
    the time each node took, and every opinion. Out of the caller's branch scope: 404."""
    backend = request.app.state.backend
    # The credit service decides whether the caller may see the application at all.
    application = (
        await call(
            backend.credit.GetApplication, credit_pb2.GetApplicationRequest(application_id=application_id), caller=user
        )
    ).application
    listed = await call(
        backend.process.ListProcessInstances,
        process_pb2.ListProcessInstancesRequest(business_key=application.id, page_size=50),
        caller=user,
    )
    instances = [
        (
            await call(
                backend.process.GetProcessInstance,
                process_pb2.GetProcessInstanceRequest(instance_id=row.id),
                caller=user,
            )
        ).instance
        for row in sorted(listed.instances, key=lambda i: (i.started_at.seconds, i.started_at.nanos))
    ]
    now = datetime.now(UTC)
    tasks = sorted(
        (task for instance in instances for task in instance.tasks),
        key=lambda t: (t.created_at.seconds, t.created_at.nanos, t.id),
    )
    steps = [_step(task, now) for task in tasks]
    return TimelineRead(
        application_id=application.id,
        status=application.status,
        processes=[
            TimelineProcess(
                instance_id=i.id,
                process_key=i.process_key,
                version=i.version,
                status=i.status,
                started_at=from_timestamp(i.started_at).isoformat(),
                ended_at=_at(i, "ended_at"),
                active_nodes=list(i.active_nodes),
                waiting_messages=list(i.waiting_messages),
            )
            for i in instances
        ],
        steps=steps,
        current=[s for s in steps if s.status == "open"],
        events=[
            TimelineEvent(
                instance_id=i.id,
                at=from_timestamp(h.at).isoformat(),
                action=h.action,
                node_id=h.node_id,
                actor_id=h.actor_id,
                decision=h.decision or None,
                comment=h.comment or None,
            )
            for i in instances
            for h in i.history
        ],
        opinions=[
            TimelineOpinion(
                node=o.node,
                actor_id=o.actor_id,
                role=o.role,
                decision=o.decision,
                comment=o.comment,
                created_at=from_timestamp(o.created_at).isoformat(),
            )
            for o in application.opinions
        ],
    )
