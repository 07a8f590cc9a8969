"""Customer use cases: one function per command or query, one commit per command."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from granary.v1 import customer_pb2
from sqlalchemy import or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from services.common.clock import new_id, utcnow
from services.common.crypto import FieldCipher
from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from services.common.identity import Caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.uow import UnitOfWork
from services.customer.domain import importing
from services.customer.domain.party import (
    KEY_FIELDS,
    STAGE_ORDER,
    CreditMilestone,
    PartyKind,
    check_identity,
    check_mobile,
    check_name,
    check_region,
    check_stage,
    check_stage_change,
    check_tags,
    mask_key_value,
    stage_after_credit_event,
)
from services.customer.domain.regions import region_level, self_and_ancestors, subtree_prefix
from services.customer.domain.segmentation import (
    LEAD_CHANNELS,
    LEAD_STAGES,
    LOST,
    Candidate,
    TierInputs,
    TierRules,
    choose_account_manager,
    compute_tiers,
)
from services.customer.domain.staff import (
    check_roles,
    check_username,
    hash_password,
    password_matches,
)
from services.customer.models import (
    BranchRow,
    ConsentRow,
    CreditReportRow,
    FinancialItemRow,
    HouseholdMemberRow,
    HouseholdRow,
    ImportBatchRow,
    InteractionRow,
    LeadRow,
    PartyChangeRow,
    PartyLoanRow,
    PartyMergeRow,
    PartyRow,
    PartyTagRow,
    RegionRow,
    RelationRow,
    StaffRow,
    StageHistoryRow,
)
from services.customer.repository import ImportRepository, LeadRepository, OrgRepository, PartyRepository

log = logging.getLogger(__name__)

# Roles that see every branch's customers; everyone else sees their own branch and the
# customers they manage.
ALL_BRANCHES_ROLES = ("admin", "auditor", "risk_director", "system")
PARTY_WRITERS = ("officer", "supervisor", "president", "admin")
# Who may ask for clear ID numbers and phones (each such read is audited). Officers call
# customers through the masked view and the SMS service; the auditor reviews, masked.
UNMASK_ROLES = ("admin", "risk_director")
CHANGE_APPROVERS = ("supervisor", "president", "admin")
MERGERS = ("supervisor", "president", "admin")
ID_NUMBER_CONTEXT = "party.id_number"
MOBILE_CONTEXT = "party.mobile"
CHANGE_CONTEXT = "party_change.value"
RELATION_KINDS = ("spouse", "parent", "child", "shareholder", "legal_representative", "guarantor_of", "related_party")
MEMBER_RELATIONS = ("head", "spouse", "child", "parent", "sibling", "other")
INTERACTION_KINDS = ("visit", "call", "complaint", "sms", "marketing")


class CustomerUnitOfWork(UnitOfWork):
    @property
    def parties(self) -> PartyRepository:
        return PartyRepository(self.session)

    @property
    def leads(self) -> LeadRepository:
        return LeadRepository(self.session)

    @property
    def imports(self) -> ImportRepository:
        return ImportRepository(self.session)

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
    id_type: str = ""
    address: str = ""
    region_code: str = ""
    occupation: str = ""
    legal_representative: str = ""
    stage: str = ""
    tags: Sequence[str] = ()


@dataclass
class PartyRecord:
    """A party as answered: the row, its tags and, only when allowed and asked, clear values."""

    row: PartyRow
    tags: list[str] = field(default_factory=list)
    id_number: str = ""
    mobile_e164: str = ""


def _may_see(caller: Caller, party: PartyRow) -> bool:
    return (
        caller.has_role(*ALL_BRANCHES_ROLES)
        or party.branch_id == caller.branch_id
        or party.managing_officer_id == caller.user_id
    )


def _may_write(caller: Caller, party: PartyRow) -> bool:
    return caller.has_role("admin", "system") or (
        caller.has_role(*PARTY_WRITERS)
        and (party.branch_id == caller.branch_id or party.managing_officer_id == caller.user_id)
    )


async def _visible_party(uow: CustomerUnitOfWork, caller: Caller, party_id: str, *, write: bool = False) -> PartyRow:
    party = await uow.parties.get(party_id)
    # Out of scope looks exactly like absent: existence is itself information.
    if party is None or not _may_see(caller, party):
        raise PartyNotFound(f"party {party_id} not found")
    if write and not _may_write(caller, party):
        raise PermissionDenied("your roles may not change this customer")
    return party


def _party_created(party: PartyRow, caller: Caller) -> customer_pb2.PartyCreated:
    return customer_pb2.PartyCreated(
        party_id=party.id,
        kind=KIND_TO_PROTO[PartyKind(party.kind)],
        name=party.name,
        branch_id=party.branch_id,
        managing_officer_id=party.managing_officer_id,
        created_by=caller.user_id,
    )


def _party_updated(party: PartyRow, caller: Caller, fields: Sequence[str]) -> customer_pb2.PartyUpdated:
    return customer_pb2.PartyUpdated(
        party_id=party.id,
        fields=list(fields),
        updated_by=caller.user_id,
        merged_into_id=party.merged_into_id or "",
        branch_id=party.branch_id,
        managing_officer_id=party.managing_officer_id,
    )


def _new_party_row(
    *,
    cipher: FieldCipher,
    caller: Caller,
    kind: PartyKind,
    name: str,
    identity: Any,
    index: str,
    mobile_e164: str,
    mobile_masked: str,
    branch_id: str,
    managing_officer_id: str,
    address: str,
    region_code: str,
    occupation: str,
    legal_rep: str,
    stage: str,
    now: datetime,
) -> PartyRow:
    return PartyRow(
        id=new_id(),
        kind=kind.value,
        name=name,
        id_type=identity.id_type,
        id_number_cipher=cipher.encrypt(identity.number, context=ID_NUMBER_CONTEXT),
        id_number_index=index,
        id_number_masked=identity.masked,
        mobile_cipher=cipher.encrypt(mobile_e164, context=MOBILE_CONTEXT) if mobile_e164 else None,
        mobile_index=cipher.blind_index(mobile_e164, context=MOBILE_CONTEXT) if mobile_e164 else None,
        mobile_masked=mobile_masked,
        birth_date=identity.birth_date,
        gender=identity.gender,
        warnings=list(identity.warnings),
        branch_id=branch_id,
        managing_officer_id=managing_officer_id,
        address=address,
        region_code=region_code,
        occupation=occupation,
        legal_rep_name=legal_rep,
        stage=stage,
        tier_value="",
        tier_activity="",
        tier_risk="",
        created_by=caller.user_id,
        created_at=now,
    )


async def _region_warnings(uow: CustomerUnitOfWork, region_code: str) -> list[str]:
    if region_code and await uow.org.region(region_code) is None:
        return [f"region code {region_code} is not in the region table"]
    return []


async def register_party(*, uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, new: NewParty) -> PartyRecord:
    """Registers a customer once: a second registration of the same ID number is refused."""
    if not caller.has_role(*PARTY_WRITERS, "system"):
        raise PermissionDenied("your roles may not register customers")
    name = check_name(new.name)
    identity = check_identity(new.kind, new.id_number, new.id_type)
    mobile = check_mobile(new.mobile)
    region_code = check_region(new.region_code)
    stage = check_stage(new.stage)
    tags = check_tags(list(new.tags))
    legal_rep = (
        check_name(new.legal_representative, "legal_representative")
        if new.kind is not PartyKind.PERSON and new.legal_representative
        else ""
    )
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
        now = utcnow()
        party = _new_party_row(
            cipher=cipher,
            caller=caller,
            kind=new.kind,
            name=name,
            identity=identity,
            index=index,
            mobile_e164=mobile.e164 if mobile else "",
            mobile_masked=mobile.masked if mobile else "",
            branch_id=branch_id,
            managing_officer_id=new.managing_officer_id or caller.user_id,
            address=new.address.strip()[:200],
            region_code=region_code,
            occupation=new.occupation.strip()[:100],
            legal_rep=legal_rep,
            stage=stage.value,
            now=now,
        )
        party.warnings = party.warnings + await _region_warnings(uow, region_code)
        uow.parties.add(party)
        await uow.parties.flush()
        await uow.parties.set_tags(party.id, tags)
        uow.parties.add(_stage_row(party.id, "", stage.value, "registered", caller, now))
        uow.record("customer.party.created", party.id, _party_created(party, caller))
        uow.audit("party.created", "party", party.id, {"kind": party.kind, "id_number": party.id_number_masked})
        try:
            await uow.commit()
        except IntegrityError as exc:
            # Two registrations of the same number raced; the unique index kept one.
            raise DuplicateParty("a party with this ID number is already registered") from exc
    return PartyRecord(party, tags)


def _stage_row(party_id: str, before: str, after: str, reason: str, caller: Caller, now: datetime) -> StageHistoryRow:
    return StageHistoryRow(
        id=new_id(),
        party_id=party_id,
        from_stage=before,
        to_stage=after,
        reason=reason[:200],
        changed_by=caller.user_id,
        changed_at=now,
    )


def _unmask(
    uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, party: PartyRow, purpose: str
) -> tuple[str, str]:
    id_number = cipher.decrypt(party.id_number_cipher, context=ID_NUMBER_CONTEXT)
    mobile = cipher.decrypt(party.mobile_cipher, context=MOBILE_CONTEXT) if party.mobile_cipher else ""
    uow.audit(
        "party.unmasked_read",
        "party",
        party.id,
        {"fields": ["id_number", "mobile"], "purpose": purpose, "id_number": party.id_number_masked},
    )
    return id_number, mobile


async def get_party(
    *, uow: CustomerUnitOfWork, caller: Caller, party_id: str, unmasked: bool = False, cipher: FieldCipher | None = None
) -> PartyRecord:
    if unmasked and not caller.has_role(*UNMASK_ROLES):
        raise PermissionDenied("your roles may not see unmasked ID numbers and phones")
    async with uow:
        party = await _visible_party(uow, caller, party_id)
        tags = (await uow.parties.tags([party.id]))[party.id]
        record = PartyRecord(party, tags)
        if unmasked:
            assert cipher is not None
            record.id_number, record.mobile_e164 = _unmask(uow, cipher, caller, party, "get_party")
            await uow.commit()  # the audit record of this read
    return record


async def get_party_contact(
    *, uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, party_id: str
) -> PartyRecord:
    """For services (SMS, notices): the clear mobile; every call is audited."""
    if not caller.is_system:
        raise PermissionDenied("only services read a customer's contact")
    async with uow:
        party = await uow.parties.get(party_id)
        if party is None:
            raise PartyNotFound(f"party {party_id} not found")
        mobile = cipher.decrypt(party.mobile_cipher, context=MOBILE_CONTEXT) if party.mobile_cipher else ""
        uow.audit("party.contact_read", "party", party.id, {"fields": ["mobile"], "mobile": party.mobile_masked})
        await uow.commit()
    return PartyRecord(party, [], mobile_e164=mobile)


@dataclass(frozen=True)
class PartyQuery:
    name_prefix: str = ""
    id_number: str = ""
    mobile: str = ""
    region_code: str = ""
    tag: str = ""
    tier: str = ""
    stage: str = ""
    managing_officer_id: str = ""
    include_merged: bool = False


async def search_parties(
    *, uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, query: PartyQuery, limit: int, token: str
) -> tuple[list[PartyRecord], str]:
    """Name prefix, exact ID / phone (keyed hash), region subtree, tag, tier, stage, manager."""
    size = page_size(limit)
    after = decode_cursor(token, 2)
    stmt = select(PartyRow).order_by(PartyRow.name, PartyRow.id)
    if not caller.has_role(*ALL_BRANCHES_ROLES):
        stmt = stmt.where(or_(PartyRow.branch_id == caller.branch_id, PartyRow.managing_officer_id == caller.user_id))
    if not query.include_merged:
        stmt = stmt.where(PartyRow.merged_into_id.is_(None))
    if query.name_prefix.strip():
        prefix = query.name_prefix.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(PartyRow.name.like(prefix + "%", escape="\\"))
    if query.id_number.strip():
        kind = (
            PartyKind.PERSON
            if query.id_number.strip()[:1].isdigit() and len(query.id_number.strip()) in (15, 18)
            else None
        )
        number = query.id_number.strip().upper()
        if kind is PartyKind.PERSON:
            try:
                number = check_identity(PartyKind.PERSON, number).number
            except InvalidArgument:
                pass
        stmt = stmt.where(PartyRow.id_number_index == cipher.blind_index(number, context=ID_NUMBER_CONTEXT))
    if query.mobile.strip():
        mobile = check_mobile(query.mobile)
        assert mobile is not None
        stmt = stmt.where(PartyRow.mobile_index == cipher.blind_index(mobile.e164, context=MOBILE_CONTEXT))
    if query.region_code.strip():
        stmt = stmt.where(PartyRow.region_code.like(subtree_prefix(check_region(query.region_code)) + "%"))
    if query.tag.strip():
        stmt = stmt.where(PartyRow.id.in_(select(PartyTagRow.party_id).where(PartyTagRow.tag == query.tag.strip())))
    if query.tier.strip():
        t = query.tier.strip()
        stmt = stmt.where(or_(PartyRow.tier_value == t, PartyRow.tier_activity == t, PartyRow.tier_risk == t))
    if query.stage.strip():
        stmt = stmt.where(PartyRow.stage == check_stage(query.stage).value)
    if query.managing_officer_id.strip():
        stmt = stmt.where(PartyRow.managing_officer_id == query.managing_officer_id.strip())
    if after is not None:
        stmt = stmt.where(tuple_(PartyRow.name, PartyRow.id) > tuple_(str(after[0]), str(after[1])))
    async with uow:
        rows = await uow.parties.search(stmt, size + 1)
        tags = await uow.parties.tags([r.id for r in rows[:size]])
    next_token = encode_cursor([rows[size - 1].name, rows[size - 1].id]) if len(rows) > size else ""
    return [PartyRecord(r, tags[r.id]) for r in rows[:size]], next_token


UPDATABLE = ("address", "region_code", "occupation", "managing_officer_id")


async def update_party(
    *, uow: CustomerUnitOfWork, caller: Caller, party_id: str, mask: Sequence[str], values: dict[str, str]
) -> PartyRecord:
    """Non-key data changes at once; key data (name, ID, legal rep, mobile) goes through a request."""
    fields = list(dict.fromkeys(mask))
    if not fields:
        raise InvalidArgument.for_field("update_mask", "name at least one field")
    for name in fields:
        if name in KEY_FIELDS:
            raise InvalidArgument.for_field(name, "is key data: request the change (it needs approval)")
        if name not in UPDATABLE:
            raise InvalidArgument.for_field("update_mask", f"{name} cannot be updated")
    region = check_region(values.get("region_code", "")) if "region_code" in fields else ""
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        if "managing_officer_id" in fields:
            officer = await uow.org.staff(values["managing_officer_id"])
            if officer is None or not officer.active:
                raise InvalidArgument.for_field("managing_officer_id", "no such active staff member")
            party.managing_officer_id = officer.id
        if "address" in fields:
            party.address = values.get("address", "").strip()[:200]
        if "region_code" in fields:
            party.region_code = region
        if "occupation" in fields:
            party.occupation = values.get("occupation", "").strip()[:100]
        party.updated_at = utcnow()
        uow.record("customer.party.updated", party.id, _party_updated(party, caller, fields))
        uow.audit("party.updated", "party", party.id, {"fields": fields})
        tags = (await uow.parties.tags([party.id]))[party.id]
        await uow.commit()
    return PartyRecord(party, tags)


async def set_party_tags(*, uow: CustomerUnitOfWork, caller: Caller, party_id: str, tags: Sequence[str]) -> PartyRecord:
    cleaned = check_tags(list(tags))
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        await uow.parties.set_tags(party.id, cleaned)
        party.updated_at = utcnow()
        uow.record("customer.party.updated", party.id, _party_updated(party, caller, ["tags"]))
        uow.audit("party.tags_set", "party", party.id, {"tags": cleaned})
        await uow.commit()
    return PartyRecord(party, cleaned)


async def change_party_stage(
    *, uow: CustomerUnitOfWork, caller: Caller, party_id: str, stage: str, reason: str
) -> PartyRecord:
    target = check_stage(stage)
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        if party.stage == target.value:
            tags = (await uow.parties.tags([party.id]))[party.id]
            return PartyRecord(party, tags)
        check_stage_change(party.stage, target)
        now = utcnow()
        uow.parties.add(_stage_row(party.id, party.stage, target.value, reason or "", caller, now))
        before, party.stage, party.updated_at = party.stage, target.value, now
        uow.record("customer.party.updated", party.id, _party_updated(party, caller, ["stage"]))
        uow.audit("party.stage_changed", "party", party.id, {"from": before, "to": target.value})
        tags = (await uow.parties.tags([party.id]))[party.id]
        await uow.commit()
    return PartyRecord(party, tags)


async def _recompute_tiers(uow: CustomerUnitOfWork, rules: TierRules, party: PartyRow, today: date) -> bool:
    """Sets the party's tiers from its records; one customer.tier.changed per changed dimension."""
    parts = await uow.parties.net_worth_parts(party.id)
    net = Decimal(parts.get("asset") or 0) - Decimal(parts.get("liability") or 0)
    report = await uow.parties.latest_credit_report(party.id)
    tiers = compute_tiers(
        rules,
        TierInputs(
            net_worth=net,
            last_interaction_at=await uow.parties.last_interaction_at(party.id),
            credit_summary=report.summary if report else None,
        ),
        today,
    )
    changed = False
    for dimension, after in tiers.items():
        attr = f"tier_{dimension}"
        before = getattr(party, attr)
        if before != after:
            setattr(party, attr, after)
            changed = True
            uow.record(
                "customer.tier.changed",
                party.id,
                customer_pb2.TierChanged(
                    party_id=party.id,
                    dimension=dimension,
                    before=before,
                    after=after,
                    managing_officer_id=party.managing_officer_id,
                ),
            )
    if changed:
        party.updated_at = utcnow()
        uow.audit("party.tiers_recomputed", "party", party.id, tiers)
    return changed


