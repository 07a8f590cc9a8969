"""/api/v1/households: rural households (农户) and their members."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from google.protobuf import json_format
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call

router = APIRouter(prefix="/households", tags=["households"])
WRITERS = Depends(RequireRoles("officer", "supervisor", "president", "admin"))


class HouseholdCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "head_party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "village_code": "330702104201",
                    "land_mu": "12.5",
                    "labour_count": 2,
                    "main_income": "大棚蔬菜种植",
                    "annual_income": "86000.00",
                    "rating": "B",
                }
            ]
        }
    )
    head_party_id: str
    village_code: str = Field(description="12-digit village code")
    land_mu: str = "0"
    labour_count: int = 0
    main_income: str = ""
    annual_income: str = "0"
    rating: str = ""


class MemberCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"party_id": "7a1d9e4c-2b3f-4e8a-a6c5-0d1e2f3a4b5c", "relation": "配偶", "co_borrower": True}]
        }
    )
    party_id: str
    relation: str = Field(description="spouse, child, parent, sibling, other")
    co_borrower: bool = False


def _read(household: customer_pb2.Household) -> dict[str, object]:
    data = json_format.MessageToDict(
        household, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return data


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def create_household(body: HouseholdCreate, request: Request, user: CurrentUser) -> dict[str, object]:
    reply = await call(
        request.app.state.backend.customer.CreateHousehold,
        customer_pb2.CreateHouseholdRequest(**body.model_dump()),
        caller=user,
    )
    return _read(reply.household)


@router.get("/{household_id}")
async def get_household(household_id: str, request: Request, user: CurrentUser) -> dict[str, object]:
    reply = await call(
        request.app.state.backend.customer.GetHousehold,
        customer_pb2.GetHouseholdRequest(household_id=household_id),
        caller=user,
    )
    return _read(reply.household)


@router.post("/{household_id}/members", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def add_member(household_id: str, body: MemberCreate, request: Request, user: CurrentUser) -> dict[str, object]:
    reply = await call(
        request.app.state.backend.customer.AddHouseholdMember,
        customer_pb2.AddHouseholdMemberRequest(household_id=household_id, **body.model_dump()),
        caller=user,
    )
    return _read(reply.household)
