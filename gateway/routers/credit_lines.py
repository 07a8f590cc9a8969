"""/api/v1/credit-lines: credit lines (授信) per party or household."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import credit_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.routers.applications import as_dict
from services.common.grpc_client import call

router = APIRouter(prefix="/credit-lines", tags=["credit-lines"])


class CreditLineCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "limit": "200000.00",
                    "valid_from": "2025-03-01",
                    "valid_until": "2028-02-29",
                    "revolving": True,
                }
            ]
        }
    )
    party_id: str = ""
    household_id: str = ""
    limit: str = Field(description="decimal string")
    valid_from: str = Field("", description="ISO date; defaults to the business date")
    valid_until: str
    revolving: bool = False
    branch_id: str = ""


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(RequireRoles("supervisor", "president", "risk_director", "admin"))],
)
async def create_credit_line(body: CreditLineCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.CreateCreditLine,
        credit_pb2.CreateCreditLineRequest(**body.model_dump()),
        caller=user,
    )
    return as_dict(reply.credit_line)


@router.get("")
async def list_credit_lines(
    request: Request,
    user: CurrentUser,
    party_id: str = "",
    household_id: str = "",
    campaign_id: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.ListCreditLines,
        credit_pb2.ListCreditLinesRequest(
            party_id=party_id, household_id=household_id, campaign_id=campaign_id, page_size=limit, page_token=cursor
        ),
        caller=user,
    )
    return {"items": [as_dict(line) for line in reply.credit_lines], "next_cursor": reply.next_page_token or None}


@router.get("/{credit_line_id}")
async def get_credit_line(credit_line_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GetCreditLine,
        credit_pb2.GetCreditLineRequest(credit_line_id=credit_line_id),
        caller=user,
    )
    return as_dict(reply.credit_line)
