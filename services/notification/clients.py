"""gRPC adapters: the customer service as the directory, the field-task service for tasks.

Every call has the platform's deadline (common client) and runs as this service's identity.
Failures come back as TransientError (retry later) or PermanentError (record and stop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from granary.v1 import customer_pb2, customer_pb2_grpc, fieldtask_pb2, fieldtask_pb2_grpc

from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import TRANSIENT_STATUSES, RemoteError
from services.common.idempotency import idempotency_key
from services.common.timestamps import to_timestamp
from services.notification.domain.ports import BirthdayParty, Contact, FieldTaskOrder, PermanentError, TransientError

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
# Another service failing unexpectedly (INTERNAL, UNKNOWN) may be passing: a message waits for it.
_TRANSIENT = TRANSIENT_STATUSES | {"ABORTED", "INTERNAL", "UNKNOWN"}


async def _call(method: Callable[[RequestT], Awaitable[ResponseT]], request: RequestT) -> ResponseT:
    try:
        return await call(method, request)
    except RemoteError as exc:
        if exc.status in _TRANSIENT:
            raise TransientError(str(exc)) from None
        raise PermanentError(exc.message, code=exc.reason or exc.status) from None


class CustomerDirectory:
    def __init__(self, channels: ServiceChannels, address: str) -> None:
        self._stub = channels.stub(address, customer_pb2_grpc.CustomerServiceStub)

    async def party_contact(self, party_id: str) -> Contact:
        reply = await _call(self._stub.GetPartyContact, customer_pb2.GetPartyContactRequest(party_id=party_id))
        return Contact(id=reply.party_id, name=reply.name, phone_e164=reply.mobile_e164, branch_id=reply.branch_id)

    async def staff_contact(self, staff_id: str) -> Contact:
        reply = await _call(self._stub.GetStaff, customer_pb2.GetStaffRequest(staff_id=staff_id))
        staff = reply.staff
        return Contact(id=staff.id, name=staff.display_name, phone_e164=staff.phone, branch_id=staff.branch_id)

    async def staff_with_role(self, branch_id: str, role: str) -> list[str]:
        reply = await _call(self._stub.ListStaff, customer_pb2.ListStaffRequest(branch_id=branch_id, role=role))
        return [s.id for s in reply.staff]

    async def has_consent(self, party_id: str, purpose: str) -> bool:
        reply = await _call(
            self._stub.CheckConsent, customer_pb2.CheckConsentRequest(party_id=party_id, purpose=purpose)
        )
        return bool(reply.granted)

    async def birthday_parties(self, month: int, day: int) -> list[BirthdayParty]:
        parties: list[BirthdayParty] = []
        token = ""
        while True:
            reply = await _call(
                self._stub.ListBirthdayParties,
                customer_pb2.ListBirthdayPartiesRequest(month=month, day=day, page_size=200, page_token=token),
            )
            parties.extend(
                BirthdayParty(
                    party_id=p.party_id, name=p.name, managing_officer_id=p.managing_officer_id, branch_id=p.branch_id
                )
                for p in reply.parties
            )
            token = reply.next_page_token
            if not token:
                return parties


class FieldTaskClient:
    def __init__(self, channels: ServiceChannels, address: str) -> None:
        self._stub = channels.stub(address, fieldtask_pb2_grpc.FieldTaskServiceStub)

    async def create(self, order: FieldTaskOrder) -> str:
        request = fieldtask_pb2.CreateFieldTaskRequest(
            task_type=fieldtask_pb2.FieldTaskType.Value(f"FIELD_TASK_TYPE_{order.task_type}"),
            party_id=order.party_id,
            assignee_id=order.assignee_id,
            branch_id=order.branch_id,
            priority=order.priority,
            due_at=to_timestamp(order.due_at),
            origin=order.origin,
        )
        # A retry after a lost answer must not create a second task.
        with idempotency_key(f"notification-task-{order.request_id}"):
            reply = await _call(self._stub.CreateFieldTask, request)
        return reply.task.id