async def recompute_party_tiers(
    *, uow: CustomerUnitOfWork, caller: Caller, rules: TierRules, party_id: str
) -> tuple[PartyRecord, bool]:
    async with uow:
        party = await _visible_party(uow, caller, party_id)
        changed = await _recompute_tiers(uow, rules, party, utcnow().date())
        tags = (await uow.parties.tags([party.id]))[party.id]
        await uow.commit()
    return PartyRecord(party, tags), changed


@dataclass(frozen=True)
class TierPass:
    parties: int
    changed: int


async def recompute_all_tiers(
    *, uow_factory: Callable[[], CustomerUnitOfWork], caller: Caller, rules: TierRules, batch_size: int = 200
) -> TierPass:
    """The scheduled pass over every unmerged party, one transaction per batch; events only for
    tiers that changed."""
    if not caller.is_system:
        raise PermissionDenied("only the scheduler recomputes every customer's tiers")
    seen = changed = 0
    after = ""
    today = utcnow().date()
    while True:
        uow = uow_factory()
        async with uow:
            ids = await uow.parties.active_party_ids(after, batch_size)
            if not ids:
                break
            for party_id in ids:
                party = await uow.parties.get_for_update(party_id)
                if party is not None and party.merged_into_id is None:
                    changed += await _recompute_tiers(uow, rules, party, today)
            await uow.commit()
        seen += len(ids)
        after = ids[-1]
    return TierPass(parties=seen, changed=changed)


