"""Overdue episodes and the collection success rate, driven through close of business.

Five loans of 12000 over 3 months (equal principal, 7.2 %, penalty 10.8 %), disbursed on
2026-01-15; installment 1 (4000 + 74.40 interest) is due 2026-02-15, installment 2
(4000 + 44.80) on 2026-03-15. Close of business runs on 02-16 (A–D 1 DPD: overdue 4074.40 +
1.22 penalty = 4075.62) and on 03-18.

====  =======  ======  ==================================================  ==========================
loan  officer  branch  what happens                                        episode at the end
====  =======  ======  ==================================================  ==========================
A     oA       B1      02-20 pays 8120.42: installment 1 and 2 ahead       cured 02-20 (4 days), 4075.62 recovered
B     oB       B1      never pays                                          open, highest DPD 31 (M2)
C     oA       B1      02-20 pays 4075.62, reversed the same day (退票)    open again (reopened)
D     oD       B2      03-18 pays 9000 after COB (overdue then 8160.73)    cured 03-18 (30 days), 8160.73 recovered
E     oB       B1      pays installment 1 on time; installment 2 unpaid    opened 03-18, started 03-16, 4048.44
====  =======  ======  ==================================================  ==========================

D's overdue on 03-18: installment 1 with 1.22 + 36.67 (30 days) penalty, installment 2 with 3.64
(3 days) = 4075.62 + 36.67 + 4044.80 + 3.64 = 8160.73. E's installment 2: 4044.80 + 3.64.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.credit.support import Credit

pytestmark = pytest.mark.integration


def _figures(f: Any) -> tuple[Any, ...]:
    return (
        f.started,
        f.cured,
        f.cured_within_30_days,
        f.still_open,
        f.success_rate,
        f.success_rate_30_days,
        f.overdue_at_start,
        f.recovered,
    )


async def _cob(credit: Credit, day: str, **extra: Any) -> Any:
    await credit.rpc("SetBusinessDate", credit.admin, business_date=day)
    return await credit.rpc("RunCloseOfBusiness", credit.system, business_date=day, **extra)


async def test_episodes_open_cure_reopen_and_the_success_rate(credit: Credit) -> None:
    oa, ob = credit.staff("officer"), credit.staff("officer")
    od = credit.staff("officer", branch_id="B2")
    supervisor = credit.staff("supervisor")
    product = await credit.product()
    a = await credit.loan(product, start="2026-01-15", officer=oa)
    b = await credit.loan(product, start="2026-01-15", officer=ob)
    c = await credit.loan(product, start="2026-01-15", officer=oa)
    d = await credit.loan(product, start="2026-01-15", officer=od)
    e = await credit.loan(product, start="2026-01-15", officer=ob)

    async def summary(caller: Any = None, **request: Any) -> Any:
        return await credit.rpc("GetCollectionSummary", caller or credit.admin, **request)

    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-15")
    await credit.rpc("PostRepayment", ob, loan_id=e.id, amount="4074.40", external_ref="E-1")
    # an interrupted run (the quiet loan E, then one more) resumes: each loan is seen once
    partial = await _cob(credit, "2026-02-16", max_batches=2, batch_size=1)
    assert not partial.completed
    done = await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-16", batch_size=1)
    assert done.completed and done.loans_processed == 5
    opened = await summary()
    assert _figures(opened.total) == (4, 0, 0, 4, "0.0000", "0.0000", "16302.48", "0.00")
    # a rerun of the date adds nothing
    await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-16")
    assert (await summary()).total == opened.total

    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-20")
    # A: the arrears and installment 2 ahead; only the arrears count as recovered
    paid = await credit.rpc("PostRepayment", oa, loan_id=a.id, amount="8120.42", external_ref="A-1")
    assert paid.loan.overdue_amount == "0.00" and paid.loan.dpd == 0
    # the bank redelivers the same payment: replayed, nothing cured twice
    again = await credit.rpc("PostRepayment", oa, loan_id=a.id, amount="8120.42", external_ref="A-1")
    assert again.replayed
    # C: cured, then the payment bounces and is reversed: the cure is withdrawn
    bounced = await credit.rpc("PostRepayment", oa, loan_id=c.id, amount="4075.62", external_ref="C-1")
    assert _figures((await summary()).total)[:4] == (4, 2, 2, 2)
    await credit.rpc("ReverseRepayment", supervisor, repayment_id=bounced.repayment.id, reason="退票")
    assert _figures((await summary()).total) == (4, 1, 1, 3, "0.2500", "0.2500", "16302.48", "4075.62")
    # the reversed payment redelivered does not cure it either
    assert (await credit.rpc("PostRepayment", oa, loan_id=c.id, amount="4075.62", external_ref="C-1")).replayed
    assert (await summary()).total.cured == 1

    # 18 March: E falls behind on installment 2 (a new episode), B and C reach 31 DPD, nothing else opens
    await _cob(credit, "2026-03-18")
    await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-03-18")
    assert [(await credit.rpc("GetLoan", ob, loan_id=x.id)).loan.dpd for x in (b, e)] == [31, 3]
    late = (await credit.rpc("GetLoan", od, loan_id=d.id)).loan
    assert (late.dpd, late.overdue_amount) == (31, "8160.73")
    await credit.rpc("PostRepayment", od, loan_id=d.id, amount="9000", external_ref="D-1")

    s = await summary()
    assert s.business_date == "2026-03-18"
    assert _figures(s.total) == (5, 2, 1, 3, "0.4000", "0.2000", "20350.92", "12236.35")
    assert [(x.key, *_figures(x)) for x in s.by_branch] == [
        ("B1", 4, 1, 1, 3, "0.2500", "0.2500", "16275.30", "4075.62"),
        ("B2", 1, 1, 0, 0, "1.0000", "0.0000", "4075.62", "8160.73"),
    ]
    assert [(x.officer_id, x.branch_id, *_figures(x)[:5]) for x in s.by_officer] == [
        (oa.user_id, "B1", 2, 1, 1, 1, "0.5000"),
        (ob.user_id, "B1", 2, 0, 0, 2, "0.0000"),
        (od.user_id, "B2", 1, 1, 0, 0, "1.0000"),
    ]

    # a period counts the episodes whose first day past due falls in it
    february = await summary(from_date="2026-02-01", to_date="2026-02-28")
    assert _figures(february.total)[:5] == (4, 2, 1, 2, "0.5000")
    march = await summary(from_date="2026-03-01", to_date="2026-03-31")
    assert _figures(march.total) == (1, 0, 0, 1, "0.0000", "0.0000", "4048.44", "0.00")
    assert [x.officer_id for x in march.by_officer] == [ob.user_id]

    # branch scope: a B1 officer sees B1 whatever they ask for; B2 looks like a branch without arrears
    mine = await summary(credit.officer)
    assert (mine.branch_id, mine.total.started, [x.key for x in mine.by_branch]) == ("B1", 4, ["B1"])
    other = await summary(credit.officer, branch_id="B2")
    assert _figures(other.total) == (0, 0, 0, 0, "0.0000", "0.0000", "0.00", "0.00")
    assert list(other.by_branch) == [] and list(other.by_officer) == []
    b2 = await summary(credit.staff("auditor", branch_id=""), branch_id="B2")
    assert _figures(b2.total)[:2] == (1, 1)

    denied = await credit.refused("GetCollectionSummary", credit.staff("committee_member"))
    assert denied.status == "PERMISSION_DENIED"
    backwards = await credit.refused("GetCollectionSummary", credit.admin, from_date="2026-03-01", to_date="2026-02-01")
    assert backwards.violations[0].field == "to_date"
    garbled = await credit.refused("GetCollectionSummary", credit.admin, from_date="2026-02-30")
    assert garbled.violations[0].field == "from_date"
