"""/api/v1/loans (disbursement, schedule, repayments, classification), contracts, and the
credit operations (business date, close of business). ``credit_api`` bundles every credit router."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import credit_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from gateway.routers import applications, credit_lines, portfolio, products, village_campaigns
from gateway.routers.applications import as_dict
from services.common.grpc_client import call

router = APIRouter(prefix="/loans", tags=["loans"])
contracts = APIRouter(prefix="/contracts", tags=["contracts"])
operations = APIRouter(prefix="/credit-operations", tags=["credit-operations"])

FRONT_OFFICE = ("officer", "supervisor", "president", "admin")


class LoanCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "application_id": "9d4e1a7b-3c2f-4e5d-b6a8-7c9d0e1f2a3b",
                    "disbursed_on": "2025-03-01",
                    "external_ref": "CORE20250301000123",
                }
            ]
        }
    )
    application_id: str
    disbursed_on: str = Field("", description="ISO date; defaults to the business date")
    external_ref: str = Field(description="the transfer reference; a repeat returns the same loan")


class RepaymentCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": "7000.00", "value_date": "2025-04-01", "external_ref": "CORE20250401000456"}]
        }
    )
    amount: str
    value_date: str = ""
    external_ref: str = Field(description="the payment's bank reference; a repeat returns the first posting")


class ReversalCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "柜员录入金额错误，冲正后重新入账"}]})
    reason: str


class OverrideCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"classification": "special_mention", "reason": "主营大棚受冻灾影响，还款能力下降"}]
        }
    )
    classification: str
    reason: str


class OverrideDecision(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approve": True, "comment": "同意下调为关注类"}]})
    approve: bool
    comment: str = ""


class SignatureCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "method": "manual",
                    "evidence_ref": "scan-HT20250301001",
                    "content_hash": "9f2b5c1e7d4a3b6c8e0f1a2d3c4b5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
                }
            ]
        }
    )
    method: str = Field(description="manual or electronic")
    evidence_ref: str
    content_hash: str


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "LOAN_STANDARD",
                    "body": "借款合同\n借款人：{borrower_name}\n借款金额：{amount}元\n借款期限：{term_months}个月",
                }
            ]
        }
    )
    code: str
    body: str


class BusinessDateUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"business_date": "2025-03-01"}]})
    business_date: str


class CobCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"business_date": "2025-03-01"}]})
    business_date: str = ""


@router.post(
    "", status_code=status.HTTP_201_CREATED, dependencies=[Depends(RequireRoles("supervisor", "president", "admin"))]
)
async def disburse(body: LoanCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.DisburseLoan, credit_pb2.DisburseLoanRequest(**body.model_dump()), caller=user
    )
    return as_dict(reply.loan)


@router.get("")
async def list_loans(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    bucket: str = "",
    managing_officer_id: str = "",
    status_filter: str = Query("", alias="status"),
    party_id: str = "",
    min_dpd: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> dict[str, Any]:
    """Loans by branch, bucket (current, M1, M2, M3, M4+), officer or status; ``min_dpd=1`` is the overdue list."""
    reply = await call(
        request.app.state.backend.credit.ListLoans,
        credit_pb2.ListLoansRequest(
            branch_id=branch_id,
            bucket=bucket,
            managing_officer_id=managing_officer_id,
            status=status_filter,
            party_id=party_id,
            min_dpd=min_dpd,
            page_size=limit,
            page_token=cursor,
        ),
        caller=user,
    )
    return {"items": [as_dict(loan) for loan in reply.loans], "next_cursor": reply.next_page_token or None}


@router.get("/{loan_id}")
async def get_loan(loan_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GetLoan, credit_pb2.GetLoanRequest(loan_id=loan_id), caller=user
    )
    loan = as_dict(reply.loan)
    loan.pop("installments", None)
    return loan


@router.get("/{loan_id}/schedule")
async def get_schedule(
    loan_id: str, request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> dict[str, Any]:
    """The installments by number (the loan answers them whole; paged here)."""
    reply = await call(
        request.app.state.backend.credit.GetLoan, credit_pb2.GetLoanRequest(loan_id=loan_id), caller=user
    )
    installments, next_cursor = page(reply.loan.installments, lambda i: i.number, limit, cursor)
    return {"items": [as_dict(i) for i in installments], "next_cursor": next_cursor}


@router.get("/{loan_id}/repayments")
async def list_repayments(
    loan_id: str, request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> dict[str, Any]:
    """The loan's repayments in posting order (answered whole by credit; paged here)."""
    reply = await call(
        request.app.state.backend.credit.ListRepayments, credit_pb2.ListRepaymentsRequest(loan_id=loan_id), caller=user
    )
    repayments, next_cursor = page(
        reply.repayments, lambda r: (r.created_at.seconds, r.created_at.nanos, r.id), limit, cursor
    )
    return {"items": [as_dict(r) for r in repayments], "next_cursor": next_cursor}


