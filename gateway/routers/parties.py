"""/api/v1/parties: customers (people, enterprises, village collectives)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, status
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/parties", tags=["parties"])

PartyKind = Literal["person", "enterprise", "collective"]
_KIND_TO_PROTO: dict[str, int] = {
    "person": customer_pb2.PARTY_KIND_PERSON,
    "enterprise": customer_pb2.PARTY_KIND_ENTERPRISE,
    "collective": customer_pb2.PARTY_KIND_COLLECTIVE,
}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}


class PartyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "person", "name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}
            ]
        }
    )

    kind: PartyKind = "person"
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(description="Resident ID (person) or unified social credit code", max_length=32)
    mobile: str = Field("", max_length=32)
    branch_id: str = Field("", description="Defaults to the user's branch")
    managing_officer_id: str = Field("", description="Defaults to the user")


class PartyRead(BaseModel):
    id: str
    kind: PartyKind
    name: str
    id_number_masked: str
    mobile_masked: str
    branch_id: str
    managing_officer_id: str
    birth_date: str | None
    gender: str | None
    created_at: str
    warnings: list[str]

    @classmethod
    def from_proto(cls, party: customer_pb2.Party) -> PartyRead:
        return cls(
            id=party.id,
            kind=_KIND_FROM_PROTO[party.kind],  # type: ignore[arg-type]
            name=party.name,
            id_number_masked=party.id_number_masked,
            mobile_masked=party.mobile_masked,
            branch_id=party.branch_id,
            managing_officer_id=party.managing_officer_id,
            birth_date=party.birth_date or None,
            gender=party.gender or None,
            created_at=from_timestamp(party.created_at).isoformat(),
            warnings=list(party.warnings),
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PartyRead,
    dependencies=[Depends(RequireRoles("officer", "supervisor", "president", "admin"))],
)
async def create_party(body: PartyCreate, request: Request, user: CurrentUser) -> PartyRead:
    reply = await call(
        request.app.state.backend.customer.CreateParty,
        customer_pb2.CreatePartyRequest(
            kind=_KIND_TO_PROTO[body.kind],  # type: ignore[arg-type]
            name=body.name,
            id_number=body.id_number,
            mobile=body.mobile,
            branch_id=body.branch_id,
            managing_officer_id=body.managing_officer_id,
        ),
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.get("/{party_id}", response_model=PartyRead)
async def get_party(party_id: str, request: Request, user: CurrentUser) -> PartyRead:
    reply = await call(
        request.app.state.backend.customer.GetParty, customer_pb2.GetPartyRequest(party_id=party_id), caller=user
    )
    return PartyRead.from_proto(reply.party)
