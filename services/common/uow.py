"""The unit of work: one transaction per use case, events written to the outbox inside it.

Leaving the ``async with`` block without ``commit()`` rolls back, so only an explicit commit
saves; services subclass it to expose their repositories.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.audit import AuditEntry
from services.common.audit import append as append_audit
from services.common.clock import utcnow
from services.common.envelope import OutgoingEvent, build_event
from services.common.messaging_schema import outbox


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        source: str,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._source = source
        self._on_commit = on_commit
        self._pending: list[OutgoingEvent] = []
        self._audit: list[AuditEntry] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self._pending = []
        self._audit = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        self._pending = []
        self._audit = []
        if session is not None:
            # Detach first: rows read in this unit of work stay usable (a rollback would expire them).
            session.expunge_all()
            await session.rollback()
            await session.close()

    def record(self, event_type: str, subject: str, data: Message) -> str:
        """Queues an event; it reaches the outbox only if this unit of work commits."""
        event = build_event(event_type=event_type, source=self._source, subject=subject, data=data)
        self._pending.append(event)
        return event.id

    def audit(self, action: str, entity_type: str, entity_id: str, details: dict[str, Any] | None = None) -> None:
        """Records who did what to which entity; written to the audit chain only if this commits.

        ``details`` must not hold personal data in clear (mask it): the log is kept for ever.
        """
        self._audit.append(AuditEntry(action, entity_type, entity_id, dict(details or {})))

    async def commit(self) -> None:
        session = self.session
        if self._audit:
            await append_audit(session, self._audit)
        if self._pending:
            headers: dict[str, str] = {}
            # The trace of the request that changed the state continues in whoever consumes it.
            propagate.inject(headers)
            now = utcnow()
            await session.execute(
                insert(outbox),
                [
                    {
                        "event_id": e.id,
                        "event_type": e.type,
                        "payload": e.to_bytes(),
                        "headers": headers,
                        "created_at": now,
                    }
                    for e in self._pending
                ],
            )
        await session.commit()
        had_events = bool(self._pending)
        self._pending = []
        self._audit = []
        if had_events and self._on_commit is not None:
            self._on_commit()