@router.post(
    "/{loan_id}/repayments", status_code=status.HTTP_201_CREATED, dependencies=[Depends(RequireRoles(*FRONT_OFFICE))]
)
async def post_repayment(loan_id: str, body: RepaymentCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.PostRepayment,
        credit_pb2.PostRepaymentRequest(loan_id=loan_id, **body.model_dump()),
        caller=user,
    )
    return {"repayment": as_dict(reply.repayment), "replayed": reply.replayed}


@router.post(
    "/{loan_id}/repayments/{repayment_id}/reverse",
    dependencies=[Depends(RequireRoles("supervisor", "president", "admin"))],
)
async def reverse_repayment(
    loan_id: str, repayment_id: str, body: ReversalCreate, request: Request, user: CurrentUser
) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.ReverseRepayment,
        credit_pb2.ReverseRepaymentRequest(repayment_id=repayment_id, reason=body.reason),
        caller=user,
    )
    return as_dict(reply.repayment)


@router.post("/{loan_id}/class-override")
async def request_override(loan_id: str, body: OverrideCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.RequestClassOverride,
        credit_pb2.RequestClassOverrideRequest(loan_id=loan_id, **body.model_dump()),
        caller=user,
    )
    return as_dict(reply.loan)


@router.post("/{loan_id}/class-override/decision", dependencies=[Depends(RequireRoles("risk_director", "admin"))])
async def decide_override(loan_id: str, body: OverrideDecision, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.ApproveClassOverride,
        credit_pb2.ApproveClassOverrideRequest(loan_id=loan_id, **body.model_dump()),
        caller=user,
    )
    return as_dict(reply.loan)


@contracts.post(
    "/templates", status_code=status.HTTP_201_CREATED, dependencies=[Depends(RequireRoles("process_owner", "admin"))]
)
async def create_template(body: TemplateCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.CreateContractTemplate,
        credit_pb2.CreateContractTemplateRequest(**body.model_dump()),
        caller=user,
    )
    return as_dict(reply.template)


@contracts.get("/{contract_id}")
async def get_contract(contract_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.GetContract,
        credit_pb2.GetContractRequest(contract_id=contract_id),
        caller=user,
    )
    return as_dict(reply.contract)


@contracts.post("/{contract_id}/signature", dependencies=[Depends(RequireRoles(*FRONT_OFFICE))])
async def sign_contract(contract_id: str, body: SignatureCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.SignContract,
        credit_pb2.SignContractRequest(contract_id=contract_id, **body.model_dump()),
        caller=user,
    )
    return as_dict(reply.contract)


@operations.get("/business-date")
async def get_business_date(request: Request, user: CurrentUser) -> dict[str, str]:
    reply = await call(
        request.app.state.backend.credit.GetBusinessDate, credit_pb2.GetBusinessDateRequest(), caller=user
    )
    return {"business_date": reply.business_date}


@operations.put("/business-date", dependencies=[Depends(RequireRoles("admin"))])
async def set_business_date(body: BusinessDateUpdate, request: Request, user: CurrentUser) -> dict[str, str]:
    reply = await call(
        request.app.state.backend.credit.SetBusinessDate,
        credit_pb2.SetBusinessDateRequest(business_date=body.business_date),
        caller=user,
    )
    return {"business_date": reply.business_date}


@operations.post("/close-of-business", dependencies=[Depends(RequireRoles("admin"))])
async def close_of_business(body: CobCreate, request: Request, user: CurrentUser) -> dict[str, Any]:
    reply = await call(
        request.app.state.backend.credit.RunCloseOfBusiness,
        credit_pb2.RunCloseOfBusinessRequest(business_date=body.business_date),
        caller=user,
    )
    return as_dict(reply)


credit_api = APIRouter()
for _router in (
    products.router,
    applications.router,
    credit_lines.router,
    village_campaigns.router,
    router,
    contracts,
    operations,
    portfolio.router,
):
    credit_api.include_router(_router)