async def _follow_merges(parties: PartyRepository, party_id: str) -> PartyRow | None:
    party = await parties.get_for_update(party_id) if party_id else None
    for _ in range(5):
        if party is None or party.merged_into_id is None:
            return party
        party = await parties.get_for_update(party.merged_into_id)
    return party


async def advance_stage_from_credit(
    *,
    uow: UnitOfWork,
    caller: Caller,
    milestone: CreditMilestone,
    party_id: str,
    reference: str,
    loan: PartyLoanRow | None = None,
) -> str | None:
    """Consumer side of credit milestones, inside the consumer's unit of work (no commit here).

    Returns the new stage, or None when the customer stays where he is (unknown party, a loan
    already counted, or a milestone behind his stage).
    """
    parties = PartyRepository(uow.session)
    party = await _follow_merges(parties, party_id)
    if party is None:
        log.info("credit %s for unknown party %s ignored", milestone.value, party_id)
        return None
    other_loans = 0
    if loan is not None:
        if await parties.party_loan(loan.loan_id) is not None:
            return None  # the same disbursement reported again
        other_loans = len(await parties.party_loans(party.id))
        loan.party_id = party.id
        parties.add(loan)
    target = stage_after_credit_event(party.stage, milestone, other_loans=other_loans)
    if target is None:
        return None
    now = utcnow()
    parties.add(_stage_row(party.id, party.stage, target.value, f"{milestone.value} {reference}", caller, now))
    before, party.stage, party.updated_at = party.stage, target.value, now
    uow.record("customer.party.updated", party.id, _party_updated(party, caller, ["stage"]))
    uow.audit("party.stage_changed", "party", party.id, {"from": before, "to": target.value, "cause": milestone.value})
    return target.value


# --------------------------------------------------------------------------- location, birthdays

LOCATED_DOWN_TO_LEVEL = 3  # a county centroid still places a village task roughly; a province does not
BIRTHDAY_CONSENT = "birthday_greeting"


@dataclass(frozen=True)
class PartyLocation:
    party_id: str
    latitude: float
    longitude: float
    region_code: str
    source: str


async def get_party_location(*, uow: CustomerUnitOfWork, caller: Caller, party_id: str) -> PartyLocation:
    """The centroid of the party's address region (or its household's village), walking up to
    the nearest located division down to county level."""
    async with uow:
        if caller.is_system:
            party = await uow.parties.get(party_id) if party_id else None
            if party is None:
                raise PartyNotFound(f"party {party_id} not found")
        else:
            party = await _visible_party(uow, caller, party_id)
        candidates: list[tuple[str, str]] = []
        if party.region_code:
            candidates.append((party.region_code, "address_region"))
        household = await uow.parties.household_of(party.id)
        if household is not None and household.village_code:
            candidates.append((household.village_code, "household_village"))
        for code, source in candidates:
            for enclosing in self_and_ancestors(code):
                if region_level(enclosing) < LOCATED_DOWN_TO_LEVEL:
                    break
                region = await uow.parties.region(enclosing)
                if region is not None and region.latitude is not None and region.longitude is not None:
                    return PartyLocation(party.id, region.latitude, region.longitude, region.code, source)
    raise NotFound(f"party {party_id} has no located address", reason="PARTY_LOCATION_UNKNOWN")


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


