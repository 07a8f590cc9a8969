"""/api/v1/leads: prospective customers, assigned by region; the funnel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/leads", tags=["leads"])


class LeadCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "陈建国",
                    "mobile": "13905710123",
                    "region_code": "330702104201",
                    "channel": "field",
                    "source": "村委推荐",
                    "next_follow_up": "2025-03-08",
                    "note": "想扩建养殖场，需资金约10万元",
                }
            ]
        }
    )
    name: str = Field(min_length=1, max_length=100)
    mobile: str = ""
    region_code: str = Field("", description="12-digit region code; decides the account manager")
    channel: str = Field(description="online_form, partner, field, import")
    source: str = ""
    next_follow_up: str = ""
    note: str = ""


class LeadUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"stage": "contacted", "next_follow_up": "2025-03-15", "note": "已电话联系，约定周末上门"}]
        }
    )
    stage: str = Field("", description="new, contacted, qualified, converted, lost")
    next_follow_up: str = ""
    assigned_officer_id: str = ""
    party_id: str = ""
    note: str = ""


class LeadRead(BaseModel):
    id: str
    name: str
    mobile_masked: str
    region_code: str
    channel: str
    source: str
    stage: str
    assigned_officer_id: str | None
    branch_id: str | None
    in_fallback_queue: bool
    next_follow_up: str | None
    party_id: str | None
    note: str
    created_at: str

    @classmethod
    def from_proto(cls, lead: customer_pb2.Lead) -> LeadRead:
        return cls(
            id=lead.id,
            name=lead.name,
            mobile_masked=lead.mobile_masked,
            region_code=lead.region_code,
            channel=lead.channel,
            source=lead.source,
            stage=lead.stage,
            assigned_officer_id=lead.assigned_officer_id or None,
            branch_id=lead.branch_id or None,
            in_fallback_queue=lead.in_fallback_queue,
            next_follow_up=lead.next_follow_up or None,
            party_id=lead.party_id or None,
            note=lead.note,
            created_at=from_timestamp(lead.created_at).isoformat(),
        )


class LeadPage(BaseModel):
    items: list[LeadRead]
    next_cursor: str | None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LeadRead,
    dependencies=[Depends(RequireRoles("officer", "supervisor", "president", "admin"))],
)
async def create_lead(body: LeadCreate, request: Request, user: CurrentUser) -> LeadRead:
    reply = await call(
        request.app.state.backend.customer.CreateLead, customer_pb2.CreateLeadRequest(**body.model_dump()), caller=user
    )
    return LeadRead.from_proto(reply.lead)


@router.get("", response_model=LeadPage)
async def list_leads(
    request: Request,
    user: CurrentUser,
    view: str = Query("mine", description="mine, queue (unassigned), all"),
    stage: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> LeadPage:
    reply = await call(
        request.app.state.backend.customer.ListLeads,
        customer_pb2.ListLeadsRequest(view=view, stage=stage, page_size=limit, page_token=cursor),
        caller=user,
    )
    return LeadPage(items=[LeadRead.from_proto(x) for x in reply.leads], next_cursor=reply.next_page_token or None)


@router.get("/funnel")
async def funnel(
    request: Request,
    user: CurrentUser,
    branch_id: str = Query("", description="Managers of all branches only; others see their own branch"),
    created_from: Annotated[datetime | None, Query(description="Leads created at or after (ISO 8601)")] = None,
    created_to: Annotated[datetime | None, Query(description="Leads created before (ISO 8601)")] = None,
) -> dict[str, dict[str, int]]:
    """Leads that reached each stage (a converted lead counts in every stage before it) and
    customers that reached each lifecycle stage."""
    req = customer_pb2.GetLeadFunnelRequest(branch_id=branch_id)
    if created_from is not None:
        req.created_from.CopyFrom(to_timestamp(created_from))
    if created_to is not None:
        req.created_to.CopyFrom(to_timestamp(created_to))
    reply = await call(request.app.state.backend.customer.GetLeadFunnel, req, caller=user)
    return {
        "leads": {s.stage: s.count for s in reply.lead_stages},
        "parties": {s.stage: s.count for s in reply.party_stages},
    }


@router.patch("/{lead_id}", response_model=LeadRead)
async def update_lead(lead_id: str, body: LeadUpdate, request: Request, user: CurrentUser) -> LeadRead:
    reply = await call(
        request.app.state.backend.customer.UpdateLead,
        customer_pb2.UpdateLeadRequest(lead_id=lead_id, **body.model_dump()),
        caller=user,
    )
    return LeadRead.from_proto(reply.lead)
