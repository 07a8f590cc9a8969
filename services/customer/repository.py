"""Queries of the customer service's aggregates. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, extract, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
    StaffRegionRow,
    StaffRow,
    StageHistoryRow,
)

# Tables whose rows belong to one party and move to the survivor when duplicates are merged.
PARTY_OWNED: dict[str, Any] = {
    "relations": RelationRow,
    "financial_items": FinancialItemRow,
    "consents": ConsentRow,
    "credit_reports": CreditReportRow,
    "interactions": InteractionRow,
}


class PartyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: Any) -> None:
        self._session.add(row)

    def add_all(self, rows: Sequence[Any]) -> None:
        self._session.add_all(rows)

    async def flush(self) -> None:
        await self._session.flush()

    async def get(self, party_id: str) -> PartyRow | None:
        return await self._session.get(PartyRow, party_id)

    async def get_for_update(self, party_id: str) -> PartyRow | None:
        return await self._session.scalar(select(PartyRow).where(PartyRow.id == party_id).with_for_update())

    async def find_by_id_number_index(self, index: str) -> PartyRow | None:
        return await self._session.scalar(select(PartyRow).where(PartyRow.id_number_index == index))

    async def existing_indexes(self, indexes: Sequence[str]) -> dict[str, str]:
        """Blind index -> party id, for those already registered."""
        found: dict[str, str] = {}
        chunk = 500
        for start in range(0, len(indexes), chunk):
            rows = await self._session.execute(
                select(PartyRow.id_number_index, PartyRow.id).where(
                    PartyRow.id_number_index.in_(indexes[start : start + chunk])
                )
            )
            found.update({index: party_id for index, party_id in rows.all()})
        return found

    async def tags(self, party_ids: Sequence[str]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {pid: [] for pid in party_ids}
        if not party_ids:
            return result
        rows = await self._session.execute(
            select(PartyTagRow.party_id, PartyTagRow.tag)
            .where(PartyTagRow.party_id.in_(party_ids))
            .order_by(PartyTagRow.tag)
        )
        for party_id, tag in rows.all():
            result[party_id].append(tag)
        return result

    async def set_tags(self, party_id: str, tags: Sequence[str]) -> None:
        await self._session.execute(delete(PartyTagRow).where(PartyTagRow.party_id == party_id))
        self._session.add_all([PartyTagRow(party_id=party_id, tag=t) for t in tags])

    async def search(self, query: Select[Any], limit: int) -> list[PartyRow]:
        return list((await self._session.scalars(query.limit(limit))).all())

    async def relations(self, party_id: str) -> list[tuple[RelationRow, str]]:
        rows = await self._session.execute(
            select(RelationRow, PartyRow.name)
            .join(PartyRow, PartyRow.id == RelationRow.related_party_id)
            .where(RelationRow.party_id == party_id)
            .order_by(RelationRow.created_at)
        )
        return [(r, n) for r, n in rows.all()]

    async def financial_items(self, party_id: str) -> list[FinancialItemRow]:
        return list(
            (
                await self._session.scalars(
                    select(FinancialItemRow)
                    .where(FinancialItemRow.party_id == party_id)
                    .order_by(FinancialItemRow.created_at)
                )
            ).all()
        )

    async def consents(self, party_id: str) -> list[ConsentRow]:
        return list(
            (
                await self._session.scalars(
                    select(ConsentRow).where(ConsentRow.party_id == party_id).order_by(ConsentRow.granted_at)
                )
            ).all()
        )

    async def consent(self, consent_id: str) -> ConsentRow | None:
        return await self._session.get(ConsentRow, consent_id)

    async def credit_report_by_ref(self, external_ref: str) -> CreditReportRow | None:
        return await self._session.scalar(select(CreditReportRow).where(CreditReportRow.external_ref == external_ref))

    async def latest_credit_report(self, party_id: str) -> CreditReportRow | None:
        return await self._session.scalar(
            select(CreditReportRow)
            .where(CreditReportRow.party_id == party_id)
            .order_by(CreditReportRow.queried_at.desc())
            .limit(1)
        )

    async def interactions(self, party_id: str, limit: int) -> list[InteractionRow]:
        return list(
            (
                await self._session.scalars(
                    select(InteractionRow)
                    .where(InteractionRow.party_id == party_id)
                    .order_by(InteractionRow.occurred_at.desc(), InteractionRow.id)
                    .limit(limit)
                )
            ).all()
        )

    async def region(self, code: str) -> RegionRow | None:
        return await self._session.get(RegionRow, code)

    async def party_loans(self, party_id: str) -> list[PartyLoanRow]:
        return list((await self._session.scalars(select(PartyLoanRow).where(PartyLoanRow.party_id == party_id))).all())

    async def party_loan(self, loan_id: str) -> PartyLoanRow | None:
        return await self._session.get(PartyLoanRow, loan_id)

    async def birthday_page(
        self, *, month: int, day: int, purpose: str, now: datetime, after_id: str, limit: int
    ) -> list[PartyRow]:
        """Unmerged parties born on month/day with an active consent of ``purpose``, by id."""
        consented = exists().where(
            ConsentRow.party_id == PartyRow.id,
            ConsentRow.purpose == purpose,
            ConsentRow.granted.is_(True),
            ConsentRow.revoked_at.is_(None),
            or_(ConsentRow.expires_at.is_(None), ConsentRow.expires_at > now),
        )
        query = (
            select(PartyRow)
            .where(
                PartyRow.birth_date.is_not(None),
                extract("month", PartyRow.birth_date) == month,
                extract("day", PartyRow.birth_date) == day,
                PartyRow.merged_into_id.is_(None),
                consented,
            )
            .order_by(PartyRow.id)
            .limit(limit)
        )
        if after_id:
            query = query.where(PartyRow.id > after_id)
        return list((await self._session.scalars(query)).all())

    async def active_party_ids(self, after_id: str, limit: int) -> list[str]:
        query = select(PartyRow.id).where(PartyRow.merged_into_id.is_(None)).order_by(PartyRow.id).limit(limit)
        if after_id:
            query = query.where(PartyRow.id > after_id)
        return list((await self._session.scalars(query)).all())

    async def household_of(self, party_id: str) -> HouseholdRow | None:
        return await self._session.scalar(
            select(HouseholdRow)
            .join(HouseholdMemberRow, HouseholdMemberRow.household_id == HouseholdRow.id)
            .where(HouseholdMemberRow.party_id == party_id)
            .limit(1)
        )

    async def household(self, household_id: str) -> HouseholdRow | None:
        return await self._session.get(HouseholdRow, household_id)

    async def household_members(self, household_id: str) -> list[tuple[HouseholdMemberRow, str]]:
        rows = await self._session.execute(
            select(HouseholdMemberRow, PartyRow.name)
            .join(PartyRow, PartyRow.id == HouseholdMemberRow.party_id)
            .where(HouseholdMemberRow.household_id == household_id)
            .order_by(HouseholdMemberRow.relation != "head", PartyRow.name)
        )
        return [(m, n) for m, n in rows.all()]

    async def net_worth_parts(self, party_id: str) -> dict[str, Any]:
        rows = await self._session.execute(
            select(FinancialItemRow.category, func.sum(FinancialItemRow.value))
            .where(FinancialItemRow.party_id == party_id)
            .group_by(FinancialItemRow.category)
        )
        return {category: total for category, total in rows.all()}

    async def last_interaction_at(self, party_id: str) -> datetime | None:
        return await self._session.scalar(
            select(func.max(InteractionRow.occurred_at)).where(InteractionRow.party_id == party_id)
        )

    async def change(self, change_id: str) -> PartyChangeRow | None:
        return await self._session.get(PartyChangeRow, change_id)

    async def changes(self, party_id: str) -> list[PartyChangeRow]:
        return list(
            (
                await self._session.scalars(
                    select(PartyChangeRow)
                    .where(PartyChangeRow.party_id == party_id)
                    .order_by(PartyChangeRow.requested_at)
                )
            ).all()
        )

    async def merge_of(self, duplicate_id: str) -> PartyMergeRow | None:
        return await self._session.scalar(select(PartyMergeRow).where(PartyMergeRow.duplicate_id == duplicate_id))

    async def move_records(self, from_id: str, to_id: str) -> dict[str, int]:
        """Re-points every record of ``from_id`` to ``to_id``; returns counts per kind."""
        moved: dict[str, int] = {}
        for name, table in PARTY_OWNED.items():
            ids = list((await self._session.scalars(select(table.id).where(table.party_id == from_id))).all())
            if ids:
                await self._session.execute(update(table).where(table.id.in_(ids)).values(party_id=to_id))
            moved[name] = len(ids)
        loans = await self._session.execute(
            update(PartyLoanRow).where(PartyLoanRow.party_id == from_id).values(party_id=to_id)
        )
        moved["loans"] = loans.rowcount or 0  # type: ignore[attr-defined]
        related = list(
            (await self._session.scalars(select(RelationRow.id).where(RelationRow.related_party_id == from_id))).all()
        )
        if related:
            await self._session.execute(
                update(RelationRow).where(RelationRow.id.in_(related)).values(related_party_id=to_id)
            )
        moved["relations_to"] = len(related)
        members = list(
            (
                await self._session.scalars(select(HouseholdMemberRow).where(HouseholdMemberRow.party_id == from_id))
            ).all()
        )
        survivor_households = set(
            (
                await self._session.scalars(
                    select(HouseholdMemberRow.household_id).where(HouseholdMemberRow.party_id == to_id)
                )
            ).all()
        )
        count = 0
        for member in members:
            if member.household_id not in survivor_households:
                self._session.add(
                    HouseholdMemberRow(
                        household_id=member.household_id,
                        party_id=to_id,
                        relation=member.relation,
                        co_borrower=member.co_borrower,
                    )
                )
                count += 1
            await self._session.delete(member)
        moved["household_memberships"] = count
        heads = list(
            (await self._session.scalars(select(HouseholdRow.id).where(HouseholdRow.head_party_id == from_id))).all()
        )
        if heads:
            await self._session.execute(
                update(HouseholdRow).where(HouseholdRow.id.in_(heads)).values(head_party_id=to_id)
            )
        moved["households_headed"] = len(heads)
        tags = set((await self.tags([from_id, to_id]))[from_id]) - set((await self.tags([to_id]))[to_id])
        self._session.add_all([PartyTagRow(party_id=to_id, tag=t) for t in tags])
        moved["tags"] = len(tags)
        return moved

    async def stage_counts(self, branch_id: str) -> dict[str, int]:
        query = select(StageHistoryRow.to_stage, func.count(func.distinct(StageHistoryRow.party_id))).group_by(
            StageHistoryRow.to_stage
        )
        if branch_id:
            query = query.join(PartyRow, PartyRow.id == StageHistoryRow.party_id).where(PartyRow.branch_id == branch_id)
        return {stage: int(n) for stage, n in (await self._session.execute(query)).all()}


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: LeadRow) -> None:
        self._session.add(row)

    async def get(self, lead_id: str) -> LeadRow | None:
        return await self._session.get(LeadRow, lead_id)

    async def page(self, query: Select[Any], limit: int) -> list[LeadRow]:
        return list((await self._session.scalars(query.limit(limit))).all())

    async def stage_rank_counts(
        self, branch_id: str, created_from: datetime | None, created_to: datetime | None
    ) -> dict[int, int]:
        query = select(LeadRow.max_stage_rank, func.count()).group_by(LeadRow.max_stage_rank)
        if branch_id:
            query = query.where(LeadRow.branch_id == branch_id)
        if created_from is not None:
            query = query.where(LeadRow.created_at >= created_from)
        if created_to is not None:
            query = query.where(LeadRow.created_at < created_to)
        return {int(rank): int(n) for rank, n in (await self._session.execute(query)).all()}


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: ImportBatchRow) -> None:
        self._session.add(row)

    async def by_hash(self, sha256: str) -> ImportBatchRow | None:
        return await self._session.scalar(select(ImportBatchRow).where(ImportBatchRow.file_sha256 == sha256))

    async def party_ids(self, batch_id: str) -> list[str]:
        return list(
            (
                await self._session.scalars(
                    select(PartyRow.id).where(PartyRow.import_batch_id == batch_id).order_by(PartyRow.import_row)
                )
            ).all()
        )


class OrgRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: BranchRow | StaffRow | StaffRegionRow) -> None:
        self._session.add(row)

    async def branch(self, branch_id: str) -> BranchRow | None:
        return await self._session.get(BranchRow, branch_id)

    async def branch_by_code(self, code: str) -> BranchRow | None:
        return await self._session.scalar(select(BranchRow).where(BranchRow.code == code))

    async def branches(self) -> list[BranchRow]:
        return list((await self._session.scalars(select(BranchRow).order_by(BranchRow.code))).all())

    async def staff(self, staff_id: str) -> StaffRow | None:
        return await self._session.get(StaffRow, staff_id)

    async def staff_by_username(self, username: str) -> StaffRow | None:
        return await self._session.scalar(select(StaffRow).where(StaffRow.username == username))

    async def staff_list(self, branch_id: str, include_inactive: bool) -> list[StaffRow]:
        query = select(StaffRow).order_by(StaffRow.username)
        if branch_id:
            query = query.where(StaffRow.branch_id == branch_id)
        if not include_inactive:
            query = query.where(StaffRow.active.is_(True))
        return list((await self._session.scalars(query)).all())

    async def regions_of(self, staff_ids: Sequence[str]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {sid: [] for sid in staff_ids}
        if not staff_ids:
            return result
        rows = await self._session.execute(
            select(StaffRegionRow.staff_id, StaffRegionRow.region_code)
            .where(StaffRegionRow.staff_id.in_(staff_ids))
            .order_by(StaffRegionRow.region_code)
        )
        for staff_id, code in rows.all():
            result[staff_id].append(code)
        return result

    async def set_regions(self, staff_id: str, codes: Sequence[str]) -> None:
        await self._session.execute(delete(StaffRegionRow).where(StaffRegionRow.staff_id == staff_id))
        self._session.add_all([StaffRegionRow(staff_id=staff_id, region_code=c) for c in codes])

    async def serving_officers(self) -> list[tuple[StaffRow, list[str]]]:
        """Active account managers (officers) with the regions they serve."""
        rows = list(
            (
                await self._session.scalars(
                    select(StaffRow)
                    .where(StaffRow.id.in_(select(StaffRegionRow.staff_id)))
                    .where(StaffRow.active.is_(True))
                )
            ).all()
        )
        officers = [s for s in rows if "officer" in s.roles]
        regions = await self.regions_of([s.id for s in officers])
        return [(s, regions[s.id]) for s in officers]

    async def lock_staff(self, staff_id: str) -> StaffRow | None:
        return await self._session.scalar(select(StaffRow).where(StaffRow.id == staff_id).with_for_update())

    async def region(self, code: str) -> RegionRow | None:
        return await self._session.get(RegionRow, code)

    async def regions(self, parent_code: str) -> list[RegionRow]:
        query = select(RegionRow).order_by(RegionRow.code)
        query = query.where(RegionRow.parent_code == parent_code) if parent_code else query.where(RegionRow.level == 1)
        return list((await self._session.scalars(query)).all())
