"""/api/v1/applications: loan applications, their status machine and approval opinions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from google.protobuf.json_format import MessageToDict
from granary.v1 import credit_pb2
from pydantic import BaseModel, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call

router = APIRouter(prefix="/applications", tags=["applications"])

FRONT_OFFICE = ("officer", "supervisor", "president", "admin")
APPROVERS = ("supervisor", "president", "risk_director", "committee_member", "admin")


class ApplicationCreate(BaseModel):
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
    action: Literal["submit", "start_review", "approve", "reject", "return", "withdraw"]
    node: str = ""
    comment: str = ""


class OpinionCreate(BaseModel):
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
