"""The customer 360° view's calls: applications and loans of one party, within the caller's branch."""

from __future__ import annotations

import pytest

from tests.integration.credit.support import Credit

pytestmark = pytest.mark.integration


async def test_list_applications_and_loans_filtered_by_party(credit: Credit) -> None:
    product = await credit.product()
    mine_loan = await credit.loan(product, amount="20000", start="2026-01-15", party_id="party-p")
    mine_open = await credit.application(product, amount="8000", party_id="party-p")
    other_loan = await credit.loan(product, amount="30000", start="2026-01-15", party_id="party-q")
    await credit.application(product, amount="9000", party_id="party-q")

    apps = (await credit.rpc("ListApplications", credit.officer, party_id="party-p")).applications
    assert sorted((a.amount, a.status) for a in apps) == [("20000.00", "disbursed"), ("8000.00", "submitted")]
    assert mine_open.id in {a.id for a in apps}
    loans = (await credit.rpc("ListLoans", credit.officer, party_id="party-p")).loans
    assert [(loan.id, loan.principal) for loan in loans] == [(mine_loan.id, "20000.00")]
    assert other_loan.id not in {loan.id for loan in loans}

    # the filter holds across pages
    first = await credit.rpc("ListApplications", credit.officer, party_id="party-p", page_size=1)
    assert len(first.applications) == 1 and first.next_page_token
    second = await credit.rpc(
        "ListApplications", credit.officer, party_id="party-p", page_size=1, page_token=first.next_page_token
    )
    assert {first.applications[0].id, second.applications[0].id} == {a.id for a in apps}
    assert not second.next_page_token

    # combined with other filters, and with the service identity the 360° view uses
    submitted = (
        await credit.rpc("ListApplications", credit.system, party_id="party-p", status="submitted")
    ).applications
    assert [a.id for a in submitted] == [mine_open.id]
    assert [loan.id for loan in (await credit.rpc("ListLoans", credit.system, party_id="party-q")).loans] == [
        other_loan.id
    ]

    # another branch's officer sees no applications or loans of the party; unknown parties give empty lists
    outsider = credit.staff("officer", branch_id="B2")
    assert list((await credit.rpc("ListApplications", outsider, party_id="party-p")).applications) == []
    assert list((await credit.rpc("ListLoans", outsider, party_id="party-p")).loans) == []
    assert list((await credit.rpc("ListLoans", credit.officer, party_id="party-none")).loans) == []
