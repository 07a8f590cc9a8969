"""The lending lifecycle over real gRPC, PostgreSQL and the outbox: application to COB."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from typing import Any

import pytest
from granary.v1 import credit_pb2
from sqlalchemy import select

from services.common import messaging_schema
from tests.integration.credit.support import Credit

pytestmark = pytest.mark.integration


async def test_application_lifecycle_opinions_events_and_illegal_transitions(credit: Credit) -> None:
    product = await credit.product()
    key = uuid.uuid4().hex
    fields = {
        "party_id": "party-a",
        "household_id": "hh-a",
        "product_id": product.id,
        "amount": "80000",
        "term_months": 12,
        "guarantee_method": "保证",
        "guarantor_ids": ["party-g"],
        "idempotency_key": key,
    }
    first = await credit.rpc("SubmitApplication", credit.officer, **fields)
    assert first.application.status == "submitted" and not first.replayed
    assert first.application.product_version == 1
    again = await credit.rpc("SubmitApplication", credit.officer, **fields)
    assert again.replayed and again.application.id == first.application.id
    app_id = first.application.id

    # illegal transitions are refused with the reason and a clear message
    refused = await credit.refused("TransitionApplication", credit.supervisor, application_id=app_id, action="approve")
    assert refused.status == "FAILED_PRECONDITION"
    assert "cannot approve an application that is submitted" in refused.message
    await credit.rpc("TransitionApplication", credit.supervisor, application_id=app_id, action="start_review")
    refused = await credit.refused("TransitionApplication", credit.supervisor, application_id=app_id, action="reject")
    assert refused.status == "INVALID_ARGUMENT" and refused.violations[0].field == "comment"
    await credit.rpc(
        "AddApprovalOpinion",
        credit.supervisor,
        application_id=app_id,
        node="survey",
        decision="comment",
        comment="实地调查属实",
    )
    await credit.rpc(
        "TransitionApplication",
        credit.president,
        application_id=app_id,
        action="return",
        node="approve-1",
        comment="补充材料",
    )
    await credit.rpc("TransitionApplication", credit.officer, application_id=app_id, action="submit")
    await credit.rpc("TransitionApplication", credit.supervisor, application_id=app_id, action="start_review")
    approved = await credit.rpc(
        "TransitionApplication",
        credit.president,
        application_id=app_id,
        action="approve",
        node="approve-1",
        comment="同意",
    )
    assert approved.application.status == "approved"
    assert [(o.node, o.decision, o.role) for o in approved.application.opinions] == [
        ("survey", "comment", "supervisor"),
        ("approve-1", "return", "president"),
        ("approve-1", "approve", "president"),
    ]
    refused = await credit.refused("TransitionApplication", credit.officer, application_id=app_id, action="submit")
    assert "allowed only from draft, returned" in refused.message
    # a product change makes a new version; the application keeps its own
    await credit.product(code=product.code, max_amount="900000")
    assert (await credit.rpc("GetApplication", credit.officer, application_id=app_id)).application.product_version == 1

    submitted = await credit.events("credit.application.submitted")
    assert [e.application_id for e in submitted] == [app_id, app_id]
    [event] = await credit.events("credit.application.approved")
    assert (event.party_id, event.product_id, event.amount, event.branch_id) == (
        "party-a",
        product.id,
        "80000.00",
        "B1",
    )
    assert event.managing_officer_id == credit.officer.user_id
    assert len(await credit.events("credit.application.returned")) == 1

    # other branches do not see it
    other = credit.staff("officer", branch_id="B2")
    assert (await credit.refused("GetApplication", other, application_id=app_id)).status == "NOT_FOUND"


async def test_product_limit_violations_on_submit_name_field_and_limit(credit: Credit) -> None:
    product = await credit.product()
    base = {"party_id": "p", "product_id": product.id, "amount": "5000", "term_months": 6, "guarantee_method": "信用"}
    cases = [
        ({"amount": "999.99"}, "amount", "at least 1000.00"),
        ({"amount": "500000.01"}, "amount", "at most 500000.00"),
        ({"term_months": 2}, "term_months", "at least 3 months"),
        ({"term_months": 37}, "term_months", "at most 36 months"),
        ({"guarantee_method": "联保"}, "guarantee_method", "信用, 保证, 抵押"),
        ({"guarantee_method": "抵押"}, "collateral", "collateral"),
        ({"product_id": "nope"}, "product_id", "no such product"),
        ({"idempotency_key": ""}, "idempotency_key", "is required"),
    ]
    for overrides, field, fragment in cases:
        fields = {**base, "idempotency_key": uuid.uuid4().hex, **overrides}
        error = await credit.refused("SubmitApplication", credit.officer, **fields)
        assert error.status == "INVALID_ARGUMENT", overrides
        assert error.violations[0].field == field
        assert fragment in error.violations[0].description


async def test_contract_rendering_signing_disbursement_and_exposure(credit: Credit) -> None:
    product = await credit.product(repayment_method=credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT, annual_rate="0.06")
    line = (
        await credit.rpc(
            "CreateCreditLine",
            credit.supervisor,
            party_id="party-x",
            limit="100000",
            valid_until="2027-01-15",
            revolving=True,
        )
    ).credit_line
    exposure = await credit.rpc("GetPartyExposure", credit.system, party_id="party-x", additional_amount="30000")
    assert (exposure.outstanding, exposure.line_limits, exposure.additional, exposure.total) == (
        "0.00",
        "100000.00",
        "30000.00",
        "130000.00",
    )
    app = (
        await credit.rpc(
            "SubmitApplication",
            credit.officer,
            party_id="party-x",
            product_id=product.id,
            amount="30000",
            term_months=12,
            guarantee_method="信用",
            idempotency_key=uuid.uuid4().hex,
            credit_line_id=line.id,
        )
    ).application
    refused = await credit.refused("GenerateContract", credit.officer, application_id=app.id, template_code="LOAN")
    assert refused.status == "FAILED_PRECONDITION"
    for action in ("start_review", "approve"):
        await credit.rpc("TransitionApplication", credit.supervisor, application_id=app.id, action=action)
    refused = await credit.refused("DisburseLoan", credit.supervisor, application_id=app.id, external_ref="T1")
    assert "cannot disburse an application that is approved" in refused.message
    contract = (
        await credit.rpc("GenerateContract", credit.officer, application_id=app.id, template_code="LOAN")
    ).contract
    assert "金额 30000.00 元 期限 12 个月 年利率 0.06 还款方式 等额本息" in contract.content
    assert contract.content_hash == hashlib.sha256(contract.content.encode()).hexdigest()
    bad = await credit.refused(
        "SignContract",
        credit.officer,
        contract_id=contract.id,
        method="manual",
        evidence_ref="",
        content_hash=contract.content_hash,
    )
    assert bad.violations[0].field == "evidence_ref"
    bad = await credit.refused(
        "SignContract",
        credit.officer,
        contract_id=contract.id,
        method="electronic",
        evidence_ref="es-1",
        content_hash="0" * 64,
    )
    assert bad.violations[0].field == "content_hash"
    signed = await credit.rpc(
        "SignContract",
        credit.officer,
        contract_id=contract.id,
        method="electronic",
        evidence_ref="esign-tx-9",
        content_hash=contract.content_hash,
    )
    assert signed.contract.status == "signed" and signed.contract.signed_by == credit.officer.user_id
    loan = (await credit.rpc("DisburseLoan", credit.supervisor, application_id=app.id, external_ref="T1")).loan
    again = (await credit.rpc("DisburseLoan", credit.supervisor, application_id=app.id, external_ref="T1")).loan
    assert again.id == loan.id
    assert len(loan.installments) == 12
    # the same generator as the quote: 30000 at 6 % over 12 months → 2581.99 a month
    assert {i.total for i in loan.installments[:-1]} == {"2581.99"}
    quote = await credit.rpc(
        "QuoteSchedule",
        credit.officer,
        product_id=product.id,
        amount="30000",
        term_months=12,
        start_date="2026-01-15",
    )
    assert [i.total for i in quote.installments] == [i.total for i in loan.installments]
    assert (
        await credit.rpc("GetCreditLine", credit.officer, credit_line_id=line.id)
    ).credit_line.available == "70000.00"
    exposure = await credit.rpc("GetPartyExposure", credit.system, party_id="party-x", additional_amount="10000")
    assert (exposure.outstanding, exposure.line_limits, exposure.total) == ("30000.00", "70000.00", "110000.00")
    async with credit.host.engine.connect() as conn:
        types = [r.event_type for r in await conn.execute(select(messaging_schema.outbox.c.event_type))]
    assert types.count("credit.loan.disbursed") == 1
    assert "credit.contract.signed" in types and "credit.application.contracted" in types


async def test_repayments_allocation_partial_early_over_reversal_and_repeated_reference(credit: Credit) -> None:
    product = await credit.product()
    loan = await credit.loan(product, amount="12000", term=3, start="2026-01-15")
    # 12000 equal principal at 7.2 % ACT/360: 4000 a month; 31 days of interest on 12000 = 74.40
    first = loan.installments[0]
    assert (first.due_date, first.principal, first.interest) == ("2026-02-15", "4000.00", "74.40")

    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-15")
    partial = await credit.rpc("PostRepayment", credit.officer, loan_id=loan.id, amount="1000", external_ref="BANK-1")
    assert [(a.installment_number, a.component, a.amount) for a in partial.repayment.allocations] == [
        (1, "interest", "74.40"),
        (1, "principal", "925.60"),
    ]
    assert partial.loan.outstanding_principal == "11074.40"
    repeat = await credit.rpc("PostRepayment", credit.officer, loan_id=loan.id, amount="1000", external_ref="BANK-1")
    assert repeat.replayed and repeat.repayment.id == partial.repayment.id
    assert repeat.loan.outstanding_principal == "11074.40"
    clash = await credit.refused("PostRepayment", credit.officer, loan_id=loan.id, amount="5", external_ref="BANK-1")
    assert clash.status == "ALREADY_EXISTS"

    # early: the rest of installment 1 and part of installment 2 ahead of its due date
    early = await credit.rpc("PostRepayment", credit.officer, loan_id=loan.id, amount="5000", external_ref="BANK-2")
    allocations = [(a.installment_number, a.component, a.amount) for a in early.repayment.allocations]
    assert allocations[0] == (1, "principal", "3074.40")
    assert allocations[1][0:2] == (2, "interest")
    assert early.loan.installments[0].outstanding == "0.00"

    # reversal of the first repayment re-allocates the second from scratch
    reversed_ = await credit.rpc(
        "ReverseRepayment", credit.supervisor, repayment_id=partial.repayment.id, reason="退票"
    )
    assert reversed_.repayment.status == "reversed"
    assert reversed_.loan.installments[0].outstanding == "0.00"
    # 5000 now pays installment 1 (4074.40), then installment 2's interest (8000 × 7.2 % × 28 / 360 = 44.80)
    # and 880.80 of its principal
    assert reversed_.loan.outstanding_principal == "7119.20"
    listed = (await credit.rpc("ListRepayments", credit.officer, loan_id=loan.id)).repayments
    second = next(r for r in listed if r.id == early.repayment.id)
    assert [(a.installment_number, a.component) for a in second.allocations][:2] == [(1, "interest"), (1, "principal")]
    again = await credit.refused("ReverseRepayment", credit.supervisor, repayment_id=partial.repayment.id, reason="x")
    assert again.status == "FAILED_PRECONDITION"
    assert (
        await credit.refused("ReverseRepayment", credit.officer, repayment_id=early.repayment.id, reason="x")
    ).status == "PERMISSION_DENIED"

    # over-payment closes the loan and keeps the excess as a credit
    big = await credit.rpc("PostRepayment", credit.officer, loan_id=loan.id, amount="20000", external_ref="BANK-3")
    assert big.loan.status == "closed"
    assert big.loan.outstanding_principal == "0.00"
    total_due = sum(float(i.principal) + float(i.interest) for i in loan.installments)
    assert float(big.loan.overpaid) == pytest.approx(5000 + 20000 - total_due, abs=0.001)
    closed = await credit.refused("PostRepayment", credit.officer, loan_id=loan.id, amount="1", external_ref="BANK-4")
    assert closed.status == "FAILED_PRECONDITION"
    bad = await credit.refused("PostRepayment", credit.officer, loan_id=loan.id, amount="1", external_ref="")
    assert bad.violations[0].field == "external_ref"


async def test_close_of_business_dpd_buckets_classes_events_rerun_and_resume(credit: Credit) -> None:
    product = await credit.product()
    loans = [await credit.loan(product, amount="12000", term=3, start="2026-01-15") for _ in range(3)]
    watched = loans[0]

    async def cob(day: str, **extra: Any) -> Any:
        await credit.rpc("SetBusinessDate", credit.admin, business_date=day)
        return await credit.rpc("RunCloseOfBusiness", credit.system, business_date=day, **extra)

    # 13 Feb: two days before the first due date → one due_soon per loan
    result = await cob("2026-02-13")
    assert result.completed and result.loans_processed == 3
    assert len(await credit.events("credit.loan.due_soon")) == 3
    # rerun of the same date: nothing processed, nothing emitted
    rerun = await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-13")
    assert rerun.completed
    assert len(await credit.events("credit.loan.due_soon")) == 3

    # 16 Feb: 1 day past due → M1, special mention, overdue event at threshold 1
    await cob("2026-02-14")
    await cob("2026-02-15")
    await cob("2026-02-16")
    state = (await credit.rpc("GetLoan", credit.officer, loan_id=watched.id)).loan
    assert (state.dpd, state.bucket, state.classification) == (1, "M1", "special_mention")
    overdue = await credit.events("credit.loan.overdue")
    assert sorted(e.threshold for e in overdue) == [1, 1, 1]
    mine = next(e for e in overdue if e.loan_id == watched.id)
    # 4074.40 due plus one day of penalty at 7.2 % × 1.5: 4074.40 × 0.108 / 360 = 1.22
    assert (mine.dpd, mine.bucket, mine.overdue_amount, mine.branch_id) == (1, "M1", "4075.62", "B1")
    assert mine.managing_officer_id == credit.officer.user_id
    assert len(await credit.events("credit.loan.class_changed")) == 3

    # an interrupted run (one batch of one loan) resumes and emits each loan's events once
    partial = await cob("2026-03-18", max_batches=1, batch_size=1)
    assert not partial.completed and partial.loans_processed == 1
    resumed = await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-03-18", batch_size=1)
    assert resumed.completed and resumed.loans_processed == 3
    state = (await credit.rpc("GetLoan", credit.officer, loan_id=watched.id)).loan
    assert (state.dpd, state.bucket) == (31, "M2")
    overdue = await credit.events("credit.loan.overdue")
    per_loan = [e for e in overdue if e.loan_id == watched.id]
    assert [e.threshold for e in per_loan] == [1, 30]  # 3 and 30 crossed on one date: one event
    assert len(overdue) == 6
    # penalty accrued on the overdue installments
    assert float(state.installments[0].penalty) > 0

    # past 90 days: substandard floor
    await cob("2026-05-17")
    state = (await credit.rpc("GetLoan", credit.officer, loan_id=watched.id)).loan
    assert (state.dpd, state.bucket, state.classification) == (91, "M4+", "substandard")
    # 60 and 90 crossed on the same business date: one event, naming the highest threshold
    assert [e.threshold for e in await credit.events("credit.loan.overdue") if e.loan_id == watched.id] == [1, 30, 90]

    # the overdue list by bucket with branch scope
    listed = await credit.rpc("ListLoans", credit.officer, bucket="M4+")
    assert {loan.id for loan in listed.loans} == {loan.id for loan in loans}
    other = credit.staff("officer", branch_id="B2")
    assert list((await credit.rpc("ListLoans", other, bucket="M4+")).loans) == []

    # manual override: reason and a second person's approval; never better than the floor
    worse = await credit.refused(
        "RequestClassOverride", credit.officer, loan_id=watched.id, classification="normal", reason="x"
    )
    assert worse.violations[0].field == "classification"
    requester = credit.staff("risk_director")
    await credit.rpc(
        "RequestClassOverride", requester, loan_id=watched.id, classification="doubtful", reason="抵押物灭失"
    )
    self_approve = await credit.refused("ApproveClassOverride", requester, loan_id=watched.id, approve=True)
    assert self_approve.status == "PERMISSION_DENIED"
    approved = await credit.rpc("ApproveClassOverride", credit.staff("risk_director"), loan_id=watched.id, approve=True)
    assert approved.loan.classification == "doubtful"

    # COB for a date after the business date is refused
    future = await credit.refused("RunCloseOfBusiness", credit.system, business_date="2026-12-31")
    assert future.violations[0].field == "business_date"
    assert date.fromisoformat(state.last_cob_date) == date(2026, 5, 17)


async def test_village_campaign_grants_lines_in_one_batch(credit: Credit) -> None:
    households = [
        credit_pb2.CampaignHousehold(household_id=f"hh-{i}", party_id=f"p-{i}", rating="A", proposed_limit="50000")
        for i in range(5)
    ]
    campaign = (
        await credit.rpc(
            "CreateVillageCampaign",
            credit.officer,
            village_code="330102001",
            village_name="李家村",
            households=households,
            valid_until="2029-01-15",
            revolving=True,
        )
    ).campaign
    assert campaign.status == "draft" and campaign.total_limit == "250000.00"
    assert (await credit.refused("ApproveVillageCampaign", credit.officer, campaign_id=campaign.id)).status == (
        "PERMISSION_DENIED"
    )
    approved = (await credit.rpc("ApproveVillageCampaign", credit.president, campaign_id=campaign.id)).campaign
    assert approved.status == "approved"
    assert all(h.credit_line_id for h in approved.households)
    lines = (await credit.rpc("ListCreditLines", credit.officer, campaign_id=campaign.id)).credit_lines
    assert len(lines) == 5 and {line.limit for line in lines} == {"50000.00"}
    twice = await credit.refused("ApproveVillageCampaign", credit.president, campaign_id=campaign.id)
    assert twice.status == "FAILED_PRECONDITION"
    duplicate = await credit.refused(
        "CreateVillageCampaign",
        credit.officer,
        village_code="1",
        households=[households[0], households[0]],
        valid_until="2029-01-15",
    )
    assert duplicate.violations[0].field == "households[1].household_id"
