"""/api/v1/dashboards: management figures composed from the owning services.

Every figure comes from the service that owns the data, through its API: the credit
service's portfolio summary and loan list, the customer service's parties, funnel, staff and
regions, the process service's node durations. Branch scope is the owners' rule: officers,
supervisors and presidents get their branch's figures, admin, auditor and risk_director every
branch or the one named by ``branch_id``. Rates are decimal strings with four decimals
("0.2812" = 28.12 %). Definitions: docs/api.md, section "dashboards".

Collection success rate comes from the credit service's overdue episodes: close of business
opens one when it finds a loan past due, the repayment that brings the loan current cures it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from granary.v1 import credit_pb2, customer_pb2, process_pb2

from gateway.auth import CurrentUser, RequireRoles
from gateway.routers.applications import as_dict
from services.common.grpc_client import call

READERS = ("officer", "supervisor", "president", "risk_director", "auditor", "admin")
PAGE = 200
# Records a region or trend figure reads at most; beyond it the answer says "truncated".
MAX_SCAN = 50_000
LEVELS = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}

router = APIRouter(prefix="/dashboards", tags=["dashboards"], dependencies=[Depends(RequireRoles(*READERS))])

BranchId = Query("", description="admin, auditor, risk_director: one branch; others always see their own")
FromDate = Query("", alias="from", description="ISO date, inclusive")
ToDate = Query("", alias="to", description="ISO date, inclusive")


def rate(part: int | Decimal, whole: int | Decimal) -> str:
    """part / whole with four decimals, half-even; "0.0000" when there is no whole."""
    if not whole:
        return "0.0000"
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


async def _pages(fetch: Callable[[str], Awaitable[tuple[list[Any], str]]]) -> tuple[list[Any], bool]:
    """Every item of a paged list, up to MAX_SCAN; True when more were left."""
    items: list[Any] = []
    token = ""
    while True:
        page, token = await fetch(token)
        items.extend(page)
        if not token:
            return items, False
        if len(items) >= MAX_SCAN:
            return items, True


async def _parties(request: Request, user: CurrentUser, branch_id: str) -> tuple[list[Any], bool]:
    async def fetch(token: str) -> tuple[list[Any], str]:
        reply = await call(
            request.app.state.backend.customer.SearchParties,
            customer_pb2.SearchPartiesRequest(page_size=PAGE, page_token=token),
            caller=user,
        )
        return list(reply.parties), reply.next_page_token

    parties, truncated = await _pages(fetch)
    return [p for p in parties if not branch_id or p.branch_id == branch_id], truncated


async def _loans(request: Request, user: CurrentUser, branch_id: str, *, min_dpd: int = 0) -> tuple[list[Any], bool]:
    async def fetch(token: str) -> tuple[list[Any], str]:
        reply = await call(
            request.app.state.backend.credit.ListLoans,
            credit_pb2.ListLoansRequest(
                branch_id=branch_id, status="active", min_dpd=min_dpd, page_size=PAGE, page_token=token
            ),
            caller=user,
        )
        return list(reply.loans), reply.next_page_token

    return await _pages(fetch)


async def _summary(
    request: Request, user: CurrentUser, branch_id: str, from_date: str = "", to_date: str = ""
) -> credit_pb2.GetPortfolioSummaryResponse:
    reply: credit_pb2.GetPortfolioSummaryResponse = await call(
        request.app.state.backend.credit.GetPortfolioSummary,
        credit_pb2.GetPortfolioSummaryRequest(branch_id=branch_id, from_date=from_date, to_date=to_date),
        caller=user,
    )
    return reply


async def _region_names(request: Request, user: CurrentUser, codes: set[str], width: int) -> dict[str, str]:
    """Names of region codes of one level, asked from their parents (unknown codes: no name)."""
    widths = list(LEVELS.values())
    up = widths[widths.index(width) - 1] if width != widths[0] else 0
    parents = sorted({code[:up].ljust(12, "0") if up else "" for code in codes if code})

    async def children(parent: str) -> list[Any]:
        reply = await call(
            request.app.state.backend.customer.ListRegions,
            customer_pb2.ListRegionsRequest(parent_code=parent),
            caller=user,
        )
        return list(reply.regions)

    names: dict[str, str] = {}
    for regions in await asyncio.gather(*(children(p) for p in parents)):
        names.update({r.code: r.name for r in regions})
    return names


def _at_level(code: str, width: int) -> str:
    return code[:width].ljust(12, "0") if code else ""


@router.get("/regions")
async def regions(
    request: Request,
    user: CurrentUser,
    level: Literal["province", "city", "county", "township", "village"] = "township",
    branch_id: str = BranchId,
) -> dict[str, Any]:
    """Customers and active loans per region (the customer's address region) at one level.

    ``customers`` counts parties (merged records excluded); ``loans``, ``outstanding`` and
    ``overdue_outstanding`` are the active loans of those customers. Customers without a
    region are listed under ``region_code`` "". Sorted by customers, then outstanding.
    """
    width = LEVELS[level]
    (parties, parties_cut), (loans, loans_cut) = await asyncio.gather(
        _parties(request, user, branch_id), _loans(request, user, branch_id)
    )
    region_of = {p.id: _at_level(p.region_code, width) for p in parties}
    rows: dict[str, dict[str, Any]] = {}

    def row(code: str) -> dict[str, Any]:
        return rows.setdefault(
            code, {"customers": 0, "loans": 0, "outstanding": Decimal(0), "overdue_outstanding": Decimal(0)}
        )

    for p in parties:
        row(region_of[p.id])["customers"] += 1
    for loan in loans:
        r = row(region_of.get(loan.party_id, ""))
        r["loans"] += 1
        r["outstanding"] += Decimal(loan.outstanding_principal or 0)
        if loan.dpd >= 1:
            r["overdue_outstanding"] += Decimal(loan.outstanding_principal or 0)
    names = await _region_names(request, user, set(rows), width)
    items = [
        {
            "region_code": code,
            "region_name": names.get(code, ""),
            "customers": r["customers"],
            "loans": r["loans"],
            "outstanding": f"{r['outstanding']:.2f}",
            "overdue_outstanding": f"{r['overdue_outstanding']:.2f}",
            "overdue_rate": rate(r["overdue_outstanding"], r["outstanding"]),
        }
        for code, r in rows.items()
    ]
    items.sort(key=lambda i: (-i["customers"], -Decimal(i["outstanding"]), i["region_code"]))
    return {"level": level, "items": items, "next_cursor": None, "truncated": parties_cut or loans_cut}


@router.get("/officers")
async def officers(
    request: Request, user: CurrentUser, branch_id: str = BranchId, from_date: str = FromDate, to_date: str = ToDate
) -> dict[str, Any]:
    """Officer leaderboard: intake (applications), pass rate, disbursed amount, book; best first."""
    summary = await _summary(request, user, branch_id, from_date, to_date)
    staff = await call(
        request.app.state.backend.customer.ListStaff,
        customer_pb2.ListStaffRequest(branch_id=branch_id, include_inactive=True),
        caller=user,
    )
    names = {s.id: s.display_name for s in staff.staff}
    items = []
    for rank, o in enumerate(summary.officers, start=1):
        items.append({"rank": rank, "display_name": names.get(o.officer_id, ""), **as_dict(o)})
    return {"from": summary.from_date, "to": summary.to_date, "items": items, "next_cursor": None}


@router.get("/products")
async def products(request: Request, user: CurrentUser, branch_id: str = BranchId) -> dict[str, Any]:
    """Product structure: loans and outstanding per product, with each product's share."""
    summary = await _summary(request, user, branch_id)
    total = Decimal(summary.total.outstanding or 0)
    items = [
        {
            "product_code": s.key,
            "product_name": s.label,
            "loans": s.loans,
            "outstanding": s.outstanding,
            "share": rate(Decimal(s.outstanding or 0), total),
            "overdue_rate": s.overdue_rate,
        }
        for s in summary.by_product
    ]
    return {"total_outstanding": summary.total.outstanding, "items": items, "next_cursor": None}


@router.get("/overdue")
async def overdue(
    request: Request,
    user: CurrentUser,
    branch_id: str = BranchId,
    warnings: int = Query(20, ge=0, le=200, description="How many overdue loans to list, longest overdue first"),
) -> dict[str, Any]:
    """Overdue warnings: M1+ overdue rate, PAR30, the buckets and the longest-overdue loans."""
    summary, (late, truncated) = await asyncio.gather(
        _summary(request, user, branch_id), _loans(request, user, branch_id, min_dpd=1)
    )
    late.sort(key=lambda loan: (-loan.dpd, -Decimal(loan.overdue_amount or 0), loan.id))
    total = summary.total
    return {
        "business_date": summary.business_date,
        "active_loans": total.loans,
        "outstanding": total.outstanding,
        "overdue_loans": len(late),
        "overdue_outstanding": total.overdue_outstanding,
        "m1_plus_rate": total.overdue_rate,
        "par30": total.par30,
        "buckets": [{"bucket": b.key, "loans": b.loans, "outstanding": b.outstanding} for b in summary.by_bucket],
        "warnings": [
            {
                "loan_id": loan.id,
                "party_id": loan.party_id,
                "branch_id": loan.branch_id,
                "managing_officer_id": loan.managing_officer_id,
                "dpd": loan.dpd,
                "bucket": loan.bucket,
                "overdue_amount": loan.overdue_amount,
                "outstanding_principal": loan.outstanding_principal,
                "classification": loan.classification,
            }
            for loan in late[:warnings]
        ],
        "truncated": truncated,
    }


def _collection(f: Any, names: dict[str, str]) -> dict[str, Any]:
    row = {k: v for k, v in as_dict(f).items() if k != "key"}
    if f.officer_id:
        row["display_name"] = names.get(f.officer_id, "")
    else:
        row.pop("officer_id", None)
    if not f.branch_id:
        row.pop("branch_id", None)
    return row


@router.get("/collections")
async def collections(
    request: Request, user: CurrentUser, branch_id: str = BranchId, from_date: str = FromDate, to_date: str = ToDate
) -> dict[str, Any]:
    """Collection success rate (催收成功率): overdue episodes whose first day past due falls in
    the period, how many were cured (the loan current again or paid off), cured within 30 days,
    still open; the overdue amount when they opened and what was recovered. In total, per
    branch and per officer (the loan's managing officer), most episodes first.
    """
    # Checked here so that errors name the query parameters ("from", "to"), as /trends does.
    first = _iso(from_date, "from") if from_date else None
    last = _iso(to_date, "to") if to_date else None
    if first and last and last < first:
        raise _invalid("to", "must not be before from")
    reply, staff = await asyncio.gather(
        call(
            request.app.state.backend.credit.GetCollectionSummary,
            credit_pb2.GetCollectionSummaryRequest(branch_id=branch_id, from_date=from_date, to_date=to_date),
            caller=user,
        ),
        call(
            request.app.state.backend.customer.ListStaff,
            customer_pb2.ListStaffRequest(branch_id=branch_id, include_inactive=True),
            caller=user,
        ),
    )
    names = {s.id: s.display_name for s in staff.staff}
    return {
        "business_date": reply.business_date,
        "branch_id": reply.branch_id,
        "from": reply.from_date,
        "to": reply.to_date,
        **_collection(reply.total, names),
        "by_branch": [_collection(b, names) for b in reply.by_branch],
        "by_officer": [_collection(o, names) for o in reply.by_officer],
    }


def _months(first: date, last: date) -> list[str]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _invalid(field: str, message: str) -> RequestValidationError:
    """A 422 problem naming the query parameter, like FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


def _iso(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, "must be an ISO date (YYYY-MM-DD)") from None


@router.get("/trends")
async def trends(
    request: Request, user: CurrentUser, branch_id: str = BranchId, from_date: str = FromDate, to_date: str = ToDate
) -> dict[str, Any]:
    """Monthly growth: new customers, disbursed loans and amount, and the cumulative customers.

    Without dates: the twelve months up to this one.
    """
    today = datetime.now(UTC).date()
    last = _iso(to_date, "to") if to_date else today
    first = _iso(from_date, "from") if from_date else date(last.year - 1 + (last.month == 12), last.month % 12 + 1, 1)
    if first > last:
        raise _invalid("to", "must not be before from")
    summary, (parties, truncated) = await asyncio.gather(
        _summary(request, user, branch_id, first.isoformat(), last.isoformat()), _parties(request, user, branch_id)
    )
    disbursed = {m.month: m for m in summary.disbursed_by_month}
    new_customers: dict[str, int] = {}
    before = 0
    for p in parties:
        created = p.created_at.ToDatetime(tzinfo=UTC).date()
        if created < first:
            before += 1
        elif created <= last:
            key = f"{created.year:04d}-{created.month:02d}"
            new_customers[key] = new_customers.get(key, 0) + 1
    items = []
    running = before
    for month in _months(first, last):
        running += new_customers.get(month, 0)
        m = disbursed.get(month)
        items.append(
            {
                "month": month,
                "new_customers": new_customers.get(month, 0),
                "customers": running,
                "disbursed_loans": m.loans if m else 0,
                "disbursed_amount": m.amount if m else "0.00",
            }
        )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "items": items,
        "next_cursor": None,
        "truncated": truncated,
    }


@router.get("/approval-nodes")
async def approval_nodes(
    request: Request, user: CurrentUser, process_key: str = Query("credit_sop", description="The process model")
) -> dict[str, Any]:
    """Average time per approval node (completed tasks), slowest first: the bottlenecks.

    Figures are over every branch: the process service does not split them by branch.
    """
    reply = await call(
        request.app.state.backend.process.GetNodeDurations,
        process_pb2.GetNodeDurationsRequest(process_key=process_key),
        caller=user,
    )
    items = [
        {
            "node_id": n.node_id,
            "title": n.title,
            "completed_tasks": n.count,
            "mean_hours": round(n.mean_seconds / 3600, 2),
            "mean_seconds": n.mean_seconds,
            "p50_seconds": n.p50_seconds,
            "p90_seconds": n.p90_seconds,
        }
        for n in reply.nodes
    ]
    items.sort(key=lambda i: (-i["mean_seconds"], i["node_id"]))
    return {"process_key": process_key, "items": items, "next_cursor": None}


def _funnel(stages: Any) -> list[dict[str, Any]]:
    rows = []
    first = previous = None
    for s in stages:
        first = s.count if first is None else first
        rows.append(
            {
                "stage": s.stage,
                "count": s.count,
                "from_previous": rate(s.count, previous) if previous is not None else "1.0000",
                "from_first": rate(s.count, first),
            }
        )
        previous = s.count
    return rows


@router.get("/funnel")
async def funnel(
    request: Request, user: CurrentUser, branch_id: str = BranchId, from_date: str = FromDate, to_date: str = ToDate
) -> dict[str, Any]:
    """Funnel conversion: leads per stage (new → contacted → qualified → converted) and customers
    per lifecycle stage, each with the conversion from the previous stage and from the first.

    The period limits the leads by creation date. Managers only (supervisor, president and
    the all-branch roles): the customer service refuses officers.
    """
    req = customer_pb2.GetLeadFunnelRequest(branch_id=branch_id)
    if from_date:
        req.created_from.FromDatetime(datetime.combine(_iso(from_date, "from"), datetime.min.time(), UTC))
    if to_date:
        end = _iso(to_date, "to")
        req.created_to.FromDatetime(datetime.combine(end, datetime.max.time(), UTC))
    reply = await call(request.app.state.backend.customer.GetLeadFunnel, req, caller=user)
    return {"leads": _funnel(reply.lead_stages), "customers": _funnel(reply.party_stages)}
