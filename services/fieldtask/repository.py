"""Queries of the field task service's aggregates. Repositories never commit."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.fieldtask.models import (
    CheckInRow,
    EvidenceRow,
    FieldTaskRow,
    SignatureRow,
    SyncItemRow,
    TaskHistoryRow,
    TrajectoryPointRow,
)


class FieldTaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, task: FieldTaskRow) -> None:
        self._session.add(task)

    async def get(self, task_id: str) -> FieldTaskRow | None:
        return await self._session.get(FieldTaskRow, task_id)

    async def page(
        self,
        *,
        scope: ColumnElement[bool] | None,
        statuses: Collection[str],
        assignee_id: str,
        business_key: str,
        limit: int,
        after: tuple[datetime, str] | None,
        party_id: str = "",
    ) -> list[FieldTaskRow]:
        query = select(FieldTaskRow)
        if scope is not None:
            query = query.where(scope)
        if statuses:
            query = query.where(FieldTaskRow.status.in_(list(statuses)))
        if assignee_id:
            query = query.where(FieldTaskRow.assignee_id == assignee_id)
        if business_key:
            query = query.where(FieldTaskRow.business_key == business_key)
        if party_id:
            query = query.where(FieldTaskRow.party_id == party_id)
        if after is not None:
            due, task_id = after
            query = query.where(
                or_(FieldTaskRow.due_at > due, and_(FieldTaskRow.due_at == due, FieldTaskRow.id > task_id))
            )
        query = query.order_by(FieldTaskRow.due_at, FieldTaskRow.id).limit(limit)
        return list((await self._session.scalars(query)).all())

    async def open_for_assignee(self, assignee_id: str, statuses: Collection[str]) -> list[FieldTaskRow]:
        query = (
            select(FieldTaskRow)
            .where(FieldTaskRow.assignee_id == assignee_id, FieldTaskRow.status.in_(list(statuses)))
            .order_by(FieldTaskRow.id)
        )
        return list((await self._session.scalars(query)).all())

    async def location_pending(self, limit: int) -> list[FieldTaskRow]:
        query = select(FieldTaskRow).where(FieldTaskRow.location_pending.is_(True)).order_by(FieldTaskRow.created_at)
        return list((await self._session.scalars(query.limit(limit))).all())

    async def overdue(self, now: datetime, statuses: Collection[str], limit: int) -> list[FieldTaskRow]:
        query = (
            select(FieldTaskRow)
            .where(FieldTaskRow.status.in_(list(statuses)), FieldTaskRow.due_at < now)
            .order_by(FieldTaskRow.due_at, FieldTaskRow.id)
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: TaskHistoryRow) -> None:
        self._session.add(row)

    async def for_task(self, task_id: str) -> list[TaskHistoryRow]:
        query = select(TaskHistoryRow).where(TaskHistoryRow.task_id == task_id).order_by(TaskHistoryRow.at)
        return list((await self._session.scalars(query)).all())


class CheckInRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: CheckInRow) -> None:
        self._session.add(row)

    async def for_task(self, task_id: str) -> list[CheckInRow]:
        query = select(CheckInRow).where(CheckInRow.task_id == task_id).order_by(CheckInRow.server_time)
        return list((await self._session.scalars(query)).all())

    async def for_officer(
        self, officer_id: str, start: datetime, end: datetime, branch_id: str | None
    ) -> list[CheckInRow]:
        query = select(CheckInRow).where(
            CheckInRow.officer_id == officer_id, CheckInRow.server_time >= start, CheckInRow.server_time < end
        )
        if branch_id is not None:
            query = query.join(FieldTaskRow, FieldTaskRow.id == CheckInRow.task_id).where(
                FieldTaskRow.branch_id == branch_id
            )
        return list((await self._session.scalars(query.order_by(CheckInRow.server_time))).all())


class EvidenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: EvidenceRow) -> None:
        self._session.add(row)

    async def for_task(self, task_id: str) -> list[EvidenceRow]:
        query = select(EvidenceRow).where(EvidenceRow.task_id == task_id).order_by(EvidenceRow.uploaded_at)
        return list((await self._session.scalars(query)).all())

    async def find(self, task_id: str, sha256: str) -> EvidenceRow | None:
        query = select(EvidenceRow).where(EvidenceRow.task_id == task_id, EvidenceRow.sha256 == sha256)
        return (await self._session.scalars(query)).first()

    async def get(self, evidence_id: str) -> EvidenceRow | None:
        return await self._session.get(EvidenceRow, evidence_id)


class SignatureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: SignatureRow) -> None:
        self._session.add(row)

    async def for_task(self, task_id: str) -> list[SignatureRow]:
        query = select(SignatureRow).where(SignatureRow.task_id == task_id).order_by(SignatureRow.signed_at)
        return list((await self._session.scalars(query)).all())

    async def by_reference(self, provider: str, external_ref: str) -> SignatureRow | None:
        query = select(SignatureRow).where(SignatureRow.provider == provider, SignatureRow.external_ref == external_ref)
        return (await self._session.scalars(query)).first()


class SyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: SyncItemRow) -> None:
        self._session.add(row)

    async def find(self, officer_id: str, client_id: str) -> SyncItemRow | None:
        query = select(SyncItemRow).where(SyncItemRow.officer_id == officer_id, SyncItemRow.client_id == client_id)
        return (await self._session.scalars(query)).first()


class TrajectoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add_all(self, rows: Sequence[TrajectoryPointRow]) -> None:
        self._session.add_all(rows)

    async def existing_times(self, officer_id: str, times: Collection[datetime]) -> list[datetime]:
        if not times:
            return []
        query = select(TrajectoryPointRow.recorded_at).where(
            TrajectoryPointRow.officer_id == officer_id,
            TrajectoryPointRow.recorded_at.in_(list(times)),
        )
        return list((await self._session.scalars(query)).all())

    async def between(
        self, officer_id: str, start: datetime, end: datetime, branch_id: str | None
    ) -> list[TrajectoryPointRow]:
        query = select(TrajectoryPointRow).where(
            TrajectoryPointRow.officer_id == officer_id,
            TrajectoryPointRow.recorded_at >= start,
            TrajectoryPointRow.recorded_at < end,
        )
        if branch_id is not None:
            query = query.where(TrajectoryPointRow.branch_id == branch_id)
        return list((await self._session.scalars(query.order_by(TrajectoryPointRow.recorded_at))).all())

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self._session.execute(
            delete(TrajectoryPointRow).where(TrajectoryPointRow.recorded_at < cutoff).returning(TrajectoryPointRow.id)
        )
        return len(result.all())
