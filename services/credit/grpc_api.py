"""CreditService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from granary.v1 import credit_pb2, credit_pb2_grpc

from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.credit import service
from services.credit.domain import collection, portfolio
from services.credit.domain.product import method_from_column
from services.credit.domain.schedule import Installment as ScheduleInstallment
from services.credit.domain.schedule import Schedule
from services.credit.models import (
    ApplicationRow,
    ApprovalOpinionRow,
    CampaignHouseholdRow,
    ContractRow,
    ContractTemplateRow,
    CreditLineRow,
    InstallmentRow,
    LoanRow,
    ProductRow,
    RepaymentRow,
    VillageCampaignRow,
)

# grpc ships no type stubs: the context is typed as an explicit alias.


class CreditServicer(credit_pb2_grpc.CreditServiceServicer):
    def __init__(self, *, uow: Callable[[], service.CreditUnitOfWork], policy: service.CobPolicy | None = None) -> None:
        self._uow = uow
        self._policy = policy or service.CobPolicy()

    # ------------------------------------------------------------------ products

    async def CreateProduct(
        self, request: credit_pb2.CreateProductRequest, context: ServicerContext
    ) -> credit_pb2.CreateProductResponse:
        has_rounding = bool(request.rounding_scale or request.rounding_mode)
        product = await service.create_product(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewProduct(
                code=request.code,
                name=request.name,
                purpose=request.purpose,
                min_amount=request.min_amount,
                max_amount=request.max_amount,
                min_term_months=request.min_term_months,
                max_term_months=request.max_term_months,
                annual_rate=request.annual_rate,
                # Unspecified or unknown enum numbers map to None; the domain names the field.
                repayment_method=service.METHOD_FROM_PROTO.get(request.repayment_method),
                rate_type=request.rate_type,
                lpr=request.lpr,
                spread=request.spread,
                day_count=request.day_count,
                frequency=request.frequency,
                principal_grace_periods=request.principal_grace_periods,
                interest_grace_periods=request.interest_grace_periods,
                penalty_markup=request.penalty_markup,
                guarantee_types=tuple(request.guarantee_types),
                rounding_scale=request.rounding_scale if has_rounding else None,
                rounding_mode=request.rounding_mode,
                allocation_order=tuple(request.allocation_order),
            ),
        )
        return credit_pb2.CreateProductResponse(product=product_to_proto(product))

    async def GetProduct(
        self, request: credit_pb2.GetProductRequest, context: ServicerContext
    ) -> credit_pb2.GetProductResponse:
        product = await service.get_product(uow=self._uow(), caller=require_caller(), product_id=request.product_id)
        return credit_pb2.GetProductResponse(product=product_to_proto(product))

    async def ListProducts(
        self, request: credit_pb2.ListProductsRequest, context: ServicerContext
    ) -> credit_pb2.ListProductsResponse:
        rows = await service.list_products(
            uow=self._uow(), caller=require_caller(), all_versions=request.all_versions, code=request.code
        )
        return credit_pb2.ListProductsResponse(products=[product_to_proto(p) for p in rows])

    async def QuoteSchedule(
        self, request: credit_pb2.QuoteScheduleRequest, context: ServicerContext
    ) -> credit_pb2.QuoteScheduleResponse:
        schedule = await service.quote_schedule(
            uow=self._uow(),
            caller=require_caller(),
            request=service.QuoteRequest(
                product_id=request.product_id,
                amount=request.amount,
                term_months=request.term_months,
                start_date=request.start_date,
                annual_rate=request.annual_rate,
                day_count=request.day_count,
            ),
        )
        return quote_to_proto(schedule)

    # ------------------------------------------------------------------ applications

    async def SubmitApplication(
        self, request: credit_pb2.SubmitApplicationRequest, context: ServicerContext
    ) -> credit_pb2.SubmitApplicationResponse:
        view, replayed = await service.submit_application(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewApplication(
                party_id=request.party_id,
                household_id=request.household_id,
                product_id=request.product_id,
                amount=request.amount,
                term_months=request.term_months,
                purpose=request.purpose,
                guarantee_method=request.guarantee_method,
                guarantor_ids=tuple(request.guarantor_ids),
                collateral=tuple(request.collateral),
                idempotency_key=request.idempotency_key,
                draft=request.draft,
                credit_line_id=request.credit_line_id,
                branch_id=request.branch_id,
                managing_officer_id=request.managing_officer_id,
            ),
        )
        return credit_pb2.SubmitApplicationResponse(application=application_to_proto(view), replayed=replayed)

    async def GetApplication(
        self, request: credit_pb2.GetApplicationRequest, context: ServicerContext
    ) -> credit_pb2.GetApplicationResponse:
        view = await service.get_application(
            uow=self._uow(), caller=require_caller(), application_id=request.application_id
        )
        return credit_pb2.GetApplicationResponse(application=application_to_proto(view))

    async def ListApplications(
        self, request: credit_pb2.ListApplicationsRequest, context: ServicerContext
    ) -> credit_pb2.ListApplicationsResponse:
        rows, token = await service.list_applications(
            uow=self._uow(),
            caller=require_caller(),
            status=request.status,
            party_id=request.party_id,
            size=request.page_size,
            token=request.page_token,
        )
        return credit_pb2.ListApplicationsResponse(
            applications=[application_to_proto(service.ApplicationView(r)) for r in rows], next_page_token=token
        )

    async def TransitionApplication(
        self, request: credit_pb2.TransitionApplicationRequest, context: ServicerContext
    ) -> credit_pb2.TransitionApplicationResponse:
        view = await service.transition_application(
            uow=self._uow(),
            caller=require_caller(),
            application_id=request.application_id,
            action=request.action,
            node=request.node,
            comment=request.comment,
            actor_id=request.actor_id,
            actor_role=request.actor_role,
        )
        return credit_pb2.TransitionApplicationResponse(application=application_to_proto(view))

    async def AddApprovalOpinion(
        self, request: credit_pb2.AddApprovalOpinionRequest, context: ServicerContext
    ) -> credit_pb2.AddApprovalOpinionResponse:
        opinion = await service.add_approval_opinion(
            uow=self._uow(),
            caller=require_caller(),
            application_id=request.application_id,
            node=request.node,
            decision=request.decision,
            comment=request.comment,
            actor_id=request.actor_id,
            actor_role=request.actor_role,
        )
        return credit_pb2.AddApprovalOpinionResponse(opinion=opinion_to_proto(opinion))

    async def GetPartyExposure(
        self, request: credit_pb2.GetPartyExposureRequest, context: ServicerContext
    ) -> credit_pb2.GetPartyExposureResponse:
        exposure = await service.get_party_exposure(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            household_id=request.household_id,
            additional_amount=request.additional_amount,
        )
        return credit_pb2.GetPartyExposureResponse(
            outstanding=_amount(exposure.outstanding),
            line_limits=_amount(exposure.line_limits),
            additional=_amount(exposure.additional),
            total=_amount(exposure.total),
        )

    # ------------------------------------------------------------------ lines and campaigns

    async def CreateCreditLine(
        self, request: credit_pb2.CreateCreditLineRequest, context: ServicerContext
    ) -> credit_pb2.CreateCreditLineResponse:
        line = await service.create_credit_line(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewCreditLine(
                party_id=request.party_id,
                household_id=request.household_id,
                limit=request.limit,
                valid_from=request.valid_from,
                valid_until=request.valid_until,
                revolving=request.revolving,
                branch_id=request.branch_id,
            ),
        )
        return credit_pb2.CreateCreditLineResponse(credit_line=line_to_proto(line))

    async def GetCreditLine(
        self, request: credit_pb2.GetCreditLineRequest, context: ServicerContext
    ) -> credit_pb2.GetCreditLineResponse:
        line = await service.get_credit_line(
            uow=self._uow(), caller=require_caller(), credit_line_id=request.credit_line_id
        )
        return credit_pb2.GetCreditLineResponse(credit_line=line_to_proto(line))

    async def ListCreditLines(
        self, request: credit_pb2.ListCreditLinesRequest, context: ServicerContext
    ) -> credit_pb2.ListCreditLinesResponse:
        rows, token = await service.list_credit_lines(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            household_id=request.household_id,
            campaign_id=request.campaign_id,
            size=request.page_size,
            token=request.page_token,
        )
        return credit_pb2.ListCreditLinesResponse(credit_lines=[line_to_proto(r) for r in rows], next_page_token=token)

    async def CreateVillageCampaign(
        self, request: credit_pb2.CreateVillageCampaignRequest, context: ServicerContext
    ) -> credit_pb2.CreateVillageCampaignResponse:
        campaign, households = await service.create_village_campaign(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewCampaign(
                village_code=request.village_code,
                village_name=request.village_name,
                households=tuple(
                    service.ProposedHousehold(h.household_id, h.party_id, h.rating, h.proposed_limit)
                    for h in request.households
                ),
                valid_from=request.valid_from,
                valid_until=request.valid_until,
                revolving=request.revolving,
                branch_id=request.branch_id,
            ),
        )
        return credit_pb2.CreateVillageCampaignResponse(campaign=campaign_to_proto(campaign, households))

    async def GetVillageCampaign(
        self, request: credit_pb2.GetVillageCampaignRequest, context: ServicerContext
    ) -> credit_pb2.GetVillageCampaignResponse:
        campaign, households = await service.get_village_campaign(
            uow=self._uow(), caller=require_caller(), campaign_id=request.campaign_id
        )
        return credit_pb2.GetVillageCampaignResponse(campaign=campaign_to_proto(campaign, households))

    async def ApproveVillageCampaign(
        self, request: credit_pb2.ApproveVillageCampaignRequest, context: ServicerContext
    ) -> credit_pb2.ApproveVillageCampaignResponse:
        campaign, households = await service.approve_village_campaign(
            uow=self._uow(), caller=require_caller(), campaign_id=request.campaign_id, comment=request.comment
        )
        return credit_pb2.ApproveVillageCampaignResponse(campaign=campaign_to_proto(campaign, households))

    # ------------------------------------------------------------------ contracts

    async def CreateContractTemplate(
        self, request: credit_pb2.CreateContractTemplateRequest, context: ServicerContext
    ) -> credit_pb2.CreateContractTemplateResponse:
        row = await service.create_contract_template(
            uow=self._uow(), caller=require_caller(), code=request.code, body=request.body
        )
        return credit_pb2.CreateContractTemplateResponse(template=template_to_proto(row))

    async def GenerateContract(
        self, request: credit_pb2.GenerateContractRequest, context: ServicerContext
    ) -> credit_pb2.GenerateContractResponse:
        row = await service.generate_contract(
            uow=self._uow(),
            caller=require_caller(),
            application_id=request.application_id,
            template_code=request.template_code,
        )
        return credit_pb2.GenerateContractResponse(contract=contract_to_proto(row))

    async def GetContract(
        self, request: credit_pb2.GetContractRequest, context: ServicerContext
    ) -> credit_pb2.GetContractResponse:
        row = await service.get_contract(uow=self._uow(), caller=require_caller(), contract_id=request.contract_id)
        return credit_pb2.GetContractResponse(contract=contract_to_proto(row))

    async def SignContract(
        self, request: credit_pb2.SignContractRequest, context: ServicerContext
    ) -> credit_pb2.SignContractResponse:
        row = await service.sign_contract(
            uow=self._uow(),
            caller=require_caller(),
            contract_id=request.contract_id,
            method=request.method,
            evidence_ref=request.evidence_ref,
            content_hash=request.content_hash,
        )
        return credit_pb2.SignContractResponse(contract=contract_to_proto(row))

    # ------------------------------------------------------------------ loans

    async def DisburseLoan(
        self, request: credit_pb2.DisburseLoanRequest, context: ServicerContext
    ) -> credit_pb2.DisburseLoanResponse:
        view = await service.disburse_loan(
            uow=self._uow(),
            caller=require_caller(),
            application_id=request.application_id,
            disbursed_on=request.disbursed_on,
            external_ref=request.external_ref,
            policy=self._policy,
        )
        return credit_pb2.DisburseLoanResponse(loan=loan_to_proto(view.loan, view.installments))

    async def GetLoan(self, request: credit_pb2.GetLoanRequest, context: ServicerContext) -> credit_pb2.GetLoanResponse:
        view = await service.get_loan(uow=self._uow(), caller=require_caller(), loan_id=request.loan_id)
        return credit_pb2.GetLoanResponse(loan=loan_to_proto(view.loan, view.installments))

    async def ListLoans(
        self, request: credit_pb2.ListLoansRequest, context: ServicerContext
    ) -> credit_pb2.ListLoansResponse:
        rows, token = await service.list_loans(
            uow=self._uow(),
            caller=require_caller(),
            branch_id=request.branch_id,
            filters={
                "bucket": request.bucket,
                "managing_officer_id": request.managing_officer_id,
                "status": request.status,
                "party_id": request.party_id,
            },
            min_dpd=request.min_dpd,
            size=request.page_size,
            token=request.page_token,
        )
        return credit_pb2.ListLoansResponse(loans=[loan_to_proto(r, []) for r in rows], next_page_token=token)

    async def PostRepayment(
        self, request: credit_pb2.PostRepaymentRequest, context: ServicerContext
    ) -> credit_pb2.PostRepaymentResponse:
        repayment, view, replayed = await service.post_repayment(
            uow=self._uow(),
            caller=require_caller(),
            loan_id=request.loan_id,
            amount=request.amount,
            value_date=request.value_date,
            external_ref=request.external_ref,
            policy=self._policy,
        )
        return credit_pb2.PostRepaymentResponse(
            repayment=repayment_to_proto(repayment), loan=loan_to_proto(view.loan, view.installments), replayed=replayed
        )

    async def ReverseRepayment(
        self, request: credit_pb2.ReverseRepaymentRequest, context: ServicerContext
    ) -> credit_pb2.ReverseRepaymentResponse:
        repayment, view = await service.reverse_repayment(
            uow=self._uow(),
            caller=require_caller(),
            repayment_id=request.repayment_id,
            reason=request.reason,
            policy=self._policy,
        )
        return credit_pb2.ReverseRepaymentResponse(
            repayment=repayment_to_proto(repayment), loan=loan_to_proto(view.loan, view.installments)
        )

    async def ListRepayments(
        self, request: credit_pb2.ListRepaymentsRequest, context: ServicerContext
    ) -> credit_pb2.ListRepaymentsResponse:
        rows = await service.list_repayments(uow=self._uow(), caller=require_caller(), loan_id=request.loan_id)
        return credit_pb2.ListRepaymentsResponse(repayments=[repayment_to_proto(r) for r in rows])

    async def RequestClassOverride(
        self, request: credit_pb2.RequestClassOverrideRequest, context: ServicerContext
    ) -> credit_pb2.RequestClassOverrideResponse:
        view = await service.request_class_override(
            uow=self._uow(),
            caller=require_caller(),
            loan_id=request.loan_id,
            classification=request.classification,
            reason=request.reason,
        )
        return credit_pb2.RequestClassOverrideResponse(loan=loan_to_proto(view.loan, view.installments))

    async def ApproveClassOverride(
        self, request: credit_pb2.ApproveClassOverrideRequest, context: ServicerContext
    ) -> credit_pb2.ApproveClassOverrideResponse:
        view = await service.approve_class_override(
            uow=self._uow(),
            caller=require_caller(),
            loan_id=request.loan_id,
            approve=request.approve,
            comment=request.comment,
        )
        return credit_pb2.ApproveClassOverrideResponse(loan=loan_to_proto(view.loan, view.installments))

    async def SetBusinessDate(
        self, request: credit_pb2.SetBusinessDateRequest, context: ServicerContext
    ) -> credit_pb2.SetBusinessDateResponse:
        value = await service.set_business_date(
            uow=self._uow(), caller=require_caller(), business_date=request.business_date
        )
        return credit_pb2.SetBusinessDateResponse(business_date=value.isoformat())

    async def GetBusinessDate(
        self, request: credit_pb2.GetBusinessDateRequest, context: ServicerContext
    ) -> credit_pb2.GetBusinessDateResponse:
        value = await service.get_business_date(uow=self._uow(), caller=require_caller())
        return credit_pb2.GetBusinessDateResponse(business_date=value.isoformat())

    async def RunCloseOfBusiness(
        self, request: credit_pb2.RunCloseOfBusinessRequest, context: ServicerContext
    ) -> credit_pb2.RunCloseOfBusinessResponse:
        result = await service.run_close_of_business(
            uow_factory=self._uow,
            caller=require_caller(),
            business_date=request.business_date,
            max_batches=request.max_batches,
            batch_size=request.batch_size,
            policy=self._policy,
        )
        return credit_pb2.RunCloseOfBusinessResponse(
            business_date=result.business_date.isoformat(),
            loans_processed=result.loans_processed,
            completed=result.completed,
            events_emitted=result.events_emitted,
        )

    # ------------------------------------------------------------------ portfolio

    async def GetPortfolioSummary(
        self, request: credit_pb2.GetPortfolioSummaryRequest, context: ServicerContext
    ) -> credit_pb2.GetPortfolioSummaryResponse:
        summary = await service.get_portfolio_summary(
            uow=self._uow(),
            caller=require_caller(),
            branch_id=request.branch_id,
            from_date=request.from_date,
            to_date=request.to_date,
            policy=self._policy,
        )
        return portfolio_to_proto(summary)

    async def GetCollectionSummary(
        self, request: credit_pb2.GetCollectionSummaryRequest, context: ServicerContext
    ) -> credit_pb2.GetCollectionSummaryResponse:
        summary = await service.get_collection_summary(
            uow=self._uow(),
            caller=require_caller(),
            branch_id=request.branch_id,
            from_date=request.from_date,
            to_date=request.to_date,
        )
        return collection_to_proto(summary)


def _slice(s: portfolio.Slice) -> credit_pb2.PortfolioSlice:
    return credit_pb2.PortfolioSlice(
        key=s.key,
        label=s.label,
        loans=s.loans,
        outstanding=_amount(s.outstanding),
        overdue_outstanding=_amount(s.overdue_outstanding),
        par30_outstanding=_amount(s.par_outstanding),
        overdue_rate=str(s.overdue_rate),
        par30=str(s.par30),
    )


def portfolio_to_proto(summary: portfolio.PortfolioSummary) -> credit_pb2.GetPortfolioSummaryResponse:
    return credit_pb2.GetPortfolioSummaryResponse(
        business_date=summary.business_date.isoformat(),
        branch_id=summary.branch_id,
        from_date=summary.start.isoformat() if summary.start else "",
        to_date=summary.end.isoformat() if summary.end else "",
        total=_slice(summary.total),
        by_product=[_slice(s) for s in summary.by_product],
        by_branch=[_slice(s) for s in summary.by_branch],
        by_bucket=[_slice(s) for s in summary.by_bucket],
        by_classification=[_slice(s) for s in summary.by_classification],
        officers=[
            credit_pb2.OfficerFigures(
                officer_id=o.officer_id,
                branch_id=o.branch_id,
                applications=o.applications,
                approved=o.approved,
                rejected=o.rejected,
                pass_rate=str(o.pass_rate),
                disbursed_loans=o.disbursed_loans,
                disbursed_amount=_amount(o.disbursed_amount),
                active_loans=o.active_loans,
                outstanding=_amount(o.outstanding),
                overdue_rate=str(o.overdue_rate),
            )
            for o in summary.officers
        ],
        disbursed_by_month=[
            credit_pb2.MonthFigures(month=m.month, loans=m.loans, amount=_amount(m.amount))
            for m in summary.disbursed_by_month
        ],
    )


def _collection(f: collection.CollectionFigures) -> credit_pb2.CollectionFigures:
    return credit_pb2.CollectionFigures(
        key=f.key,
        branch_id=f.branch_id,
        officer_id=f.officer_id,
        started=f.started,
        cured=f.cured,
        cured_within_30_days=f.cured_within_30_days,
        still_open=f.still_open,
        success_rate=str(f.success_rate),
        success_rate_30_days=str(f.success_rate_30_days),
        overdue_at_start=_amount(f.overdue_at_start),
        recovered=_amount(f.recovered),
    )


def collection_to_proto(summary: collection.CollectionSummary) -> credit_pb2.GetCollectionSummaryResponse:
    return credit_pb2.GetCollectionSummaryResponse(
        business_date=summary.business_date.isoformat(),
        branch_id=summary.branch_id,
        from_date=summary.start.isoformat() if summary.start else "",
        to_date=summary.end.isoformat() if summary.end else "",
        total=_collection(summary.total),
        by_branch=[_collection(f) for f in summary.by_branch],
        by_officer=[_collection(f) for f in summary.by_officer],
    )


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _rate(value: Decimal | None) -> str:
    if value is None:
        return ""
    # The column pads to six decimals; callers sent "0.0435" and get "0.0435" back.
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def product_to_proto(product: ProductRow) -> credit_pb2.Product:
    return credit_pb2.Product(
        id=product.id,
        code=product.code,
        version=product.version,
        name=product.name,
        purpose=product.purpose,
        min_amount=_amount(product.min_amount),
        max_amount=_amount(product.max_amount),
        min_term_months=product.min_term_months,
        max_term_months=product.max_term_months,
        annual_rate=_rate(product.annual_rate),
        repayment_method=service.METHOD_TO_PROTO[method_from_column(product.repayment_method)],
        created_at=to_timestamp(product.created_at),
        rate_type=product.rate_type,
        lpr=_rate(product.lpr),
        spread=_rate(product.spread),
        day_count=product.day_count,
        frequency=product.frequency,
        principal_grace_periods=product.principal_grace_periods,
        interest_grace_periods=product.interest_grace_periods,
        penalty_markup=_rate(product.penalty_markup),
        guarantee_types=[t for t in product.guarantee_types.split(",") if t],
        rounding_scale=product.rounding_scale,
        rounding_mode=product.rounding_mode,
        allocation_order=product.allocation_order.split(","),
    )


def _schedule_installment(i: ScheduleInstallment) -> credit_pb2.Installment:
    return credit_pb2.Installment(
        number=i.number,
        due_date=i.due_date.isoformat(),
        period_start=i.period_start.isoformat(),
        days=i.days,
        opening_principal=_amount(i.opening_principal),
        principal=_amount(i.principal),
        interest=_amount(i.interest),
        total=_amount(i.total),
        closing_principal=_amount(i.closing_principal),
    )


def quote_to_proto(schedule: Schedule) -> credit_pb2.QuoteScheduleResponse:
    return credit_pb2.QuoteScheduleResponse(
        installments=[_schedule_installment(i) for i in schedule.installments],
        total_principal=_amount(schedule.total_principal),
        total_interest=_amount(schedule.total_interest),
        total_payment=_amount(schedule.total_payment),
        annual_rate=_rate(schedule.terms.annual_rate),
        day_count=schedule.terms.day_count.name,
        maturity_date=schedule.maturity_date.isoformat(),
    )


def opinion_to_proto(o: ApprovalOpinionRow) -> credit_pb2.ApprovalOpinion:
    return credit_pb2.ApprovalOpinion(
        id=o.id,
        node=o.node,
        actor_id=o.actor_id,
        role=o.role,
        decision=o.decision,
        comment=o.comment,
        created_at=to_timestamp(o.created_at),
    )


def application_to_proto(view: service.ApplicationView) -> credit_pb2.Application:
    a: ApplicationRow = view.application
    return credit_pb2.Application(
        id=a.id,
        party_id=a.party_id,
        household_id=a.household_id,
        product_id=a.product_id,
        amount=_amount(a.amount),
        term_months=a.term_months,
        purpose=a.purpose,
        guarantee_method=a.guarantee_method,
        guarantor_ids=[g for g in a.guarantor_ids.split(",") if g],
        collateral=json.loads(a.collateral or "[]"),
        status=a.status,
        branch_id=a.branch_id,
        managing_officer_id=a.managing_officer_id,
        credit_line_id=a.credit_line_id,
        opinions=[opinion_to_proto(o) for o in view.opinions],
        created_at=to_timestamp(a.created_at),
        updated_at=to_timestamp(a.updated_at),
        product_version=view.product.version if view.product else 0,
        product_code=view.product.code if view.product else "",
    )


def line_to_proto(line: CreditLineRow) -> credit_pb2.CreditLine:
    return credit_pb2.CreditLine(
        id=line.id,
        party_id=line.party_id,
        household_id=line.household_id,
        limit=_amount(line.limit),
        used=_amount(line.used),
        available=_amount(line.limit - line.used),
        valid_from=line.valid_from.isoformat(),
        valid_until=line.valid_until.isoformat(),
        revolving=line.revolving,
        status=line.status,
        branch_id=line.branch_id,
        campaign_id=line.campaign_id,
        created_at=to_timestamp(line.created_at),
    )


def campaign_to_proto(c: VillageCampaignRow, households: list[CampaignHouseholdRow]) -> credit_pb2.VillageCampaign:
    return credit_pb2.VillageCampaign(
        id=c.id,
        village_code=c.village_code,
        village_name=c.village_name,
        branch_id=c.branch_id,
        status=c.status,
        households=[
            credit_pb2.CampaignHousehold(
                household_id=h.household_id,
                party_id=h.party_id,
                rating=h.rating,
                proposed_limit=_amount(h.proposed_limit),
                credit_line_id=h.credit_line_id,
            )
            for h in households
        ],
        valid_from=c.valid_from.isoformat(),
        valid_until=c.valid_until.isoformat(),
        revolving=c.revolving,
        approved_by=c.approved_by,
        created_at=to_timestamp(c.created_at),
        total_limit=_amount(sum((h.proposed_limit for h in households), Decimal(0))),
    )


def template_to_proto(t: ContractTemplateRow) -> credit_pb2.ContractTemplate:
    return credit_pb2.ContractTemplate(
        id=t.id, code=t.code, version=t.version, body=t.body, created_at=to_timestamp(t.created_at)
    )


def contract_to_proto(c: ContractRow) -> credit_pb2.Contract:
    message = credit_pb2.Contract(
        id=c.id,
        application_id=c.application_id,
        template_id=c.template_id,
        template_version=c.template_version,
        content=c.content,
        content_hash=c.content_hash,
        status=c.status,
        signature_method=c.signature_method,
        evidence_ref=c.evidence_ref,
        signed_by=c.signed_by,
        created_at=to_timestamp(c.created_at),
        contract_no=c.contract_no,
    )
    if c.signed_at is not None:
        message.signed_at.CopyFrom(to_timestamp(c.signed_at))
    return message


def _loan_installment(i: InstallmentRow) -> credit_pb2.Installment:
    return credit_pb2.Installment(
        number=i.number,
        due_date=i.due_date.isoformat(),
        period_start=i.period_start.isoformat(),
        days=i.days,
        opening_principal=_amount(i.opening_principal),
        principal=_amount(i.principal),
        interest=_amount(i.interest),
        total=_amount(i.principal + i.interest),
        closing_principal=_amount(i.opening_principal - i.principal),
        principal_paid=_amount(i.principal_paid),
        interest_paid=_amount(i.interest_paid),
        penalty=_amount(i.penalty),
        penalty_paid=_amount(i.penalty_paid),
        outstanding=_amount(
            (i.principal - i.principal_paid) + (i.interest - i.interest_paid) + (i.penalty - i.penalty_paid)
        ),
    )


def loan_to_proto(loan: LoanRow, installments: list[InstallmentRow]) -> credit_pb2.Loan:
    return credit_pb2.Loan(
        id=loan.id,
        application_id=loan.application_id,
        contract_id=loan.contract_id,
        party_id=loan.party_id,
        household_id=loan.household_id,
        product_id=loan.product_id,
        principal=_amount(loan.principal),
        annual_rate=_rate(loan.annual_rate),
        term_months=loan.term_months,
        disbursed_on=loan.disbursed_on.isoformat(),
        maturity_date=loan.maturity_date.isoformat(),
        status=loan.status,
        outstanding_principal=_amount(loan.outstanding_principal),
        overdue_amount=_amount(loan.overdue_amount),
        dpd=loan.dpd,
        bucket=loan.bucket,
        classification=loan.classification,
        branch_id=loan.branch_id,
        managing_officer_id=loan.managing_officer_id,
        credit_line_id=loan.credit_line_id,
        last_cob_date=loan.last_cob_date.isoformat() if loan.last_cob_date else "",
        overpaid=_amount(loan.overpaid),
        override_class=loan.override_class,
        override_status=loan.override_status,
        override_reason=loan.override_reason,
        installments=[_loan_installment(i) for i in installments],
        created_at=to_timestamp(loan.created_at),
    )


def repayment_to_proto(r: RepaymentRow) -> credit_pb2.Repayment:
    return credit_pb2.Repayment(
        id=r.id,
        loan_id=r.loan_id,
        amount=_amount(r.amount),
        value_date=r.value_date.isoformat(),
        external_ref=r.external_ref,
        status=r.status,
        allocations=[
            credit_pb2.Allocation(installment_number=n, component=c, amount=a)
            for n, c, a in json.loads(r.allocations or "[]")
        ],
        overpaid=_amount(r.overpaid),
        reversal_reason=r.reversal_reason,
        created_at=to_timestamp(r.created_at),
    )
