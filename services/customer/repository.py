"""Queries of the customer service's aggregates. Repositories never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.customer.models import BranchRow, PartyRow, StaffRow


class PartyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, party: PartyRow) -> None:
        self._session.add(party)

    async def get(self, party_id: str) -> PartyRow | None:
        return await self._session.get(PartyRow, party_id)

    async def find_by_id_number_index(self, index: str) -> PartyRow | None:
        return await self._session.scalar(select(PartyRow).where(PartyRow.id_number_index == index))


class OrgRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: BranchRow | StaffRow) -> None:
        self._session.add(row)

    async def branch(self, branch_id: str) -> BranchRow | None:
        return await self._session.get(BranchRow, branch_id)

    async def branch_by_code(self, code: str) -> BranchRow | None:
        return await self._session.scalar(select(BranchRow).where(BranchRow.code == code))

    async def staff(self, staff_id: str) -> StaffRow | None:
        return await self._session.get(StaffRow, staff_id)

    async def staff_by_username(self, username: str) -> StaffRow | None:
        return await self._session.scalar(select(StaffRow).where(StaffRow.username == username))
