"""/api/v1/village-campaigns: whole-village granting (整村授信), approved as one batch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status
from granary.v1 import credit_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.routers.applications import as_dict
from services.common.grpc_client import call

router = APIRouter(prefix="/village-campaigns", tags=["village-campaigns"])


class HouseholdProposal(BaseModel):
    household_id: str
    party_id: str
    rating: str = ""
    proposed_limit: str


class CampaignCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "village_code": "330702104201",
                    "village_name": "临江村",
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-655443322110",
                    "households": [
                        {
                            "household_id": "5b9e2c7a-1d3f-4a6b-8c9d-0e1f2a3b4c5d",
                            "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                            "rating": "A",
                            "proposed_limit": "100000.00",
                        }
                    ],
                    "valid_from": "2025-03-01",
                    "valid_until": "2028-02-29",
                    "revolving": True,
                }
            ]
        }
    )
    village_code: str
    village_name: str = ""
    branch_id: str = ""
    households: list[HouseholdProposal] = Field(min_length=1)
    valid_from: str = ""
    valid_until: str
    revolving: bool = True


class CampaignApprove(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"comment": "整村授信名单已复核，同意"}]})
    comment: str = ""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(RequireRoles("officer", "supervisor", "president", "admin"))],
)
async def create_campaign(body: CampaignCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    fields = body.model_dump()
    fields["households"] = [credit_pb2.CampaignHousehold(**h) for h in fields["households"]]
    reply = await call(
        request.app.state.backend.credit.CreateVillageCampaign,
        credit_pb2.CreateVillageCampaignRequest(**fields),
        caller=user,
    )
    return as_dict(reply.campaign)


@router.get("/{campaign_id}")
async def get_campaign(campaign_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GetVillageCampaign,
        credit_pb2.GetVillageCampaignRequest(campaign_id=campaign_id),
        caller=user,
    )
    return as_dict(reply.campaign)


@router.post(
    "/{campaign_id}/approve",
    dependencies=[Depends(RequireRoles("president", "risk_director", "admin"))],
)
async def approve_campaign(
    campaign_id: str, body: CampaignApprove, request: Request, user: CurrentUser
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.ApproveVillageCampaign,
        credit_pb2.ApproveVillageCampaignRequest(campaign_id=campaign_id, comment=body.comment),
        caller=user,
    )
    return as_dict(reply.campaign)
