"""Queries of the notification service. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_once
from services.notification.models import (
    FieldTaskRequestRow,
    MessageRow,
    NotificationRow,
    OptOutRow,
    ReminderRow,
    RuleRow,
    TemplateRow,
)


def _skip_locked(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: NotificationRow) -> None:
        self._session.add(row)

    async def add_once(self, values: dict[str, Any]) -> bool:
        return await insert_once(self._session, NotificationRow.__table__, values)  # type: ignore[arg-type]

    async def get(self, notification_id: str) -> NotificationRow | None:
        return await self._session.get(NotificationRow, notification_id)

    async def by_source(self, source_event_id: str, recipient_id: str) -> NotificationRow | None:
        return await self._session.scalar(
            select(NotificationRow).where(
                NotificationRow.source_event_id == source_event_id, NotificationRow.recipient_id == recipient_id
            )
        )

    async def unread_count(self, recipient_id: str) -> int:
        query = select(func.count()).select_from(NotificationRow).where(
            NotificationRow.recipient_id == recipient_id, NotificationRow.read_at.is_(None)
        )
        return int(await self._session.scalar(query) or 0)

    async def inbox(
        self,
        recipient_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        unread_only: bool = False,
    ) -> list[NotificationRow]:
        """Newest first; ``after`` is the (created_at, id) of the last row already seen."""
        query = select(NotificationRow).where(NotificationRow.recipient_id == recipient_id)
        if unread_only:
            query = query.where(NotificationRow.read_at.is_(None))
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


class RuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: RuleRow) -> None:
        self._session.add(row)

    async def get(self, rule_id: str) -> RuleRow | None:
        return await self._session.get(RuleRow, rule_id)

    async def enabled_for(self, event_type: str) -> list[RuleRow]:
        query = (
            select(RuleRow)
            .where(RuleRow.event_type == event_type, RuleRow.enabled.is_(True))
            .order_by(RuleRow.created_at, RuleRow.id)
        )
        return list((await self._session.scalars(query)).all())

    async def page(self, *, event_type: str, limit: int, after: str | None) -> list[RuleRow]:
        query = select(RuleRow)
        if event_type:
            query = query.where(RuleRow.event_type == event_type)
        if after:
            query = query.where(RuleRow.id > after)
        return list((await self._session.scalars(query.order_by(RuleRow.id).limit(limit))).all())


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: TemplateRow) -> None:
        self._session.add(row)

    async def latest(self, code: str) -> TemplateRow | None:
        query = select(TemplateRow).where(TemplateRow.code == code).order_by(TemplateRow.version.desc()).limit(1)
        return (await self._session.scalars(query)).first()

    async def version(self, code: str, version: int) -> TemplateRow | None:
        query = select(TemplateRow).where(TemplateRow.code == code, TemplateRow.version == version)
        return (await self._session.scalars(query)).first()

    async def all(self, code: str = "") -> list[TemplateRow]:
        query = select(TemplateRow)
        if code:
            query = query.where(TemplateRow.code == code)
        return list((await self._session.scalars(query.order_by(TemplateRow.code, TemplateRow.version))).all())


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_once(self, values: dict[str, Any]) -> bool:
        return await insert_once(self._session, MessageRow.__table__, values)  # type: ignore[arg-type]

    async def get(self, message_id: str) -> MessageRow | None:
        return await self._session.get(MessageRow, message_id)

    async def by_gateway_id(self, gateway_message_id: str) -> MessageRow | None:
        query = select(MessageRow).where(MessageRow.gateway_message_id == gateway_message_id)
        return (await self._session.scalars(query)).first()

    async def release_held(self, now: datetime) -> list[MessageRow]:
        """Held messages whose time has come, queued again (as they were before release)."""
        result = await self._session.execute(
            update(MessageRow)
            .where(MessageRow.status == "held", MessageRow.held_until <= now)
            .values(status="queued", next_attempt_at=now, updated_at=now)
            .returning(MessageRow)
        )
        return list(result.scalars().all())

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        """Ids of queued messages due now, leased so that no other dispatcher takes them."""
        query = (
            select(MessageRow.id)
            .where(MessageRow.status == "queued", MessageRow.next_attempt_at <= now)
            .order_by(MessageRow.next_attempt_at, MessageRow.id)
            .limit(limit)
        )
        if _skip_locked(self._session):
            query = query.with_for_update(skip_locked=True)
        ids = list((await self._session.scalars(query)).all())
        if ids:
            await self._session.execute(
                update(MessageRow).where(MessageRow.id.in_(ids)).values(next_attempt_at=lease_until)
            )
        return ids

    async def sent_times(self, recipient_id: str, template_code: str, since: datetime) -> list[datetime]:
        query = select(MessageRow.sent_at).where(
            MessageRow.recipient_id == recipient_id,
            MessageRow.template_code == template_code,
            MessageRow.status.in_(("sent", "delivered")),
            MessageRow.sent_at > since,
        )
        return [t for t in (await self._session.scalars(query)).all() if t is not None]

    async def search(
        self,
        *,
        filters: dict[str, str],
        branch_ids: Sequence[str] | None,
        created_from: datetime | None,
        created_to: datetime | None,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[MessageRow]:
        query = select(MessageRow)
        for column, value in filters.items():
            if value:
                query = query.where(getattr(MessageRow, column) == value)
        if branch_ids is not None:
            query = query.where(MessageRow.branch_id.in_(list(branch_ids)))
        if created_from is not None:
            query = query.where(MessageRow.created_at >= created_from)
        if created_to is not None:
            query = query.where(MessageRow.created_at < created_to)
        if after is not None:
            created_at, row_id = after
            query = query.where(
                or_(
                    MessageRow.created_at < created_at,
                    and_(MessageRow.created_at == created_at, MessageRow.id < row_id),
                )
            )
        query = query.order_by(MessageRow.created_at.desc(), MessageRow.id.desc()).limit(limit)
        return list((await self._session.scalars(query)).all())


class FieldTaskRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_once(self, values: dict[str, Any]) -> bool:
        return await insert_once(self._session, FieldTaskRequestRow.__table__, values)  # type: ignore[arg-type]

    async def get(self, request_id: str) -> FieldTaskRequestRow | None:
        return await self._session.get(FieldTaskRequestRow, request_id)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        query = (
            select(FieldTaskRequestRow.id)
            .where(FieldTaskRequestRow.status == "queued", FieldTaskRequestRow.next_attempt_at <= now)
            .order_by(FieldTaskRequestRow.next_attempt_at, FieldTaskRequestRow.id)
            .limit(limit)
        )
        if _skip_locked(self._session):
            query = query.with_for_update(skip_locked=True)
        ids = list((await self._session.scalars(query)).all())
        if ids:
            await self._session.execute(
                update(FieldTaskRequestRow)
                .where(FieldTaskRequestRow.id.in_(ids))
                .values(next_attempt_at=lease_until)
            )
        return ids

    async def for_event(self, event_id: str) -> list[FieldTaskRequestRow]:
        query = select(FieldTaskRequestRow).where(FieldTaskRequestRow.event_id == event_id)
        return list((await self._session.scalars(query)).all())


class OptOutRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, party_id: str) -> OptOutRow | None:
        return await self._session.get(OptOutRow, party_id)

    def add(self, row: OptOutRow) -> None:
        self._session.add(row)


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_once(self, values: dict[str, Any]) -> bool:
        return await insert_once(self._session, ReminderRow.__table__, values)  # type: ignore[arg-type]

    async def by_key(self, dedupe_key: str) -> ReminderRow | None:
        query = select(ReminderRow).where(ReminderRow.dedupe_key == dedupe_key)
        return (await self._session.scalars(query)).first()

    async def due(self, now: datetime, limit: int) -> list[ReminderRow]:
        query = (
            select(ReminderRow)
            .where(ReminderRow.status == "scheduled", ReminderRow.due_at <= now)
            .order_by(ReminderRow.due_at, ReminderRow.id)
            .limit(limit)
        )
        if _skip_locked(self._session):
            query = query.with_for_update(skip_locked=True)
        return list((await self._session.scalars(query)).all())
