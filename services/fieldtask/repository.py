"""Queries of the field task service's aggregates. Repositories never commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.fieldtask.models import FieldTaskRow


class FieldTaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, task: FieldTaskRow) -> None:
        self._session.add(task)

    async def get(self, task_id: str) -> FieldTaskRow | None:
        return await self._session.get(FieldTaskRow, task_id)