async def list_birthday_parties(
    *, uow: CustomerUnitOfWork, caller: Caller, month: int, day: int, limit: int, token: str
) -> tuple[list[PartyRow], str]:
    """Parties born on month/day who consented to birthday greetings (for the reminder job)."""
    if not caller.is_system:
        raise PermissionDenied("only services list birthday greetings")
    if not 1 <= month <= 12:
        raise InvalidArgument.for_field("month", "must be 1 to 12")
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        raise InvalidArgument.for_field("day", f"must be 1 to {_DAYS_IN_MONTH[month - 1]} in month {month}")
    size = page_size(limit)
    after = decode_cursor(token, 1)
    async with uow:
        rows = await uow.parties.birthday_page(
            month=month,
            day=day,
            purpose=BIRTHDAY_CONSENT,
            now=utcnow(),
            after_id=str(after[0]) if after else "",
            limit=size + 1,
        )
    next_token = encode_cursor([rows[size - 1].id]) if len(rows) > size else ""
    return rows[:size], next_token


async def merge_parties(
    *, uow: CustomerUnitOfWork, caller: Caller, survivor_id: str, duplicate_id: str, reason: str
) -> tuple[PartyRecord, PartyRecord, dict[str, int]]:
    """Moves every record of the duplicate to the survivor; the duplicate stays, marked merged."""
    if not caller.has_role(*MERGERS, "system"):
        raise PermissionDenied("your roles may not merge customers")
    if survivor_id == duplicate_id:
        raise InvalidArgument.for_field("duplicate_id", "must differ from survivor_id")
    if not reason.strip():
        raise InvalidArgument.for_field("reason", "is required")
    async with uow:
        survivor = await _visible_party(uow, caller, survivor_id, write=True)
        duplicate = await _visible_party(uow, caller, duplicate_id, write=True)
        if duplicate.merged_into_id or survivor.merged_into_id:
            raise FailedPrecondition("one of the parties is already merged", reason="PARTY_MERGED")
        if survivor.kind != duplicate.kind:
            raise FailedPrecondition("a person cannot be merged with an organisation", reason="PARTY_KIND_MISMATCH")
        moved = await uow.parties.move_records(duplicate.id, survivor.id)
        now = utcnow()
        duplicate.merged_into_id = survivor.id
        duplicate.updated_at = survivor.updated_at = now
        uow.parties.add(
            PartyMergeRow(
                id=new_id(),
                survivor_id=survivor.id,
                duplicate_id=duplicate.id,
                reason=reason.strip()[:200],
                moved=moved,
                merged_by=caller.user_id,
                merged_at=now,
            )
        )
        uow.record("customer.party.merged", duplicate.id, _party_updated(duplicate, caller, ["merged_into_id"]))
        uow.audit(
            "party.merged",
            "party",
            survivor.id,
            {"duplicate_id": duplicate.id, "moved": moved, "reason": reason.strip()},
        )
        await uow.parties.flush()
        tags = await uow.parties.tags([survivor.id, duplicate.id])
        await uow.commit()
    return PartyRecord(survivor, tags[survivor.id]), PartyRecord(duplicate, tags[duplicate.id]), moved


# --------------------------------------------------------------------------- key-data changes


def _current_value(cipher: FieldCipher, party: PartyRow, field_name: str) -> str:
    if field_name == "name":
        return party.name
    if field_name == "legal_representative":
        return party.legal_rep_name
    if field_name == "id_number":
        return cipher.decrypt(party.id_number_cipher, context=ID_NUMBER_CONTEXT)
    return cipher.decrypt(party.mobile_cipher, context=MOBILE_CONTEXT) if party.mobile_cipher else ""


def _change_event(change: PartyChangeRow, party: PartyRow) -> customer_pb2.PartyChangeEvent:
    return customer_pb2.PartyChangeEvent(
        change_id=change.id,
        party_id=party.id,
        field=change.field,
        before_masked=change.before_masked,
        after_masked=change.after_masked,
        requested_by=change.requested_by,
        decided_by=change.decided_by or "",
        branch_id=party.branch_id,
        managing_officer_id=party.managing_officer_id,
        party_name=party.name,
    )


async def request_party_change(
    *,
    uow: CustomerUnitOfWork,
    cipher: FieldCipher,
    caller: Caller,
    party_id: str,
    field_name: str,
    new_value: str,
    reason: str,
) -> PartyChangeRow:
    """Stores the request and asks for approval (customer.change.requested); nothing changes yet."""
    if field_name not in KEY_FIELDS:
        raise InvalidArgument.for_field("field", f"must be one of {', '.join(KEY_FIELDS)}")
    if not reason.strip():
        raise InvalidArgument.for_field("reason", "is required")
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        kind = PartyKind(party.kind)
        if field_name == "legal_representative" and kind is PartyKind.PERSON:
            raise InvalidArgument.for_field("field", "a person has no legal representative")
        if field_name == "id_number":
            normalized = check_identity(kind, new_value, party.id_type, field="new_value").number
        elif field_name == "mobile":
            mobile = check_mobile(new_value, field="new_value")
            normalized = mobile.e164 if mobile else ""
        else:
            normalized = check_name(new_value, "new_value")
        current = _current_value(cipher, party, field_name)
        if normalized == current:
            raise InvalidArgument.for_field("new_value", "is the current value")
        change = PartyChangeRow(
            id=new_id(),
            party_id=party.id,
            field=field_name,
            new_value_cipher=cipher.encrypt(normalized, context=CHANGE_CONTEXT),
            before_masked=mask_key_value(field_name, current),
            after_masked=mask_key_value(field_name, normalized),
            status="requested",
            reason=reason.strip()[:200],
            requested_by=caller.user_id,
            requested_at=utcnow(),
            decided_by=None,
            decided_at=None,
            comment="",
        )
        uow.parties.add(change)
        uow.record("customer.change.requested", party.id, _change_event(change, party))
        uow.audit(
            "party.change_requested",
            "party",
            party.id,
            {"change_id": change.id, "field": field_name, "before": change.before_masked, "after": change.after_masked},
        )
        await uow.commit()
    return change


async def apply_party_change(
    *, uow: CustomerUnitOfWork, cipher: FieldCipher, caller: Caller, change_id: str, approved: bool, comment: str
) -> tuple[PartyChangeRow, PartyRecord]:
    """Applies (or rejects) a requested change: the process service, or an approver who did not request it."""
    if not caller.has_role(*CHANGE_APPROVERS, "system"):
        raise PermissionDenied("your roles may not decide key-data changes")
    async with uow:
        change = await uow.parties.change(change_id)
        if change is None:
            raise NotFound(f"change {change_id} not found", reason="CHANGE_NOT_FOUND")
        party = await _visible_party(uow, caller, change.party_id)
        if change.status != "requested":
            raise FailedPrecondition(f"the change is already {change.status}", reason="CHANGE_DECIDED")
        if change.requested_by == caller.user_id:
            raise PermissionDenied("the requester may not approve his own change")
        now = utcnow()
        change.decided_by, change.decided_at, change.comment = caller.user_id, now, comment.strip()[:500]
        if approved:
            value = cipher.decrypt(change.new_value_cipher, context=CHANGE_CONTEXT)
            if change.field == "name":
                party.name = value
            elif change.field == "legal_representative":
                party.legal_rep_name = value
            elif change.field == "id_number":
                index = cipher.blind_index(value, context=ID_NUMBER_CONTEXT)
                other = await uow.parties.find_by_id_number_index(index)
                if other is not None and other.id != party.id:
                    raise DuplicateParty("another party carries this ID number: merge them instead")
                identity = check_identity(PartyKind(party.kind), value, party.id_type)
                party.id_number_cipher = cipher.encrypt(identity.number, context=ID_NUMBER_CONTEXT)
                party.id_number_index, party.id_number_masked = index, identity.masked
                party.birth_date, party.gender = identity.birth_date, identity.gender
            else:
                mobile = check_mobile(value)
                party.mobile_cipher = cipher.encrypt(mobile.e164, context=MOBILE_CONTEXT) if mobile else None
                party.mobile_index = cipher.blind_index(mobile.e164, context=MOBILE_CONTEXT) if mobile else None
                party.mobile_masked = mobile.masked if mobile else ""
            party.updated_at = now
            change.status = "applied"
            uow.record("customer.change.applied", party.id, _change_event(change, party))
            uow.record("customer.party.updated", party.id, _party_updated(party, caller, [change.field]))
        else:
            change.status = "rejected"
            uow.record("customer.change.rejected", party.id, _change_event(change, party))
        uow.audit(
            f"party.change_{change.status}",
            "party",
            party.id,
            {
                "change_id": change.id,
                "field": change.field,
                "before": change.before_masked,
                "after": change.after_masked,
            },
        )
        tags = (await uow.parties.tags([party.id]))[party.id]
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise DuplicateParty("another party carries this ID number: merge them instead") from exc
    return change, PartyRecord(party, tags)


