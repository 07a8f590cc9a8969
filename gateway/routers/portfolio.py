"""/api/v1/dashboards/credit: portfolio figures (outstanding, buckets, M1+ rate, PAR30,
officer leaderboard, disbursed per month, five-category distribution).

Branch roles (officer, supervisor, president) see their branch; admin, auditor and
risk_director see every branch or the one named by ``branch_id``. Amounts are decimal
strings; rates have four decimals ("0.2812" = 28.12 %). Definitions: docs/api.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from granary.v1 import credit_pb2

from gateway.auth import CurrentUser, RequireRoles
from gateway.routers.applications import as_dict
from services.common.grpc_client import call

READERS = ("officer", "supervisor", "president", "risk_director", "auditor", "admin")

router = APIRouter(prefix="/dashboards/credit", tags=["dashboards"], dependencies=[Depends(RequireRoles(*READERS))])


async def _summary(
    request: Request, user: CurrentUser, branch_id: str, from_date: str, to_date: str
) -> credit_pb2.GetPortfolioSummaryResponse:
    reply: credit_pb2.GetPortfolioSummaryResponse = await call(
        request.app.state.backend.credit.GetPortfolioSummary,
        credit_pb2.GetPortfolioSummaryRequest(branch_id=branch_id, from_date=from_date, to_date=to_date),
        caller=user,
    )
    return reply


def _items(values: Any) -> dict[str, Any]:
    return {"items": [as_dict(v) for v in values], "next_cursor": None}


@router.get("/summary")
async def summary(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    from_date: str = Query("", alias="from"),
    to_date: str = Query("", alias="to"),
) -> dict[str, Any]:
    """Totals: active loans, outstanding principal, M1+ overdue rate and PAR30."""
    reply = await _summary(request, user, branch_id, from_date, to_date)
    return {
        "business_date": reply.business_date,
        "branch_id": reply.branch_id,
        "from": reply.from_date,
        "to": reply.to_date,
        **{k: v for k, v in as_dict(reply.total).items() if k not in ("key", "label")},
    }


@router.get("/by-product")
async def by_product(request: Request, user: CurrentUser, branch_id: str = "") -> dict[str, Any]:
    """Outstanding and loan counts per product code (all versions together)."""
    return _items((await _summary(request, user, branch_id, "", "")).by_product)


@router.get("/by-branch")
async def by_branch(request: Request, user: CurrentUser, branch_id: str = "") -> dict[str, Any]:
    return _items((await _summary(request, user, branch_id, "", "")).by_branch)


@router.get("/overdue-buckets")
async def overdue_buckets(request: Request, user: CurrentUser, branch_id: str = "") -> dict[str, Any]:
    """current, M1 (1–30 days), M2 (31–60), M3 (61–90), M4+ (> 90): every bucket listed."""
    return _items((await _summary(request, user, branch_id, "", "")).by_bucket)


@router.get("/classification")
async def classification(request: Request, user: CurrentUser, branch_id: str = "") -> dict[str, Any]:
    """The five categories 正常 关注 次级 可疑 损失, in that order."""
    return _items((await _summary(request, user, branch_id, "", "")).by_classification)


@router.get("/officers")
async def officers(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    from_date: str = Query("", alias="from"),
    to_date: str = Query("", alias="to"),
) -> dict[str, Any]:
    """Leaderboard: application intake, pass rate and disbursed amount per officer, best first."""
    return _items((await _summary(request, user, branch_id, from_date, to_date)).officers)


@router.get("/disbursements")
async def disbursements(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    from_date: str = Query("", alias="from"),
    to_date: str = Query("", alias="to"),
) -> dict[str, Any]:
    """Disbursed principal and loan count per calendar month (every month of the period)."""
    return _items((await _summary(request, user, branch_id, from_date, to_date)).disbursed_by_month)


@router.get("/overdue-loans")
async def overdue_loans(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    bucket: str = "",
    min_dpd: int = Query(1, ge=1),
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> dict[str, Any]:
    """The overdue list with DPD, bucket and overdue amount (loans with DPD ≥ ``min_dpd``)."""
    reply = await call(
        request.app.state.backend.credit.ListLoans,
        credit_pb2.ListLoansRequest(
            branch_id=branch_id, bucket=bucket, min_dpd=min_dpd, status="active", page_size=limit, page_token=cursor
        ),
        caller=user,
    )
    items = []
    for loan in reply.loans:
        item = as_dict(loan)
        item.pop("installments", None)
        items.append(item)
    return {"items": items, "next_cursor": reply.next_page_token or None}
