"""Portfolio figures from known loans: every figure hand-computed from the scenario below.

Four loans of 3 months, equal principal, after close of business on 2026-02-20:

=====  =======  ======  =======  ============  ==========================  ===  ======
loan   officer  branch  product  disbursed     repaid                      DPD  bucket
=====  =======  ======  =======  ============  ==========================  ===  ======
L1     o1       B1      PA v1    12000 11-15   nothing (due 12-15)          67  M3
L2     o1       B1      PA v1     6000 12-15   nothing (due 01-15)          36  M2
L3     o2       B1      PB       24000 01-15   installment 1 (8148.80)       0  current
L4     o3       B2      PA v2    30000 01-15   nothing (due 02-15)           5  M1
=====  =======  ======  =======  ============  ==========================  ===  ======

Outstanding principal: 12000 + 6000 + 16000 + 30000 = 64000; DPD ≥ 1: 48000 (M1+ rate
0.7500); DPD > 30: 18000 (PAR30 = 0.28125 → 0.2812, half-even).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.credit.support import Credit

pytestmark = pytest.mark.integration


def _slice(s: Any) -> tuple[str, int, str, str, str, str, str]:
    return (s.key, s.loans, s.outstanding, s.overdue_outstanding, s.par30_outstanding, s.overdue_rate, s.par30)


def _officer(o: Any) -> tuple[Any, ...]:
    return (
        o.officer_id,
        o.branch_id,
        o.applications,
        o.approved,
        o.rejected,
        o.pass_rate,
        o.disbursed_loans,
        o.disbursed_amount,
        o.active_loans,
        o.outstanding,
        o.overdue_rate,
    )


async def _scenario(credit: Credit) -> dict[str, Any]:
    o1, o2 = credit.staff("officer"), credit.staff("officer")
    o3 = credit.staff("officer", branch_id="B2")
    pa = await credit.product(code="PA", name="种植贷")
    pb = await credit.product(code="PB", name="养殖贷")
    l1 = await credit.loan(pa, amount="12000", start="2025-11-15", officer=o1)
    l2 = await credit.loan(pa, amount="6000", start="2025-12-15", officer=o1)
    l3 = await credit.loan(pb, amount="24000", start="2026-01-15", officer=o2)
    pa2 = await credit.product(code="PA", name="种植贷2026")
    l4 = await credit.loan(pa2, amount="30000", start="2026-01-15", officer=o3)
    # o1: one rejected and one pending application; o2: one withdrawn and one draft (not counted)
    rejected = await credit.application(pa, amount="5000", officer=o1)
    supervisor = credit.staff("supervisor")
    await credit.rpc("TransitionApplication", supervisor, application_id=rejected.id, action="start_review")
    await credit.rpc(
        "TransitionApplication", supervisor, application_id=rejected.id, action="reject", comment="收入不足"
    )
    await credit.application(pa, amount="5000", officer=o1)
    withdrawn = await credit.application(pb, amount="5000", officer=o2)
    await credit.rpc("TransitionApplication", o2, application_id=withdrawn.id, action="withdraw")
    await credit.rpc(
        "SubmitApplication",
        o2,
        party_id="party-draft",
        product_id=pb.id,
        amount="5000",
        term_months=3,
        guarantee_method="信用",
        idempotency_key=uuid.uuid4().hex,
        draft=True,
    )

    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-20")
    first = l3.installments[0]
    assert (first.principal, first.interest) == ("8000.00", "148.80")
    await credit.rpc(
        "PostRepayment", o2, loan_id=l3.id, amount="8148.80", value_date="2026-02-15", external_ref="R-L3-1"
    )
    cob = await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-20")
    assert cob.completed and cob.loans_processed == 4
    return {"o1": o1, "o2": o2, "o3": o3, "loans": (l1, l2, l3, l4)}


async def test_portfolio_figures_from_known_loans(credit: Credit) -> None:
    s = await _scenario(credit)
    o1, o2, o3 = s["o1"].user_id, s["o2"].user_id, s["o3"].user_id
    l1, l2, l3, l4 = s["loans"]
    states = [(await credit.rpc("GetLoan", credit.admin, loan_id=loan.id)).loan for loan in (l1, l2, l3, l4)]
    assert [(x.dpd, x.bucket, x.outstanding_principal) for x in states] == [
        (67, "M3", "12000.00"),
        (36, "M2", "6000.00"),
        (0, "current", "16000.00"),
        (5, "M1", "30000.00"),
    ]

    everything = await credit.rpc("GetPortfolioSummary", credit.staff("risk_director", branch_id=""))
    assert everything.business_date == "2026-02-20"
    assert _slice(everything.total) == ("total", 4, "64000.00", "48000.00", "18000.00", "0.7500", "0.2812")
    assert [(x.key, x.label) for x in everything.by_product] == [("PA", "种植贷2026"), ("PB", "养殖贷")]
    assert [_slice(x) for x in everything.by_product] == [
        ("PA", 3, "48000.00", "48000.00", "18000.00", "1.0000", "0.3750"),
        ("PB", 1, "16000.00", "0.00", "0.00", "0.0000", "0.0000"),
    ]
    assert [_slice(x) for x in everything.by_branch] == [
        ("B1", 3, "34000.00", "18000.00", "18000.00", "0.5294", "0.5294"),
        ("B2", 1, "30000.00", "30000.00", "0.00", "1.0000", "0.0000"),
    ]
    assert [(x.key, x.loans, x.outstanding) for x in everything.by_bucket] == [
        ("current", 1, "16000.00"),
        ("M1", 1, "30000.00"),
        ("M2", 1, "6000.00"),
        ("M3", 1, "12000.00"),
        ("M4+", 0, "0.00"),
    ]
    assert [(x.key, x.label, x.loans, x.outstanding) for x in everything.by_classification] == [
        ("normal", "正常", 1, "16000.00"),
        ("special_mention", "关注", 3, "48000.00"),
        ("substandard", "次级", 0, "0.00"),
        ("doubtful", "可疑", 0, "0.00"),
        ("loss", "损失", 0, "0.00"),
    ]
    assert [_officer(o) for o in everything.officers] == [
        (o3, "B2", 1, 1, 0, "1.0000", 1, "30000.00", 1, "30000.00", "1.0000"),
        (o2, "B1", 2, 1, 0, "1.0000", 1, "24000.00", 1, "16000.00", "0.0000"),
        (o1, "B1", 4, 2, 1, "0.6667", 2, "18000.00", 2, "18000.00", "1.0000"),
    ]
    assert [(m.month, m.loans, m.amount) for m in everything.disbursed_by_month] == [
        ("2025-11", 1, "12000.00"),
        ("2025-12", 1, "6000.00"),
        ("2026-01", 2, "54000.00"),
    ]

    # a period lists each of its months and limits the flow figures, not the book
    period = await credit.rpc(
        "GetPortfolioSummary", credit.admin, from_date="2025-12-01", to_date="2026-02-28", branch_id="B1"
    )
    assert [(m.month, m.loans, m.amount) for m in period.disbursed_by_month] == [
        ("2025-12", 1, "6000.00"),
        ("2026-01", 1, "24000.00"),
        ("2026-02", 0, "0.00"),
    ]
    by_officer = {o.officer_id: o for o in period.officers}
    assert (by_officer[o1].disbursed_loans, by_officer[o1].disbursed_amount, by_officer[o1].outstanding) == (
        1,
        "6000.00",
        "18000.00",
    )
    assert _slice(period.total) == ("total", 3, "34000.00", "18000.00", "18000.00", "0.5294", "0.5294")


async def test_portfolio_branch_scope_roles_and_bad_input(credit: Credit) -> None:
    s = await _scenario(credit)
    o1, o2 = s["o1"].user_id, s["o2"].user_id

    # a branch officer sees their branch only, whatever they ask for
    mine = await credit.rpc("GetPortfolioSummary", credit.officer)
    assert mine.branch_id == "B1"
    assert _slice(mine.total) == ("total", 3, "34000.00", "18000.00", "18000.00", "0.5294", "0.5294")
    assert [x.key for x in mine.by_branch] == ["B1"]
    assert {o.officer_id for o in mine.officers} == {o1, o2}
    other = await credit.rpc("GetPortfolioSummary", credit.officer, branch_id="B2")
    assert _slice(other.total) == ("total", 0, "0.00", "0.00", "0.00", "0.0000", "0.0000")
    assert list(other.officers) == [] and list(other.by_product) == []
    assert [x.loans for x in other.by_bucket] == [0, 0, 0, 0, 0]
    # the same answer as for a branch that does not exist
    assert other.total == (await credit.rpc("GetPortfolioSummary", credit.admin, branch_id="B9")).total

    # auditors see every branch or the one they name
    auditor = credit.staff("auditor")
    assert (await credit.rpc("GetPortfolioSummary", auditor)).total.loans == 4
    b2 = await credit.rpc("GetPortfolioSummary", auditor, branch_id="B2")
    assert _slice(b2.total) == ("total", 1, "30000.00", "30000.00", "0.00", "1.0000", "0.0000")
    president_b2 = credit.staff("president", branch_id="B2")
    assert (await credit.rpc("GetPortfolioSummary", president_b2)).total.outstanding == "30000.00"

    denied = await credit.refused("GetPortfolioSummary", credit.staff("committee_member"))
    assert denied.status == "PERMISSION_DENIED"
    backwards = await credit.refused("GetPortfolioSummary", credit.admin, from_date="2026-02-01", to_date="2026-01-01")
    assert backwards.violations[0].field == "to_date"
    garbled = await credit.refused("GetPortfolioSummary", credit.admin, from_date="2026-13-01")
    assert garbled.violations[0].field == "from_date"
