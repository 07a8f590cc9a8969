"""Customer use cases: one function per command or query, one commit per command."""

from __future__ import annotations

from dataclasses import dataclass

from granary.v1 import customer_pb2
from sqlalchemy.exc import IntegrityError

from services.common.clock import new_id, utcnow
from services.common.crypto import FieldCipher
from services.common.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.common.identity import Caller
from services.common.uow import UnitOfWork
from services.customer.domain.party import PartyKind, check_identity, check_mobile, check_name
from services.customer.domain.staff import (
    check_roles,
    check_username,
    hash_password,
    password_matches,
)
from services.customer.models import BranchRow, PartyRow, StaffRow
from services.customer.repository import OrgRepository, PartyRepository

# Roles that see every branch's customers; everyone else sees their own branch and the
# customers they manage.
ALL_BRANCHES_ROLES = ("admin", "auditor", "risk_director", "system")
PARTY_WRITERS = ("officer", "supervisor", "president", "admin")
ID_NUMBER_CONTEXT = "party.id_number"
MOBILE_CONTEXT = "party.mobile"


class CustomerUnitOfWork(UnitOfWork):
    @property
    def parties(self) -> PartyRepository:
        return PartyRepository(self.session)

    @property
    def org(self) -> OrgRepository:
        return OrgRepository(self.session)


class PartyNotFound(NotFound):
    reason = "PARTY_NOT_FOUND"


class DuplicateParty(AlreadyExists):
    reason = "PARTY_EXISTS"


@dataclass(frozen=True)
class NewParty:
    kind: PartyKind
    name: str
    id_number: str
    mobile: str = ""
    branch_id: str = ""
    managing_officer_id: str = ""


def _may_see(caller: Caller, party: PartyRow) -> bool:
    return (
        caller.has_role(*ALL_BRANCHES_ROLES)
        or party.branch_id == caller.branch_id
        or party.managing_officer_id == caller.user_id
    )


