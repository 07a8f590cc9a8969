"""Close of business closes "quiet" loans set-based: they must end exactly as the per-loan path
would leave them, and a loan that only looks quiet (cured, still classified 关注) must not be
skipped."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.credit.support import Credit

pytestmark = pytest.mark.integration


async def _cob(credit: Credit, day: str) -> Any:
    await credit.rpc("SetBusinessDate", credit.admin, business_date=day)
    return await credit.rpc("RunCloseOfBusiness", credit.system, business_date=day, batch_size=2)


async def test_quiet_loans_are_closed_without_events_and_cured_loans_are_reclassified(credit: Credit) -> None:
    product = await credit.product()
    cured = await credit.loan(product, amount="12000", start="2026-01-15")
    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-01")
    quiet = [await credit.loan(product, amount="6000", start="2026-02-01") for _ in range(3)]

    # 16 Feb: the first loan is 1 day past due (关注); the others are due on 1 March: quiet
    first = await _cob(credit, "2026-02-16")
    assert first.completed and first.loans_processed == 4
    assert [e.loan_id for e in await credit.events("credit.loan.class_changed")] == [cured.id]
    for loan in quiet:
        state = (await credit.rpc("GetLoan", credit.officer, loan_id=loan.id)).loan
        assert (state.last_cob_date, state.dpd, state.bucket, state.classification) == (
            "2026-02-16",
            0,
            "current",
            "normal",
        )
    assert (await credit.events("credit.loan.due_soon")) == []

    # the borrower pays installment 1 with its penalty: DPD 0 again, but still classified 关注
    await credit.rpc("PostRepayment", credit.officer, loan_id=cured.id, amount="4100", external_ref="CURE-1")
    paid = (await credit.rpc("GetLoan", credit.officer, loan_id=cured.id)).loan
    assert (paid.dpd, paid.bucket, paid.classification) == (0, "current", "special_mention")

    # the next close of business reclassifies it (one class_changed) and leaves the quiet ones quiet
    second = await _cob(credit, "2026-02-17")
    assert second.completed and second.loans_processed == 4 and second.events_emitted == 1
    changed = await credit.events("credit.loan.class_changed")
    assert [(e.loan_id, e.previous_class, e.classification) for e in changed][-1] == (
        cured.id,
        "special_mention",
        "normal",
    )
    assert (await credit.rpc("GetLoan", credit.officer, loan_id=cured.id)).loan.classification == "normal"

    # 26 Feb: the quiet loans' installment falls due within 3 days: each gets its reminder once
    third = await _cob(credit, "2026-02-26")
    assert third.loans_processed == 4
    reminders = await credit.events("credit.loan.due_soon")
    assert sorted(e.loan_id for e in reminders) == sorted(loan.id for loan in quiet)
    assert {e.due_date for e in reminders} == {"2026-03-01"}
    await _cob(credit, "2026-02-27")
    assert len(await credit.events("credit.loan.due_soon")) == 3
    # 2 March: 1 day past due, none skipped
    await _cob(credit, "2026-03-02")
    overdue = await credit.events("credit.loan.overdue")
    assert {e.loan_id for e in overdue if e.business_date == "2026-03-02"} == {loan.id for loan in quiet}