async def list_party_changes(*, uow: CustomerUnitOfWork, caller: Caller, party_id: str) -> list[PartyChangeRow]:
    async with uow:
        party = await _visible_party(uow, caller, party_id)
        return await uow.parties.changes(party.id)


# --------------------------------------------------------------------------- relations, households, finances


def _decimal(value: str, field_name: str, *, required: bool = True) -> Decimal | None:
    if not value.strip():
        if required:
            raise InvalidArgument.for_field(field_name, "is required")
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidArgument.for_field(field_name, "must be a decimal number") from None
    if not number.is_finite() or number < 0:
        raise InvalidArgument.for_field(field_name, "must be a non-negative number")
    return number


def _date(value: str, field_name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidArgument.for_field(field_name, "must be an ISO date (YYYY-MM-DD)") from None


async def add_relation(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    party_id: str,
    related_party_id: str,
    kind: str,
    share_percent: str,
    valid_from: str,
    valid_to: str,
) -> tuple[RelationRow, str]:
    if kind not in RELATION_KINDS:
        raise InvalidArgument.for_field("kind", f"must be one of {', '.join(RELATION_KINDS)}")
    share = _decimal(share_percent, "share_percent", required=kind == "shareholder")
    if share is not None and share > 100:
        raise InvalidArgument.for_field("share_percent", "must be at most 100")
    start, end = _date(valid_from, "valid_from"), _date(valid_to, "valid_to")
    if start and end and end < start:
        raise InvalidArgument.for_field("valid_to", "is before valid_from")
    if party_id == related_party_id:
        raise InvalidArgument.for_field("related_party_id", "a party is not related to itself")
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        related = await uow.parties.get(related_party_id)
        if related is None:
            raise InvalidArgument.for_field("related_party_id", "no such party")
        relation = RelationRow(
            id=new_id(),
            party_id=party.id,
            related_party_id=related.id,
            kind=kind,
            share_percent=share,
            valid_from=start,
            valid_to=end,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.parties.add(relation)
        uow.audit(
            "party.relation_added",
            "party",
            party.id,
            {"relation_id": relation.id, "kind": kind, "related_party_id": related.id},
        )
        await uow.commit()
    return relation, related.name


@dataclass
class HouseholdRecord:
    row: HouseholdRow
    members: list[tuple[HouseholdMemberRow, str]]


async def create_household(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    head_party_id: str,
    village_code: str,
    land_mu: str,
    labour_count: int,
    main_income: str,
    annual_income: str,
    rating: str,
) -> HouseholdRecord:
    village = check_region(village_code, "village_code")
    if not village:
        raise InvalidArgument.for_field("village_code", "is required")
    land = _decimal(land_mu or "0", "land_mu") or Decimal(0)
    income = _decimal(annual_income or "0", "annual_income") or Decimal(0)
    if labour_count < 0:
        raise InvalidArgument.for_field("labour_count", "must not be negative")
    async with uow:
        head = await _visible_party(uow, caller, head_party_id, write=True)
        if head.kind != PartyKind.PERSON.value:
            raise InvalidArgument.for_field("head_party_id", "the head of a household is a person")
        if await uow.parties.household_of(head.id) is not None:
            raise AlreadyExists("this person already belongs to a household", reason="HOUSEHOLD_MEMBER_EXISTS")
        household = HouseholdRow(
            id=new_id(),
            head_party_id=head.id,
            village_code=village,
            land_mu=land,
            labour_count=labour_count,
            main_income=main_income.strip()[:100],
            annual_income=income,
            rating=rating.strip()[:16],
            branch_id=head.branch_id,
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.parties.add(household)
        await uow.parties.flush()
        uow.parties.add(
            HouseholdMemberRow(household_id=household.id, party_id=head.id, relation="head", co_borrower=True)
        )
        uow.audit("household.created", "household", household.id, {"head_party_id": head.id})
        await uow.parties.flush()
        members = await uow.parties.household_members(household.id)
        await uow.commit()
    return HouseholdRecord(household, members)


async def _visible_household(uow: CustomerUnitOfWork, caller: Caller, household_id: str) -> HouseholdRow:
    household = await uow.parties.household(household_id)
    if household is None:
        raise NotFound(f"household {household_id} not found", reason="HOUSEHOLD_NOT_FOUND")
    head = await uow.parties.get(household.head_party_id)
    if head is None or not _may_see(caller, head):
        raise NotFound(f"household {household_id} not found", reason="HOUSEHOLD_NOT_FOUND")
    return household


async def add_household_member(
    *, uow: CustomerUnitOfWork, caller: Caller, household_id: str, party_id: str, relation: str, co_borrower: bool
) -> HouseholdRecord:
    if relation not in MEMBER_RELATIONS or relation == "head":
        raise InvalidArgument.for_field("relation", "must be spouse, child, parent, sibling or other")
    async with uow:
        household = await _visible_household(uow, caller, household_id)
        member = await _visible_party(uow, caller, party_id, write=True)
        if member.kind != PartyKind.PERSON.value:
            raise InvalidArgument.for_field("party_id", "household members are people")
        if await uow.parties.household_of(member.id) is not None:
            raise AlreadyExists("this person already belongs to a household", reason="HOUSEHOLD_MEMBER_EXISTS")
        uow.parties.add(
            HouseholdMemberRow(
                household_id=household.id, party_id=member.id, relation=relation, co_borrower=co_borrower
            )
        )
        uow.audit(
            "household.member_added",
            "household",
            household.id,
            {"party_id": member.id, "relation": relation, "co_borrower": co_borrower},
        )
        await uow.parties.flush()
        members = await uow.parties.household_members(household.id)
        await uow.commit()
    return HouseholdRecord(household, members)


async def get_household(*, uow: CustomerUnitOfWork, caller: Caller, household_id: str) -> HouseholdRecord:
    async with uow:
        household = await _visible_household(uow, caller, household_id)
        return HouseholdRecord(household, await uow.parties.household_members(household.id))


async def add_financial_item(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    party_id: str,
    category: str,
    item_type: str,
    value: str,
    valuation_date: str,
    verified_by_visit: bool,
    description: str,
) -> FinancialItemRow:
    if category not in ("asset", "liability"):
        raise InvalidArgument.for_field("category", "must be asset or liability")
    if not item_type.strip():
        raise InvalidArgument.for_field("item_type", "is required")
    amount = _decimal(value, "value")
    valued = _date(valuation_date, "valuation_date") or utcnow().date()
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        item = FinancialItemRow(
            id=new_id(),
            party_id=party.id,
            category=category,
            item_type=item_type.strip()[:50],
            value=amount,
            valuation_date=valued,
            verified_by_visit=verified_by_visit,
            description=description.strip()[:200],
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.parties.add(item)
        uow.audit(
            "party.financial_item_added",
            "party",
            party.id,
            {"item_id": item.id, "category": category, "value": str(amount)},
        )
        await uow.commit()
    return item


def _consent_active(consent: ConsentRow, now: datetime) -> bool:
    from services.common.clock import as_utc

    return (
        consent.granted
        and consent.revoked_at is None
        and (consent.expires_at is None or as_utc(consent.expires_at) > now)
    )


async def record_consent(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    party_id: str,
    purpose: str,
    scope: str,
    granted: bool,
    expires_at: datetime | None,
    document_ref: str,
) -> ConsentRow:
    if not purpose.strip():
        raise InvalidArgument.for_field("purpose", "is required")
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument.for_field("expires_at", "is in the past")
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=True)
        consent = ConsentRow(
            id=new_id(),
            party_id=party.id,
            purpose=purpose.strip()[:50],
            scope=scope.strip()[:200],
            granted=granted,
            granted_at=now,
            expires_at=expires_at,
            revoked_at=None,
            document_ref=document_ref.strip()[:200],
            recorded_by=caller.user_id,
        )
        uow.parties.add(consent)
        uow.audit(
            "party.consent_recorded",
            "party",
            party.id,
            {"consent_id": consent.id, "purpose": consent.purpose, "granted": granted},
        )
        await uow.commit()
    return consent


async def revoke_consent(*, uow: CustomerUnitOfWork, caller: Caller, consent_id: str) -> ConsentRow:
    async with uow:
        consent = await uow.parties.consent(consent_id)
        if consent is None:
            raise NotFound(f"consent {consent_id} not found", reason="CONSENT_NOT_FOUND")
        party = await _visible_party(uow, caller, consent.party_id, write=True)
        if consent.revoked_at is None:
            consent.revoked_at = utcnow()
            uow.audit("party.consent_revoked", "party", party.id, {"consent_id": consent.id})
            await uow.commit()
    return consent


async def check_consent(*, uow: CustomerUnitOfWork, caller: Caller, party_id: str, purpose: str) -> ConsentRow | None:
    async with uow:
        party = await _visible_party(uow, caller, party_id)
        now = utcnow()
        active = [c for c in await uow.parties.consents(party.id) if c.purpose == purpose and _consent_active(c, now)]
    return active[-1] if active else None


async def record_credit_report(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    party_id: str,
    bureau: str,
    consent_id: str,
    purpose: str,
    queried_at: datetime | None,
    summary: dict[str, str],
    document_ref: str,
    external_ref: str,
) -> CreditReportRow:
    """Idempotent on the bureau's external reference."""
    if not bureau.strip():
        raise InvalidArgument.for_field("bureau", "is required")
    if not external_ref.strip():
        raise InvalidArgument.for_field("external_ref", "is required")
    async with uow:
        existing = await uow.parties.credit_report_by_ref(external_ref.strip())
        if existing is not None:
            if existing.party_id != party_id:
                raise AlreadyExists("this report reference belongs to another party", reason="CREDIT_REPORT_EXISTS")
            return existing
        party = await _visible_party(uow, caller, party_id, write=True)
        consent = await uow.parties.consent(consent_id) if consent_id else None
        if consent is None or consent.party_id != party.id:
            raise InvalidArgument.for_field("consent_id", "no consent of this party")
        when = queried_at or utcnow()
        if not _consent_active(consent, when):
            raise FailedPrecondition("the consent was not in force at the query time", reason="CONSENT_NOT_IN_FORCE")
        report = CreditReportRow(
            id=new_id(),
            party_id=party.id,
            bureau=bureau.strip()[:50],
            consent_id=consent.id,
            purpose=(purpose or consent.purpose).strip()[:50],
            queried_at=when,
            summary=dict(summary),
            document_ref=document_ref.strip()[:200],
            external_ref=external_ref.strip()[:100],
            recorded_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.parties.add(report)
        uow.audit("party.credit_report_recorded", "party", party.id, {"report_id": report.id, "bureau": report.bureau})
        try:
            await uow.commit()
        except IntegrityError:
            pass
        else:
            return report
    async with uow:  # lost a race with the same reference: answer the stored one
        stored = await uow.parties.credit_report_by_ref(external_ref.strip())
    assert stored is not None
    return stored


async def record_interaction(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    party_id: str,
    kind: str,
    channel: str,
    occurred_at: datetime | None,
    summary: str,
    linked_task_id: str,
    linked_application_id: str,
) -> InteractionRow:
    if kind not in INTERACTION_KINDS:
        raise InvalidArgument.for_field("kind", f"must be one of {', '.join(INTERACTION_KINDS)}")
    if not summary.strip():
        raise InvalidArgument.for_field("summary", "is required")
    async with uow:
        party = await _visible_party(uow, caller, party_id, write=not caller.is_system)
        row = InteractionRow(
            id=new_id(),
            party_id=party.id,
            kind=kind,
            channel=channel.strip()[:32] or kind,
            actor_id=caller.user_id,
            occurred_at=occurred_at or utcnow(),
            summary=summary.strip()[:1000],
            linked_task_id=linked_task_id[:36],
            linked_application_id=linked_application_id[:36],
        )
        uow.parties.add(row)
        uow.audit("party.interaction_recorded", "party", party.id, {"interaction_id": row.id, "kind": kind})
        await uow.commit()
    return row


# --------------------------------------------------------------------------- 360° view


@dataclass(frozen=True)
class CreditItem:
    kind: str
    id: str
    status: str
    amount: str
    details: dict[str, str]


@dataclass(frozen=True)
class FieldTaskItem:
    id: str
    task_type: str
    status: str
    details: dict[str, str]


class SourceUnavailable(Exception):
    """A remote source of the view could not answer; the message says why."""


class ViewSources(Protocol):
    async def party_credit(self, party_id: str) -> list[CreditItem]: ...

    async def open_field_tasks(self, party_id: str) -> list[FieldTaskItem]: ...


@dataclass
class PartyView:
    party: PartyRecord
    household: HouseholdRecord | None
    relations: list[tuple[RelationRow, str]]
    financial_items: list[FinancialItemRow]
    latest_credit_report: CreditReportRow | None
    consents: list[ConsentRow]
    interactions: list[InteractionRow]
    credit: list[CreditItem] = field(default_factory=list)
    field_tasks: list[FieldTaskItem] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


async def get_party_view(
    *, uow: CustomerUnitOfWork, caller: Caller, sources: ViewSources, party_id: str, interaction_limit: int = 50
) -> PartyView:
    """Our own records in one read; then, with no transaction open, the credit and field-task
    services. A source that fails is named in ``missing``: the answer is partial, not an error."""
    limit = min(max(interaction_limit, 0) or 50, 200)
    async with uow:
        party = await _visible_party(uow, caller, party_id)
        tags = (await uow.parties.tags([party.id]))[party.id]
        household_row = await uow.parties.household_of(party.id)
        household = (
            HouseholdRecord(household_row, await uow.parties.household_members(household_row.id))
            if household_row
            else None
        )
        view = PartyView(
            party=PartyRecord(party, tags),
            household=household,
            relations=await uow.parties.relations(party.id),
            financial_items=await uow.parties.financial_items(party.id),
            latest_credit_report=await uow.parties.latest_credit_report(party.id),
            consents=await uow.parties.consents(party.id),
            interactions=await uow.parties.interactions(party.id, limit),
        )
    credit, tasks = await asyncio.gather(
        sources.party_credit(party.id), sources.open_field_tasks(party.id), return_exceptions=True
    )
    for part, outcome in (("credit", credit), ("fieldtask", tasks)):
        if isinstance(outcome, SourceUnavailable):
            view.missing[part] = str(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
    if isinstance(credit, list):
        view.credit = credit
    if isinstance(tasks, list):
        view.field_tasks = tasks
    return view


# --------------------------------------------------------------------------- leads

LEAD_RANK = {stage: rank for rank, stage in enumerate(LEAD_STAGES)}


async def create_lead(
    *,
    uow: CustomerUnitOfWork,
    cipher: FieldCipher,
    caller: Caller,
    name: str,
    mobile: str,
    region_code: str,
    channel: str,
    source: str,
    next_follow_up: str,
    note: str,
) -> LeadRow:
    """Registers a lead and assigns it round-robin to an account manager serving its region."""
    if not caller.has_role(*PARTY_WRITERS, "system"):
        raise PermissionDenied("your roles may not register leads")
    if channel not in LEAD_CHANNELS:
        raise InvalidArgument.for_field("channel", f"must be one of {', '.join(LEAD_CHANNELS)}")
    checked_name = check_name(name)
    phone = check_mobile(mobile)
    region = check_region(region_code)
    follow_up = _date(next_follow_up, "next_follow_up")
    async with uow:
        candidates = [
            Candidate(staff_id=s.id, branch_id=s.branch_id, regions=regions, last_lead_at=s.last_lead_at)
            for s, regions in await uow.org.serving_officers()
        ]
        chosen = choose_account_manager(region, candidates)
        now = utcnow()
        if chosen is not None:
            officer = await uow.org.lock_staff(chosen.staff_id)
            assert officer is not None
            officer.last_lead_at = now
        lead = LeadRow(
            id=new_id(),
            name=checked_name,
            mobile_cipher=cipher.encrypt(phone.e164, context=MOBILE_CONTEXT) if phone else None,
            mobile_index=cipher.blind_index(phone.e164, context=MOBILE_CONTEXT) if phone else None,
            mobile_masked=phone.masked if phone else "",
            region_code=region,
            channel=channel,
            source=source.strip()[:100],
            stage="new",
            max_stage_rank=0,
            assigned_officer_id=chosen.staff_id if chosen else None,
            branch_id=chosen.branch_id if chosen else (caller.branch_id or None),
            next_follow_up=follow_up,
            party_id=None,
            note=note.strip()[:500],
            created_by=caller.user_id,
            created_at=now,
            converted_at=None,
        )
        uow.leads.add(lead)
        uow.record("customer.lead.assigned", lead.id, _lead_assigned(lead))
        uow.audit(
            "lead.created",
            "lead",
            lead.id,
            {"channel": channel, "assigned_officer_id": lead.assigned_officer_id or "", "queue": chosen is None},
        )
        await uow.commit()
    return lead


def _lead_assigned(lead: LeadRow) -> customer_pb2.LeadAssigned:
    return customer_pb2.LeadAssigned(
        lead_id=lead.id,
        assigned_officer_id=lead.assigned_officer_id or "",
        branch_id=lead.branch_id or "",
        region_code=lead.region_code,
        in_fallback_queue=lead.assigned_officer_id is None,
        name=lead.name,
    )


def _may_see_lead(caller: Caller, lead: LeadRow) -> bool:
    return (
        caller.has_role(*ALL_BRANCHES_ROLES)
        or lead.assigned_officer_id == caller.user_id
        or (caller.has_role("supervisor", "president") and lead.branch_id == caller.branch_id)
        or (lead.assigned_officer_id is None and caller.has_role("supervisor", "president"))
    )


async def list_leads(
    *, uow: CustomerUnitOfWork, caller: Caller, view: str, stage: str, limit: int, token: str
) -> tuple[list[LeadRow], str]:
    size = page_size(limit)
    after = decode_cursor(token, 2)
    stmt = select(LeadRow).order_by(LeadRow.created_at.desc(), LeadRow.id.desc())
    if view in ("", "mine"):
        stmt = stmt.where(LeadRow.assigned_officer_id == caller.user_id)
    elif view == "queue":
        if not caller.has_role("supervisor", "president", "admin"):
            raise PermissionDenied("the fallback queue is for supervisors")
        stmt = stmt.where(LeadRow.assigned_officer_id.is_(None))
    elif view == "all":
        if not caller.has_role(*ALL_BRANCHES_ROLES):
            if not caller.has_role("supervisor", "president"):
                raise PermissionDenied("only supervisors see all leads of their branch")
            stmt = stmt.where(LeadRow.branch_id == caller.branch_id)
    else:
        raise InvalidArgument.for_field("view", "must be mine, queue or all")
    if stage:
        stmt = stmt.where(LeadRow.stage == stage)
    if after is not None:
        stmt = stmt.where(
            tuple_(LeadRow.created_at, LeadRow.id) < tuple_(datetime.fromisoformat(str(after[0])), str(after[1]))
        )
    async with uow:
        rows = await uow.leads.page(stmt, size + 1)
    next_token = encode_cursor([rows[size - 1].created_at.isoformat(), rows[size - 1].id]) if len(rows) > size else ""
    return rows[:size], next_token


async def update_lead(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    lead_id: str,
    stage: str,
    next_follow_up: str,
    assigned_officer_id: str,
    party_id: str,
    note: str,
) -> LeadRow:
    if stage and stage not in LEAD_STAGES and stage != LOST:
        raise InvalidArgument.for_field("stage", f"must be one of {', '.join((*LEAD_STAGES, LOST))}")
    follow_up = _date(next_follow_up, "next_follow_up")
    async with uow:
        lead = await uow.leads.get(lead_id)
        if lead is None or not _may_see_lead(caller, lead):
            raise NotFound(f"lead {lead_id} not found", reason="LEAD_NOT_FOUND")
        changes: dict[str, Any] = {}
        if assigned_officer_id and assigned_officer_id != lead.assigned_officer_id:
            if not caller.has_role("supervisor", "president", "admin", "system"):
                raise PermissionDenied("only supervisors reassign leads")
            officer = await uow.org.staff(assigned_officer_id)
            if officer is None or not officer.active or "officer" not in officer.roles:
                raise InvalidArgument.for_field("assigned_officer_id", "no such active account manager")
            lead.assigned_officer_id, lead.branch_id = officer.id, officer.branch_id
            changes["assigned_officer_id"] = officer.id
            uow.record("customer.lead.assigned", lead.id, _lead_assigned(lead))
        if stage and stage != lead.stage:
            if lead.stage in ("converted", LOST):
                raise FailedPrecondition(f"the lead is already {lead.stage}", reason="LEAD_CLOSED")
            if stage == "converted":
                if not party_id:
                    raise InvalidArgument.for_field("party_id", "a converted lead names the party it became")
                await _visible_party(uow, caller, party_id)
                lead.party_id, lead.converted_at = party_id, utcnow()
            lead.stage = stage
            if stage in LEAD_RANK:
                lead.max_stage_rank = max(lead.max_stage_rank, LEAD_RANK[stage])
            changes["stage"] = stage
        if follow_up is not None:
            lead.next_follow_up = follow_up
            changes["next_follow_up"] = follow_up.isoformat()
        if note.strip():
            lead.note = note.strip()[:500]
            changes["note"] = True
        if changes:
            uow.audit("lead.updated", "lead", lead.id, changes)
            await uow.commit()
    return lead


async def get_lead_funnel(
    *,
    uow: CustomerUnitOfWork,
    caller: Caller,
    branch_id: str,
    created_from: datetime | None,
    created_to: datetime | None,
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    if not caller.has_role(*ALL_BRANCHES_ROLES, "supervisor", "president"):
        raise PermissionDenied("the funnel is for managers")
    if not caller.has_role(*ALL_BRANCHES_ROLES):
        branch_id = caller.branch_id
    async with uow:
        ranks = await uow.leads.stage_rank_counts(branch_id, created_from, created_to)
        stages = await uow.parties.stage_counts(branch_id)
    lead_stages = [(stage, sum(n for rank, n in ranks.items() if rank >= LEAD_RANK[stage])) for stage in LEAD_STAGES]
    party_stages = [(s.value, stages.get(s.value, 0)) for s in STAGE_ORDER]
    return lead_stages, party_stages


# --------------------------------------------------------------------------- import


@dataclass
class ImportOutcome:
    batch_id: str
    status: str
    total_rows: int
    valid_rows: int
    created: int
    duplicates: int
    errors: list[importing.RowError]
    file_sha256: str
    party_ids: list[str] = field(default_factory=list)


async def import_parties(
    *,
    uow: CustomerUnitOfWork,
    cipher: FieldCipher,
    caller: Caller,
    file_name: str,
    content: bytes,
    dry_run: bool,
    valid_rows_only: bool,
    mapping: dict[str, str],
) -> ImportOutcome:
    """Dry run: every row's errors, nothing written. Commit: all rows or none, unless the user
    chose "valid rows only". The same file twice, or a number already registered, creates nothing."""
    if not caller.has_role(*PARTY_WRITERS, "system"):
        raise PermissionDenied("your roles may not import customers")
    if not caller.branch_id and not caller.is_system:
        raise InvalidArgument.for_field("branch_id", "your account has no branch")
    if not content:
        raise InvalidArgument.for_field("file", "is empty")
    name = file_name.strip()[-200:] or "upload"
    sha256 = hashlib.sha256(content).hexdigest()
    rows = importing.parse_rows(name, content, mapping)
    errors = [e for r in rows for e in r.errors]
    valid = [r for r in rows if r.valid]
    indexes = {r.row: cipher.blind_index(r.identity.number, context=ID_NUMBER_CONTEXT) for r in valid if r.identity}
    async with uow:
        earlier = await uow.imports.by_hash(sha256)
        if earlier is not None and not dry_run:
            return ImportOutcome(
                batch_id=earlier.id,
                status="already_imported",
                total_rows=earlier.total_rows,
                valid_rows=earlier.created_count + earlier.duplicate_count,
                created=0,
                duplicates=earlier.created_count + earlier.duplicate_count,
                errors=[
                    importing.RowError(int(str(e["row"])), str(e["column"]), str(e["reason"])) for e in earlier.errors
                ],
                file_sha256=sha256,
                party_ids=await uow.imports.party_ids(earlier.id),
            )
        existing = await uow.parties.existing_indexes(list(indexes.values()))
        fresh = [r for r in valid if indexes[r.row] not in existing]
        duplicates = len(valid) - len(fresh)
        outcome = ImportOutcome(
            batch_id="",
            status="dry_run",
            total_rows=len(rows),
            valid_rows=len(valid),
            created=0,
            duplicates=duplicates,
            errors=errors,
            file_sha256=sha256,
        )
        if dry_run:
            return outcome
        if errors and not valid_rows_only:
            raise InvalidArgument(
                f"{len(errors)} errors in {len({e.row for e in errors})} rows: nothing imported "
                "(fix them, or import the valid rows only)",
                [importing.FieldViolation(f"row {e.row}: {e.column}", e.reason) for e in errors],
                reason="IMPORT_ROWS_INVALID",
            )
        branch_id = caller.branch_id
        if not branch_id or await uow.org.branch(branch_id) is None:
            raise InvalidArgument.for_field("branch_id", "no such branch")
        batch = ImportBatchRow(
            id=new_id(),
            file_name=name,
            file_sha256=sha256,
            status="partial" if errors else "committed",
            total_rows=len(rows),
            created_count=len(fresh),
            duplicate_count=duplicates,
            errors=[{"row": e.row, "column": e.column, "reason": e.reason} for e in errors],
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.imports.add(batch)
        now = utcnow()
        parties: list[PartyRow] = []
        for r in fresh:
            assert r.identity is not None
            party = _new_party_row(
                cipher=cipher,
                caller=caller,
                kind=r.kind,
                name=r.name,
                identity=r.identity,
                index=indexes[r.row],
                mobile_e164=r.mobile_e164,
                mobile_masked=r.mobile_masked,
                branch_id=branch_id,
                managing_officer_id=caller.user_id,
                address=r.address,
                region_code=r.region_code,
                occupation=r.occupation,
                legal_rep=r.legal_representative,
                stage=r.stage,
                now=now,
            )
            party.import_batch_id, party.import_file, party.import_row = batch.id, name, r.row
            parties.append(party)
        uow.parties.add_all(parties)
        await uow.parties.flush()
        for party, r in zip(parties, fresh, strict=True):
            uow.parties.add_all([PartyTagRow(party_id=party.id, tag=t) for t in r.tags])
            uow.parties.add(_stage_row(party.id, "", party.stage, f"imported from {name} row {r.row}", caller, now))
            uow.record("customer.party.created", party.id, _party_created(party, caller))
        uow.audit(
            "import.committed",
            "import_batch",
            batch.id,
            {
                "file": name,
                "sha256": sha256,
                "created": len(fresh),
                "duplicates": duplicates,
                "error_rows": len({e.row for e in errors}),
            },
        )
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise DuplicateParty("the same file or ID numbers were imported at the same time; retry") from exc
    outcome.batch_id, outcome.status, outcome.created = batch.id, batch.status, len(fresh)
    outcome.party_ids = [p.id for p in parties]
    return outcome


# --------------------------------------------------------------------------- org directory


@dataclass
class StaffRecord:
    row: StaffRow
    regions: list[str]


async def list_branches(*, uow: CustomerUnitOfWork, caller: Caller) -> list[tuple[BranchRow, int]]:
    """Depth-first: each branch after its parent, with its depth."""
    async with uow:
        rows = await uow.org.branches()
    children: dict[str | None, list[BranchRow]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[tuple[BranchRow, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for row in children.get(parent, []):
            ordered.append((row, depth))
            walk(row.id, depth + 1)

    walk(None, 0)
    return ordered


async def get_staff(*, uow: CustomerUnitOfWork, caller: Caller, staff_id: str) -> StaffRecord:
    async with uow:
        staff = await uow.org.staff(staff_id)
        if staff is None:
            raise NotFound(f"staff {staff_id} not found", reason="STAFF_NOT_FOUND")
        regions = (await uow.org.regions_of([staff.id]))[staff.id]
    return StaffRecord(staff, regions)


async def list_staff(
    *, uow: CustomerUnitOfWork, caller: Caller, branch_id: str, role: str, include_inactive: bool
) -> list[StaffRecord]:
    async with uow:
        rows = await uow.org.staff_list(branch_id, include_inactive)
        rows = [s for s in rows if not role or role in s.roles]
        regions = await uow.org.regions_of([s.id for s in rows])
    return [StaffRecord(s, regions[s.id]) for s in rows]


def _check_regions(codes: Sequence[str]) -> list[str]:
    return sorted({check_region(c, "regions_served") for c in codes if c.strip()})


async def set_staff_regions(
    *, uow: CustomerUnitOfWork, caller: Caller, staff_id: str, regions: Sequence[str]
) -> StaffRecord:
    _require_admin(caller)
    codes = _check_regions(regions)
    async with uow:
        staff = await uow.org.staff(staff_id)
        if staff is None:
            raise NotFound(f"staff {staff_id} not found", reason="STAFF_NOT_FOUND")
        await uow.org.set_regions(staff.id, codes)
        uow.audit("staff.regions_set", "staff", staff.id, {"regions_served": codes})
        await uow.commit()
    return StaffRecord(staff, codes)


async def list_regions(*, uow: CustomerUnitOfWork, caller: Caller, parent_code: str) -> list[RegionRow]:
    async with uow:
        return await uow.org.regions(parent_code.strip())


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
        uow.audit("branch.created", "branch", branch.id, {"code": code, "parent_id": parent_id})
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
    phone: str = "",
    regions: Sequence[str] = (),
) -> StaffRecord:
    _require_admin(caller)
    username = check_username(username)
    roles = check_roles(roles)
    work_phone = check_mobile(phone, "phone")
    codes = _check_regions(regions)
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
            phone=work_phone.e164 if work_phone else "",
        )
        uow.org.add(staff)
        await uow.parties.flush()
        await uow.org.set_regions(staff.id, codes)
        uow.audit("staff.created", "staff", staff.id, {"username": username, "roles": roles, "branch_id": branch_id})
        await uow.commit()
    return StaffRecord(staff, codes)


async def authenticate_staff(*, uow: CustomerUnitOfWork, caller: Caller, username: str, password: str) -> StaffRow:
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