async def register_party(
    *, uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, new: NewParty
) -> PartyRow:
    """Registers a customer once: a second registration of the same ID number is refused."""
    if not caller.has_role(*PARTY_WRITERS, "system"):
        raise PermissionDenied("your roles may not register customers")
    name = check_name(new.name)
    identity = check_identity(new.kind, new.id_number)
    mobile = check_mobile(new.mobile)
    branch_id = new.branch_id or caller.branch_id
    if branch_id != caller.branch_id and not caller.has_role("admin", "system"):
        raise PermissionDenied("you may only register customers in your own branch")
    if not branch_id:
        raise InvalidArgument.for_field("branch_id", "is required")
    index = cipher.blind_index(identity.number, context=ID_NUMBER_CONTEXT)
    async with uow:
        existing = await uow.parties.find_by_id_number_index(index)
        if existing is not None:
            # Say that it exists, and its id only to those who may see it.
            metadata = {"party_id": existing.id} if _may_see(caller, existing) else {}
            raise DuplicateParty("a party with this ID number is already registered", metadata=metadata)
        if await uow.org.branch(branch_id) is None:
            raise InvalidArgument.for_field("branch_id", "no such branch")
        party = PartyRow(
            id=new_id(),
            kind=new.kind.value,
            name=name,
            id_number_cipher=cipher.encrypt(identity.number, context=ID_NUMBER_CONTEXT),
            id_number_index=index,
            id_number_masked=identity.masked,
            mobile_cipher=cipher.encrypt(mobile.e164, context=MOBILE_CONTEXT) if mobile else None,
            mobile_index=cipher.blind_index(mobile.e164, context=MOBILE_CONTEXT) if mobile else None,
            mobile_masked=mobile.masked if mobile else "",
            birth_date=identity.birth_date,
            gender=identity.gender,
            warnings=list(identity.warnings),
            branch_id=branch_id,
            managing_officer_id=new.managing_officer_id or caller.user_id,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.parties.add(party)
        uow.record(
            "customer.party.created",
            party.id,
            customer_pb2.PartyCreated(
                party_id=party.id,
                kind=_KIND_TO_PROTO[new.kind],
                name=party.name,
                branch_id=party.branch_id,
                managing_officer_id=party.managing_officer_id,
                created_by=caller.user_id,
            ),
        )
        try:
            await uow.commit()
        except IntegrityError as exc:
            # Two registrations of the same number raced; the unique index kept one.
            raise DuplicateParty("a party with this ID number is already registered") from exc
    return party


async def get_party(*, uow: CustomerUnitOfWork, caller: Caller, party_id: str) -> PartyRow:
    async with uow:
        party = await uow.parties.get(party_id)
    # Out of scope looks exactly like absent: existence is itself information.
    if party is None or not _may_see(caller, party):
        raise PartyNotFound(f"party {party_id} not found")
    return party


def _require_admin(caller: Caller) -> None:
    if not caller.has_role("admin", "system"):
        raise PermissionDenied("only administrators manage the org directory")


async def create_branch(
    *, uow: CustomerUnitOfWork, caller: Caller, code: str, name: str, parent_id: str = ""
) -> BranchRow:
    _require_admin(caller)
    code, name = code.strip(), check_name(name)
    if not code:
        raise InvalidArgument.for_field("code", "is required")
    async with uow:
        existing = await uow.org.branch_by_code(code)
        if existing is not None:
            raise AlreadyExists(f"branch {code} exists", reason="BRANCH_EXISTS", metadata={"branch_id": existing.id})
        if parent_id and await uow.org.branch(parent_id) is None:
            raise InvalidArgument.for_field("parent_id", "no such branch")
        branch = BranchRow(id=new_id(), code=code, name=name, parent_id=parent_id or None, created_at=utcnow())
        uow.org.add(branch)
        await uow.commit()
    return branch


async def create_staff(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    username: str,
    display_name: str,
    password: str,
    roles: list[str],
    branch_id: str,
    superior_id: str = "",
) -> StaffRow:
    _require_admin(caller)
    username = check_username(username)
    roles = check_roles(roles)
    password_hash = hash_password(password)
    async with uow:
        existing = await uow.org.staff_by_username(username)
        if existing is not None:
            raise AlreadyExists(f"user {username} exists", reason="STAFF_EXISTS", metadata={"staff_id": existing.id})
        if await uow.org.branch(branch_id) is None:
            raise InvalidArgument.for_field("branch_id", "no such branch")
        if superior_id and await uow.org.staff(superior_id) is None:
            raise InvalidArgument.for_field("superior_id", "no such staff member")
        staff = StaffRow(
            id=new_id(),
            username=username,
            display_name=check_name(display_name),
            password_hash=password_hash,
            roles=roles,
            branch_id=branch_id,
            superior_id=superior_id or None,
            active=True,
            created_at=utcnow(),
        )
        uow.org.add(staff)
        await uow.commit()
    return staff


async def authenticate_staff(
    *, uow: CustomerUnitOfWork, caller: Caller, username: str, password: str
) -> StaffRow:
    """Checks a password; the answer never says whether the user or the password was wrong."""
    if not caller.is_system:
        raise PermissionDenied("only the gateway authenticates users")
    async with uow:
        staff = await uow.org.staff_by_username(username.strip().lower())
    if staff is None or not staff.active:
        password_matches(None, password)  # costs what a real check costs
        raise Unauthenticated("invalid username or password", reason="INVALID_CREDENTIALS")
    if not password_matches(staff.password_hash, password):
        raise Unauthenticated("invalid username or password", reason="INVALID_CREDENTIALS")
    return staff


_KIND_TO_PROTO = {
    PartyKind.PERSON: customer_pb2.PARTY_KIND_PERSON,
    PartyKind.ENTERPRISE: customer_pb2.PARTY_KIND_ENTERPRISE,
    PartyKind.COLLECTIVE: customer_pb2.PARTY_KIND_COLLECTIVE,
}
KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}
KIND_TO_PROTO = _KIND_TO_PROTO
