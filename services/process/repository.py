"""Queries of the process service's aggregates. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import lock_until_commit, try_lock_until_commit
from services.process.models import (
    HistoryRow,
    InboxTaskRow,
    IncidentRow,
    MessageWaitRow,
    PendingMessageRow,
    ProcessFileRow,
    ProcessInstanceRow,
    ProcessVersionRow,
    ServiceJobRow,
)


class ProcessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: object) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        await self._session.flush()

    # versions
    async def version_by_hash(self, process_key: str, content_hash: str) -> ProcessVersionRow | None:
        return await self._session.scalar(
            select(ProcessVersionRow).where(
                ProcessVersionRow.process_key == process_key, ProcessVersionRow.content_hash == content_hash
            )
        )

    async def latest_version(self, process_key: str) -> ProcessVersionRow | None:
        return await self._session.scalar(
            select(ProcessVersionRow)
            .where(ProcessVersionRow.process_key == process_key)
            .order_by(ProcessVersionRow.version.desc())
            .limit(1)
        )

    async def version(self, process_key: str, version: int) -> ProcessVersionRow | None:
        return await self._session.scalar(
            select(ProcessVersionRow).where(
                ProcessVersionRow.process_key == process_key, ProcessVersionRow.version == version
            )
        )

    async def version_by_id(self, version_id: str) -> ProcessVersionRow | None:
        return await self._session.get(ProcessVersionRow, version_id)

    async def versions(self, process_key: str) -> Sequence[ProcessVersionRow]:
        return (
            await self._session.scalars(
                select(ProcessVersionRow)
                .where(ProcessVersionRow.process_key == process_key)
                .order_by(ProcessVersionRow.version)
            )
        ).all()

    async def all_versions(self) -> Sequence[ProcessVersionRow]:
        return (
            await self._session.scalars(
                select(ProcessVersionRow).order_by(ProcessVersionRow.process_key, ProcessVersionRow.version)
            )
        ).all()

    async def files(self, version_id: str) -> Sequence[ProcessFileRow]:
        return (
            await self._session.scalars(
                select(ProcessFileRow).where(ProcessFileRow.version_id == version_id).order_by(ProcessFileRow.name)
            )
        ).all()

    # instances
    async def business_key_of(self, instance_id: str) -> str | None:
        return await self._session.scalar(
            select(ProcessInstanceRow.business_key).where(ProcessInstanceRow.id == instance_id)
        )

    async def lock_correlation(self, correlation_key: str) -> None:
        """Serialises, until commit, the transactions that deliver or await this key's messages.

        An instance starting to wait and a message arriving for it in two concurrent
        transactions would otherwise each miss the other's uncommitted row: the message kept
        as pending, the instance waiting for ever. Always taken before the instance's row lock.
        """
        if correlation_key:
            await lock_until_commit(self._session, f"process-correlation:{correlation_key}")

    async def try_lock_correlation(self, correlation_key: str) -> bool:
        """The same lock without waiting, for a transaction that already holds instance rows."""
        return not correlation_key or await try_lock_until_commit(
            self._session, f"process-correlation:{correlation_key}"
        )

    async def instance(self, instance_id: str, *, lock: bool = False) -> ProcessInstanceRow | None:
        query = select(ProcessInstanceRow).where(ProcessInstanceRow.id == instance_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def live_instance(self, process_key: str, business_key: str) -> ProcessInstanceRow | None:
        """A running (or incident-stopped) instance of the process for the business key."""
        return await self._session.scalar(
            select(ProcessInstanceRow)
            .where(
                ProcessInstanceRow.process_key == process_key,
                ProcessInstanceRow.business_key == business_key,
                ProcessInstanceRow.status.in_(("running", "incident")),
            )
            .limit(1)
        )

    async def due_instances(self, now: datetime, limit: int) -> Sequence[ProcessInstanceRow]:
        """Due instances no other replica is working on (SKIP LOCKED; SQLite has one process)."""
        return (
            await self._session.scalars(
                select(ProcessInstanceRow)
                .where(ProcessInstanceRow.next_due_at <= now, ProcessInstanceRow.status == "running")
                .order_by(ProcessInstanceRow.next_due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def list_instances(
        self,
        *,
        status: str,
        process_key: str,
        business_key: str,
        branch_id: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> Sequence[ProcessInstanceRow]:
        query = select(ProcessInstanceRow)
        if status:
            query = query.where(ProcessInstanceRow.status == status)
        if process_key:
            query = query.where(ProcessInstanceRow.process_key == process_key)
        if business_key:
            query = query.where(ProcessInstanceRow.business_key == business_key)
        if branch_id is not None:
            query = query.where(ProcessInstanceRow.branch_id == branch_id)
        if after is not None:
            query = query.where(
                or_(
                    ProcessInstanceRow.started_at < datetime.fromisoformat(after[0]),
                    and_(
                        ProcessInstanceRow.started_at == datetime.fromisoformat(after[0]),
                        ProcessInstanceRow.id < after[1],
                    ),
                )
            )
        query = query.order_by(ProcessInstanceRow.started_at.desc(), ProcessInstanceRow.id.desc()).limit(limit)
        return (await self._session.scalars(query)).all()

    # inbox
    async def task(self, task_id: str, *, refresh: bool = False) -> InboxTaskRow | None:
        query = select(InboxTaskRow).where(InboxTaskRow.id == task_id)
        if refresh:
            query = query.execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def open_tasks(self, instance_id: str) -> Sequence[InboxTaskRow]:
        return (
            await self._session.scalars(
                select(InboxTaskRow).where(InboxTaskRow.instance_id == instance_id, InboxTaskRow.status == "open")
            )
        ).all()

    async def tasks_of(self, instance_id: str) -> Sequence[InboxTaskRow]:
        return (
            await self._session.scalars(
                select(InboxTaskRow)
                .where(InboxTaskRow.instance_id == instance_id)
                .order_by(InboxTaskRow.created_at, InboxTaskRow.id)
            )
        ).all()

    async def sibling_votes(self, instance_id: str, node_id: str, created_at: datetime) -> Sequence[InboxTaskRow]:
        return (
            await self._session.scalars(
                select(InboxTaskRow).where(
                    InboxTaskRow.instance_id == instance_id,
                    InboxTaskRow.node_id == node_id,
                    InboxTaskRow.created_at == created_at,
                    InboxTaskRow.status == "completed",
                )
            )
        ).all()

    async def inbox(
        self,
        *,
        view: str,
        user_id: str,
        roles: Sequence[str],
        branch_id: str,
        now: datetime,
        all_branches: bool,
        after: tuple[int, str, str] | None,
        limit: int,
        cross_branch_roles: Sequence[str] = (),
    ) -> Sequence[InboxTaskRow]:
        mine = InboxTaskRow.assignee_id == user_id
        claimable = and_(InboxTaskRow.assignee_id.is_(None), InboxTaskRow.candidate_role.in_(list(roles)))
        if not all_branches:
            here = or_(InboxTaskRow.branch_id == branch_id, InboxTaskRow.branch_id == "")
            if cross_branch_roles:
                # Head-office roles take their own role's tasks from every branch.
                here = or_(here, InboxTaskRow.candidate_role.in_(list(cross_branch_roles)))
            claimable = and_(claimable, here)
        query = select(InboxTaskRow).where(InboxTaskRow.status == "open")
        if view == "mine":
            query = query.where(mine)
        elif view == "claimable":
            query = query.where(claimable)
        else:  # overdue
            query = query.where(or_(mine, claimable), InboxTaskRow.due_at < now)
        if after is not None:
            priority, created, task_id = after
            created_at = datetime.fromisoformat(created)
            query = query.where(
                or_(
                    InboxTaskRow.priority < priority,
                    and_(InboxTaskRow.priority == priority, InboxTaskRow.created_at > created_at),
                    and_(
                        InboxTaskRow.priority == priority,
                        InboxTaskRow.created_at == created_at,
                        InboxTaskRow.id > task_id,
                    ),
                )
            )
        query = query.order_by(InboxTaskRow.priority.desc(), InboxTaskRow.created_at, InboxTaskRow.id).limit(limit)
        return (await self._session.scalars(query)).all()

    async def completed_tasks(self, process_key: str, branch_id: str | None = None) -> Sequence[InboxTaskRow]:
        """Completed tasks of a process; only one branch's when ``branch_id`` is given."""
        query = select(InboxTaskRow).where(InboxTaskRow.process_key == process_key, InboxTaskRow.status == "completed")
        if branch_id is not None:
            query = query.where(InboxTaskRow.branch_id == branch_id)
        return (await self._session.scalars(query)).all()

    # history
    def record(self, row: HistoryRow) -> None:
        self._session.add(row)

    async def history(self, instance_id: str) -> Sequence[HistoryRow]:
        return (
            await self._session.scalars(
                select(HistoryRow).where(HistoryRow.instance_id == instance_id).order_by(HistoryRow.id)
            )
        ).all()

    # service jobs and incidents
    async def job_for_task(self, instance_id: str, task_id: str) -> ServiceJobRow | None:
        return await self._session.scalar(
            select(ServiceJobRow).where(ServiceJobRow.instance_id == instance_id, ServiceJobRow.task_id == task_id)
        )

    async def job(self, job_id: str) -> ServiceJobRow | None:
        return await self._session.scalar(
            select(ServiceJobRow).where(ServiceJobRow.id == job_id).execution_options(populate_existing=True)
        )

    async def due_jobs(self, now: datetime, limit: int) -> Sequence[ServiceJobRow]:
        return (
            await self._session.scalars(
                select(ServiceJobRow)
                .where(ServiceJobRow.status == "pending", ServiceJobRow.next_attempt_at <= now)
                .order_by(ServiceJobRow.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def incident(self, incident_id: str) -> IncidentRow | None:
        return await self._session.get(IncidentRow, incident_id)

    async def incidents(
        self, *, status: str, instance_id: str, after: tuple[str, str] | None = None, limit: int = 500
    ) -> Sequence[IncidentRow]:
        """Newest first; ``after`` is the (created_at, id) of the last row of the previous page."""
        query = select(IncidentRow)
        if status != "all":
            query = query.where(IncidentRow.status == (status or "open"))
        if instance_id:
            query = query.where(IncidentRow.instance_id == instance_id)
        if after is not None:
            at = datetime.fromisoformat(after[0])
            query = query.where(
                or_(IncidentRow.created_at < at, and_(IncidentRow.created_at == at, IncidentRow.id < after[1]))
            )
        query = query.order_by(IncidentRow.created_at.desc(), IncidentRow.id.desc()).limit(limit)
        return (await self._session.scalars(query)).all()

    async def open_incidents_of(self, instance_id: str) -> Sequence[IncidentRow]:
        return (
            await self._session.scalars(
                select(IncidentRow).where(IncidentRow.instance_id == instance_id, IncidentRow.status == "open")
            )
        ).all()

    # messages
    async def replace_waits(self, instance_id: str, names: Sequence[str], correlation_key: str) -> None:
        await self._session.execute(delete(MessageWaitRow).where(MessageWaitRow.instance_id == instance_id))
        for name in names:
            self._session.add(
                MessageWaitRow(instance_id=instance_id, message_name=name, correlation_key=correlation_key)
            )

    async def waiting_instances(self, name: str, correlation_key: str) -> Sequence[str]:
        return (
            await self._session.scalars(
                select(MessageWaitRow.instance_id).where(
                    MessageWaitRow.message_name == name, MessageWaitRow.correlation_key == correlation_key
                )
            )
        ).all()

    async def pending_messages(
        self, names: Sequence[str], correlation_key: str, now: datetime
    ) -> Sequence[PendingMessageRow]:
        return (
            await self._session.scalars(
                select(PendingMessageRow)
                .where(
                    PendingMessageRow.message_name.in_(list(names)),
                    PendingMessageRow.correlation_key == correlation_key,
                    PendingMessageRow.consumed_at.is_(None),
                    PendingMessageRow.expires_at > now,
                )
                .order_by(PendingMessageRow.received_at)
                .with_for_update()
            )
        ).all()

    async def count_versions(self, process_key: str) -> int:
        return int(
            await self._session.scalar(
                select(func.count()).select_from(ProcessVersionRow).where(ProcessVersionRow.process_key == process_key)
            )
            or 0
        )
