"""Queries of the notification service. Repositories never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.models import NotificationRow


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: NotificationRow) -> None:
        self._session.add(row)

    async def inbox(
        self, recipient_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> list[NotificationRow]:
        """Newest first; ``after`` is the (created_at, id) of the last row already seen."""
        query = select(NotificationRow).where(NotificationRow.recipient_id == recipient_id)
        if after is not None:
            created_at, row_id = after
            query = query.where(
                or_(
                    NotificationRow.created_at < created_at,
                    and_(NotificationRow.created_at == created_at, NotificationRow.id < row_id),
                )
            )
        query = query.order_by(NotificationRow.created_at.desc(), NotificationRow.id.desc()).limit(limit)
        return list((await self._session.scalars(query)).all())
