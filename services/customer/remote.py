"""The other services the 360° view asks: credit (applications, loans) and fieldtask (open tasks).

Typed stubs of the agreed RPCs: credit ``ListApplications`` and ``ListLoans`` filtered by
``party_id``, fieldtask ``ListFieldTasks`` filtered by the open statuses. The caller's identity
travels with each call, so the other service applies its own data scope. Each answer is fetched
with no transaction open and a short deadline; a failure becomes ``SourceUnavailable`` so the
view is partial, never an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import credit_pb2, credit_pb2_grpc, fieldtask_pb2, fieldtask_pb2_grpc

from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.customer.service import CreditItem, FieldTaskItem, SourceUnavailable

VIEW_DEADLINE_SECONDS = 3.0
PAGE_SIZE = 200
# One party has a handful of applications and loans; the cap only bounds a runaway answer.
MAX_CREDIT_PAGES = 5
# A customer with more open tasks than this many pages is flagged as incomplete, not listed in full.
MAX_TASK_PAGES = 10
OPEN_TASK_STATUSES = (
    fieldtask_pb2.FIELD_TASK_STATUS_NEW,
    fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED,
    fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED,
    fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN,
    fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED,
)

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


def _stamp(value: Timestamp, present: bool) -> str:
    return value.ToDatetime().isoformat() + "Z" if present else ""


def _enum_name(prefix: str, name: str) -> str:
    return name.removeprefix(prefix).lower()


def application_item(app: credit_pb2.Application) -> CreditItem:
    return CreditItem(
        kind="application",
        id=app.id,
        status=app.status,
        amount=app.amount,
        details={
            "product_id": app.product_id,
            "product_code": app.product_code,
            "term_months": str(app.term_months),
            "purpose": app.purpose,
            "guarantee_method": app.guarantee_method,
            "household_id": app.household_id,
            "branch_id": app.branch_id,
            "managing_officer_id": app.managing_officer_id,
            "created_at": _stamp(app.created_at, app.HasField("created_at")),
            "updated_at": _stamp(app.updated_at, app.HasField("updated_at")),
        },
    )


def loan_item(loan: credit_pb2.Loan) -> CreditItem:
    return CreditItem(
        kind="loan",
        id=loan.id,
        status=loan.status,
        amount=loan.principal,
        details={
            "application_id": loan.application_id,
            "product_id": loan.product_id,
            "outstanding_principal": loan.outstanding_principal,
            "overdue_amount": loan.overdue_amount,
            "dpd": str(loan.dpd),
            "bucket": loan.bucket,
            "classification": loan.classification,
            "annual_rate": loan.annual_rate,
            "term_months": str(loan.term_months),
            "disbursed_on": loan.disbursed_on,
            "maturity_date": loan.maturity_date,
            "branch_id": loan.branch_id,
            "managing_officer_id": loan.managing_officer_id,
        },
    )


def field_task_item(task: fieldtask_pb2.FieldTask) -> FieldTaskItem:
    return FieldTaskItem(
        id=task.id,
        task_type=_enum_name("FIELD_TASK_TYPE_", fieldtask_pb2.FieldTaskType.Name(task.task_type)),
        status=_enum_name("FIELD_TASK_STATUS_", fieldtask_pb2.FieldTaskStatus.Name(task.status)),
        details={
            "title": task.title,
            "assignee_id": task.assignee_id,
            "branch_id": task.branch_id,
            "priority": str(task.priority),
            "due_at": _stamp(task.due_at, task.HasField("due_at")),
            "origin": task.origin,
            "business_key": task.business_key,
        },
    )


class RemoteViewSources:
    def __init__(self, *, channels: ServiceChannels, address_of: Callable[[str], str]) -> None:
        self._channels = channels
        self._address_of = address_of

    def _credit(self) -> credit_pb2_grpc.CreditServiceStub:
        return self._channels.stub(self._address_of("credit"), credit_pb2_grpc.CreditServiceStub)

    def _fieldtask(self) -> fieldtask_pb2_grpc.FieldTaskServiceStub:
        return self._channels.stub(self._address_of("fieldtask"), fieldtask_pb2_grpc.FieldTaskServiceStub)

    @staticmethod
    async def _ask(service: str, method: Callable[..., Awaitable[ResponseT]], request: RequestT) -> ResponseT:
        try:
            return await call(lambda r: method(r, timeout=VIEW_DEADLINE_SECONDS), request)
        except RemoteError as exc:
            raise SourceUnavailable(f"{service} service: {exc.status} {exc.message}".strip()) from None

    async def party_credit(self, party_id: str) -> list[CreditItem]:
        stub = self._credit()
        items: list[CreditItem] = []
        token = ""
        for _ in range(MAX_CREDIT_PAGES):
            apps = await self._ask(
                "credit",
                stub.ListApplications,
                credit_pb2.ListApplicationsRequest(party_id=party_id, page_size=PAGE_SIZE, page_token=token),
            )
            items.extend(application_item(a) for a in apps.applications if a.party_id == party_id)
            token = apps.next_page_token
            if not token:
                break
        token = ""
        for _ in range(MAX_CREDIT_PAGES):
            loans = await self._ask(
                "credit",
                stub.ListLoans,
                credit_pb2.ListLoansRequest(party_id=party_id, page_size=PAGE_SIZE, page_token=token),
            )
            items.extend(loan_item(loan) for loan in loans.loans if loan.party_id == party_id)
            token = loans.next_page_token
            if not token:
                break
        return items

    async def open_field_tasks(self, party_id: str) -> list[FieldTaskItem]:
        stub = self._fieldtask()
        found: list[FieldTaskItem] = []
        token = ""
        for _ in range(MAX_TASK_PAGES):
            reply = await self._ask(
                "fieldtask",
                stub.ListFieldTasks,
                fieldtask_pb2.ListFieldTasksRequest(
                    party_id=party_id, statuses=list(OPEN_TASK_STATUSES), page_size=PAGE_SIZE, page_token=token
                ),
            )
            found.extend(field_task_item(t) for t in reply.tasks)
            token = reply.next_page_token
            if not token:
                return found
        raise SourceUnavailable(
            f"fieldtask service: more than {MAX_TASK_PAGES * PAGE_SIZE} open tasks for this party"
        )
