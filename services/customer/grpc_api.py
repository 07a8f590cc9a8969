"""CustomerService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from granary.v1 import customer_pb2, customer_pb2_grpc

from services.common.crypto import FieldCipher
from services.common.errors import InvalidArgument
from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.customer import service
from services.customer.models import BranchRow, PartyRow, StaffRow


class CustomerServicer(customer_pb2_grpc.CustomerServiceServicer):
    def __init__(self, *, uow: Callable[[], service.CustomerUnitOfWork], cipher: FieldCipher) -> None:
        self._uow = uow
        self._cipher = cipher

    async def CreateParty(
        self, request: customer_pb2.CreatePartyRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.CreatePartyResponse:
        kind = service.KIND_FROM_PROTO.get(request.kind)
        if kind is None:
            raise InvalidArgument.for_field("kind", "must be person, enterprise or collective")
        party = await service.register_party(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            new=service.NewParty(
                kind=kind,
                name=request.name,
                id_number=request.id_number,
                mobile=request.mobile,
                branch_id=request.branch_id,
                managing_officer_id=request.managing_officer_id,
            ),
        )
        return customer_pb2.CreatePartyResponse(party=party_to_proto(party))

    async def GetParty(
        self, request: customer_pb2.GetPartyRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.GetPartyResponse:
        party = await service.get_party(uow=self._uow(), caller=require_caller(), party_id=request.party_id)
        return customer_pb2.GetPartyResponse(party=party_to_proto(party))

    async def CreateBranch(
        self, request: customer_pb2.CreateBranchRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.CreateBranchResponse:
        branch = await service.create_branch(
            uow=self._uow(),
            caller=require_caller(),
            code=request.code,
            name=request.name,
            parent_id=request.parent_id,
        )
        return customer_pb2.CreateBranchResponse(branch=branch_to_proto(branch))

    async def CreateStaff(
        self, request: customer_pb2.CreateStaffRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.CreateStaffResponse:
        staff = await service.create_staff(
            uow=self._uow(),
            caller=require_caller(),
            username=request.username,
            display_name=request.display_name,
            password=request.password,
            roles=list(request.roles),
            branch_id=request.branch_id,
            superior_id=request.superior_id,
        )
        return customer_pb2.CreateStaffResponse(staff=staff_to_proto(staff))

    async def AuthenticateStaff(
        self, request: customer_pb2.AuthenticateStaffRequest, context: grpc.aio.ServicerContext
    ) -> customer_pb2.AuthenticateStaffResponse:
        staff = await service.authenticate_staff(
            uow=self._uow(), caller=require_caller(), username=request.username, password=request.password
        )
        return customer_pb2.AuthenticateStaffResponse(staff=staff_to_proto(staff))



def party_to_proto(party: PartyRow) -> customer_pb2.Party:
    return customer_pb2.Party(
        id=party.id,
        kind=service.KIND_TO_PROTO[service.PartyKind(party.kind)],
        name=party.name,
        id_number_masked=party.id_number_masked,
        mobile_masked=party.mobile_masked,
        branch_id=party.branch_id,
        managing_officer_id=party.managing_officer_id,
        birth_date=party.birth_date.isoformat() if party.birth_date else "",
        gender=party.gender,
        created_at=to_timestamp(party.created_at),
        warnings=party.warnings,
    )


def branch_to_proto(branch: BranchRow) -> customer_pb2.Branch:
    return customer_pb2.Branch(id=branch.id, code=branch.code, name=branch.name, parent_id=branch.parent_id or "")


def staff_to_proto(staff: StaffRow) -> customer_pb2.Staff:
    return customer_pb2.Staff(
        id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        roles=staff.roles,
        branch_id=staff.branch_id,
        superior_id=staff.superior_id or "",
    )
