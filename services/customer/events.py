"""Events the customer service consumes: credit milestones move a customer's lifecycle stage.

Each handler runs inside the consumer's transaction, after the inbox claimed the event id (a
redelivery is applied once); the use case never moves a stage backwards, so late or repeated
milestones are harmless.
"""

from __future__ import annotations

from granary.v1 import credit_pb2, events_pb2

from services.common.clock import utcnow
from services.common.consumer import Subscription
from services.common.envelope import unpack
from services.common.identity import require_caller
from services.common.uow import UnitOfWork
from services.customer.domain.party import CreditMilestone
from services.customer.models import PartyLoanRow
from services.customer.service import advance_stage_from_credit


async def on_application_submitted(event: events_pb2.Event, uow: UnitOfWork) -> None:
    payload = unpack(event, credit_pb2.ApplicationChanged)
    await advance_stage_from_credit(
        uow=uow,
        caller=require_caller(),
        milestone=CreditMilestone.APPLICATION_SUBMITTED,
        party_id=payload.party_id,
        reference=f"application {payload.application_id}",
    )


async def on_loan_disbursed(event: events_pb2.Event, uow: UnitOfWork) -> None:
    payload = unpack(event, credit_pb2.LoanDisbursed)
    await advance_stage_from_credit(
        uow=uow,
        caller=require_caller(),
        milestone=CreditMilestone.LOAN_DISBURSED,
        party_id=payload.party_id,
        reference=f"loan {payload.loan_id}",
        loan=PartyLoanRow(
            loan_id=payload.loan_id[:64],
            party_id=payload.party_id,
            application_id=payload.application_id[:64],
            disbursed_on=payload.disbursed_on[:10],
            recorded_at=utcnow(),
        ),
    )


def subscriptions() -> list[Subscription]:
    return [
        Subscription(
            durable="customer-stage-on-application-submitted",
            event_type="credit.application.submitted",
            handler=on_application_submitted,
        ),
        Subscription(
            durable="customer-stage-on-loan-disbursed",
            event_type="credit.loan.disbursed",
            handler=on_loan_disbursed,
        ),
    ]
