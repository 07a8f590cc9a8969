"""Field task use cases: one function per command or query, one commit per command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from granary.v1 import fieldtask_pb2
from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from services.common.blobstore import BlobStore, BlobTooLarge
from services.common.clock import as_utc, new_id, utcnow
from services.common.errors import (
    Conflict,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.identity import Caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.timestamps import to_timestamp
from services.common.uow import UnitOfWork
from services.fieldtask.domain import evidence as ev
from services.fieldtask.domain import forms
from services.fieldtask.domain.geo import CoordinateSystem, Position, check_position, haversine_m, to_wgs84
from services.fieldtask.domain.route import Route, Stop, plan_route
from services.fieldtask.domain.task import (
    OPEN_STATUSES,
    WORKING_STATUSES,
    NotTheAssignee,
    TaskStatus,
    TaskType,
    check_reason,
    plan_task,
    transition,
)
from services.fieldtask.domain.trajectory import (
    MAX_PINGS_PER_BATCH,
    Ping,
    WorkingHours,
    check_ping_time,
    track_distance_m,
)
from services.fieldtask.models import (
    CheckInRow,
    EvidenceRow,
    FieldTaskRow,
    SignatureRow,
    SyncItemRow,
    TaskHistoryRow,
    TrajectoryPointRow,
)
from services.fieldtask.repository import (
    CheckInRepository,
    EvidenceRepository,
    FieldTaskRepository,
    HistoryRepository,
    SignatureRepository,
    SyncRepository,
    TrajectoryRepository,
)

# Roles that see every branch's tasks. Managers see their branch's; officers see the tasks
# assigned to them or created by them.
ALL_BRANCHES_ROLES = ("admin", "auditor", "system")
MANAGER_ROLES = ("supervisor", "president", "risk_director")
TASK_WRITERS = ("officer", "supervisor", "president", "admin", "system")
OTHER_BRANCH_WRITERS = ("admin", "system")
MAX_SIGNATURE_BYTES = 2 * 1024 * 1024
DEVICE_PROVIDER = "device"
MAX_SYNC_ITEMS = 500
MAX_CLIENT_ID = 80
ENTITY = "field_task"


class FieldTaskUnitOfWork(UnitOfWork):
    @property
    def tasks(self) -> FieldTaskRepository:
        return FieldTaskRepository(self.session)

    @property
    def history(self) -> HistoryRepository:
        return HistoryRepository(self.session)

    @property
    def check_ins(self) -> CheckInRepository:
        return CheckInRepository(self.session)

    @property
    def evidence(self) -> EvidenceRepository:
        return EvidenceRepository(self.session)

    @property
    def signatures(self) -> SignatureRepository:
        return SignatureRepository(self.session)

    @property
    def sync(self) -> SyncRepository:
        return SyncRepository(self.session)

    @property
    def trajectory(self) -> TrajectoryRepository:
        return TrajectoryRepository(self.session)


class FieldTaskNotFound(NotFound):
    reason = "FIELD_TASK_NOT_FOUND"


class SignedContentChanged(FailedPrecondition):
    reason = "SIGNED_CONTENT_CHANGED"


@dataclass(frozen=True)
class FieldConfig:
    """The service's tunables (from GRANARY_FIELDTASK_* at start-up)."""

    checkin_radius_m: float = 300.0
    evidence_max_bytes: int = 20 * 1024 * 1024
    working_hours: WorkingHours = field(default_factory=lambda: WorkingHours.parse("07:00-20:00", "Asia/Shanghai"))
    trajectory_retention_days: int = 180


@dataclass(frozen=True)
class GeoInput:
    latitude: float
    longitude: float
    system: CoordinateSystem = CoordinateSystem.WGS84
    accuracy_m: float = 0.0


@dataclass(frozen=True)
class NewFieldTask:
    task_type: TaskType | None
    due_at: datetime | None
    party_id: str = ""
    assignee_id: str = ""
    branch_id: str = ""
    priority: int = 0
    origin: str = ""
    title: str = ""
    subject_type: str = ""
    subject_id: str = ""
    business_key: str = ""
    process_instance_id: str = ""
    location: GeoInput | None = None
    address: str = ""


PARTY_ADDRESS = "party_address"


class LocatorUnavailable(Exception):
    """The customer service could not be asked (down, timed out): the answer is unknown."""


class PartyLocator(Protocol):
    async def locate(self, party_id: str) -> Position | None:
        """The WGS-84 point of the party's address; None when it has no located address.

        Raises LocatorUnavailable when the answer cannot be had now."""
        ...


@dataclass
class TaskDetail:
    task: FieldTaskRow
    history: list[TaskHistoryRow]
    check_ins: list[CheckInRow]
    evidence: list[EvidenceRow]
    signatures: list[tuple[SignatureRow, bool]]


# ---------------------------------------------------------------- scope and helpers


def _may_see(caller: Caller, task: FieldTaskRow) -> bool:
    if caller.has_role(*ALL_BRANCHES_ROLES):
        return True
    if caller.user_id and caller.user_id in (task.assignee_id, task.created_by):
        return True
    return caller.has_role(*MANAGER_ROLES) and bool(caller.branch_id) and task.branch_id == caller.branch_id


def _may_manage(caller: Caller, task: FieldTaskRow) -> bool:
    if caller.has_role(*OTHER_BRANCH_WRITERS):
        return True
    return caller.has_role(*MANAGER_ROLES) and task.branch_id == caller.branch_id


def _scope_filter(caller: Caller) -> ColumnElement[bool] | None:
    if caller.has_role(*ALL_BRANCHES_ROLES):
        return None
    own = or_(FieldTaskRow.assignee_id == caller.user_id, FieldTaskRow.created_by == caller.user_id)
    if caller.has_role(*MANAGER_ROLES) and caller.branch_id:
        return or_(own, FieldTaskRow.branch_id == caller.branch_id)
    return own if caller.user_id else false()


async def _load(uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> FieldTaskRow:
    task = await uow.tasks.get(task_id) if task_id else None
    # Out of scope looks exactly like absent: existence is itself information.
    if task is None or not _may_see(caller, task):
        raise FieldTaskNotFound(f"field task {task_id} not found")
    return task


def _require_assignee(caller: Caller, task: FieldTaskRow) -> None:
    if not task.assignee_id or task.assignee_id != caller.user_id:
        raise NotTheAssignee(
            "this task is not assigned to you (it may have been reassigned)",
            metadata={"task_id": task.id},
        )


def _require_manager(caller: Caller, task: FieldTaskRow, what: str) -> None:
    if not _may_manage(caller, task):
        raise PermissionDenied(f"only the branch's supervisors and presidents may {what} a field task")


def _apply(
    uow: FieldTaskUnitOfWork,
    caller: Caller,
    task: FieldTaskRow,
    action: str,
    now: datetime,
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Moves the task by ``action`` and records history and audit for it."""
    before = TaskStatus(task.status)
    after = transition(before, action)
    task.status = after.value
    task.updated_at = now
    uow.history.add(
        TaskHistoryRow(
            id=new_id(),
            task_id=task.id,
            action=action,
            from_status=before.value,
            to_status=after.value,
            actor_id=caller.user_id,
            assignee_id=task.assignee_id,
            reason=reason,
            at=now,
        )
    )
    uow.audit(
        f"fieldtask.task.{action}",
        ENTITY,
        task.id,
        {"from": before.value, "to": after.value, **({"reason": reason} if reason else {}), **(details or {})},
    )


async def _commit(uow: FieldTaskUnitOfWork) -> None:
    try:
        await uow.commit()
    except StaleDataError as exc:
        raise Conflict("the task was changed by someone else meanwhile; reload and retry") from exc


def _position(value: GeoInput, field_name: str) -> tuple[Position, CoordinateSystem]:
    raw = check_position(value.latitude, value.longitude, field=field_name)
    if value.accuracy_m < 0:
        raise InvalidArgument.for_field(f"{field_name}.accuracy_m", "must not be negative")
    return to_wgs84(raw, value.system), value.system


def _task_position(task: FieldTaskRow) -> Position | None:
    if task.latitude is None or task.longitude is None:
        return None
    return Position(task.latitude, task.longitude)


# ---------------------------------------------------------------- tasks


async def create_field_task(
    *, uow: FieldTaskUnitOfWork, caller: Caller, new: NewFieldTask, locator: PartyLocator | None = None
) -> FieldTaskRow:
    if not caller.has_role(*TASK_WRITERS):
        raise PermissionDenied("your roles may not create field tasks")
    now = utcnow()
    plan = plan_task(
        task_type=new.task_type,
        party_id=new.party_id,
        assignee_id=new.assignee_id,
        priority=new.priority,
        due_at=new.due_at,
        origin=new.origin,
        now=now,
    )
    branch_id = new.branch_id.strip() or caller.branch_id
    if branch_id != caller.branch_id and not caller.has_role(*OTHER_BRANCH_WRITERS):
        raise PermissionDenied("you may only create field tasks in your own branch")
    if not branch_id:
        raise InvalidArgument.for_field("branch_id", "is required")
    location: Position | None = None
    source = ""
    if new.location is not None:
        location, system = _position(new.location, "location")
        source = system.value
    for name, value, limit in (
        ("title", new.title, 200),
        ("subject_id", new.subject_id, 80),
        ("business_key", new.business_key, 120),
        ("process_instance_id", new.process_instance_id, 80),
        ("address", new.address, 300),
    ):
        if len(value.strip()) > limit:
            raise InvalidArgument.for_field(name, f"must be at most {limit} characters")
    subject_type, subject_id = new.subject_type, new.subject_id.strip()
    if not subject_type and plan.party_id:
        subject_type, subject_id = "party", subject_id or plan.party_id
    pending = False
    if location is None and plan.party_id and locator is not None:
        # Asked before the transaction opens: no database work waits on another service.
        try:
            location = await locator.locate(plan.party_id)
        except LocatorUnavailable:
            pending = True
        source = PARTY_ADDRESS if location is not None else ""
    async with uow:
        task = FieldTaskRow(
            id=new_id(),
            task_type=plan.task_type.value,
            status=plan.status.value,
            party_id=plan.party_id,
            assignee_id=plan.assignee_id,
            branch_id=branch_id,
            priority=plan.priority,
            due_at=plan.due_at,
            origin=plan.origin,
            created_by=caller.user_id,
            created_at=now,
            title=new.title.strip(),
            subject_type=subject_type,
            subject_id=subject_id,
            business_key=new.business_key.strip(),
            process_instance_id=new.process_instance_id.strip(),
            latitude=location.latitude if location else None,
            longitude=location.longitude if location else None,
            location_source=source,
            location_pending=pending,
            address=new.address.strip(),
            form_version=forms.CURRENT_VERSION[plan.task_type],
            check_in_flagged=False,
            updated_at=now,
        )
        uow.tasks.add(task)
        uow.history.add(
            TaskHistoryRow(
                id=new_id(),
                task_id=task.id,
                action="create",
                from_status="",
                to_status=task.status,
                actor_id=caller.user_id,
                assignee_id=task.assignee_id,
                reason="",
                at=now,
            )
        )
        uow.audit(
            "fieldtask.task.created",
            ENTITY,
            task.id,
            {
                "task_type": task.task_type,
                "branch_id": branch_id,
                "assignee_id": task.assignee_id,
                "location_source": source,
                "location_pending": pending,
            },
        )
        uow.record(
            "fieldtask.task.created",
            task.id,
            fieldtask_pb2.FieldTaskCreated(
                task_id=task.id,
                task_type=TYPE_TO_PROTO[plan.task_type],
                party_id=task.party_id,
                assignee_id=task.assignee_id,
                branch_id=task.branch_id,
                origin=task.origin,
            ),
        )
        await uow.commit()
    return task


async def update_field_task_location(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, location: GeoInput | None, address: str = ""
) -> FieldTaskRow:
    """Sets a task's location (its officer or the branch's managers), clearing location_pending."""
    if location is None:
        raise InvalidArgument.for_field("location", "is required")
    position, system = _position(location, "location")
    if len(address.strip()) > 300:
        raise InvalidArgument.for_field("address", "must be at most 300 characters")
    async with uow:
        task = await _load(uow, caller, task_id)
        if caller.user_id != task.assignee_id and not _may_manage(caller, task):
            raise PermissionDenied("only the task's officer and the branch's managers may change its location")
        if TaskStatus(task.status) not in OPEN_STATUSES:
            raise FailedPrecondition(f"the task is {task.status}; its location can no longer change")
        previous = (task.latitude, task.longitude, task.location_source)
        task.latitude, task.longitude = position.latitude, position.longitude
        task.location_source = system.value
        task.location_pending = False
        if address.strip():
            task.address = address.strip()
        task.updated_at = utcnow()
        uow.audit(
            "fieldtask.task.location_updated",
            ENTITY,
            task.id,
            {"source": system.value, "previous": list(previous)},
        )
        await _commit(uow)
    return task


async def retry_pending_locations(
    *, uow_factory: Callable[[], FieldTaskUnitOfWork], caller: Caller, locator: PartyLocator, limit: int = 50
) -> int:
    """Asks again for the party location of tasks created while customer was unavailable."""
    async with uow_factory() as uow:
        pending = await uow.tasks.location_pending(limit)
        work = [(t.id, t.party_id) for t in pending]
    located = 0
    for task_id, party_id in work:
        try:
            position = await locator.locate(party_id)
        except LocatorUnavailable:
            break  # still down: try again on the next round
        async with uow_factory() as uow:
            task = await uow.tasks.get(task_id)
            if task is None or not task.location_pending:
                continue
            task.location_pending = False
            if position is not None and task.latitude is None:
                task.latitude, task.longitude = position.latitude, position.longitude
                task.location_source = PARTY_ADDRESS
                located += 1
            uow.audit(
                "fieldtask.task.location_resolved",
                ENTITY,
                task.id,
                {"located": position is not None, "by": caller.user_id},
            )
            await _commit(uow)
    return located


async def get_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> FieldTaskRow:
    async with uow:
        return await _load(uow, caller, task_id)


async def get_field_task_detail(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> TaskDetail:
    async with uow:
        task = await _load(uow, caller, task_id)
        signatures = await uow.signatures.for_task(task.id)
        current = forms.content_hash(task.form_data or {})
        return TaskDetail(
            task=task,
            history=await uow.history.for_task(task.id),
            check_ins=await uow.check_ins.for_task(task.id),
            evidence=await uow.evidence.for_task(task.id),
            signatures=[(s, s.content_hash == current) for s in signatures],
        )


async def list_field_tasks(
    *,
    uow: FieldTaskUnitOfWork,
    caller: Caller,
    view: str = "",
    statuses: Sequence[TaskStatus] = (),
    assignee_id: str = "",
    business_key: str = "",
    party_id: str = "",
    size: int = 0,
    token: str = "",
) -> tuple[list[FieldTaskRow], str]:
    if view not in ("", "mine"):
        raise InvalidArgument.for_field("view", "must be empty or mine")
    limit = page_size(size)
    cursor = decode_cursor(token, 2)
    after = (as_utc(datetime.fromisoformat(cursor[0])), str(cursor[1])) if cursor else None
    async with uow:
        rows = await uow.tasks.page(
            scope=_scope_filter(caller),
            statuses=[s.value for s in statuses],
            assignee_id=caller.user_id if view == "mine" else assignee_id,
            business_key=business_key,
            party_id=party_id,
            limit=limit + 1,
            after=after,
        )
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_cursor([as_utc(last.due_at).isoformat(), last.id])
    return rows, next_token


async def assign_field_task(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, assignee_id: str, reason: str = ""
) -> FieldTaskRow:
    assignee = assignee_id.strip()
    if not assignee:
        raise InvalidArgument.for_field("assignee_id", "is required")
    if len(assignee) > 80:
        raise InvalidArgument.for_field("assignee_id", "must be at most 80 characters")
    now = utcnow()
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_manager(caller, task, "assign")
        previous = task.assignee_id
        if previous == assignee:
            raise FailedPrecondition(f"the task is already assigned to {assignee}")
        cleaned = check_reason(reason) if previous else reason.strip()[:500]
        task.assignee_id = assignee
        _apply(
            uow, caller, task, "assign", now, reason=cleaned, details={"assignee_id": assignee, "previous": previous}
        )
        uow.record(
            "fieldtask.task.assigned",
            task.id,
            fieldtask_pb2.FieldTaskAssigned(
                task_id=task.id,
                assignee_id=assignee,
                previous_assignee_id=previous,
                branch_id=task.branch_id,
                reason=cleaned,
            ),
        )
        await _commit(uow)
    return task


async def _accept(uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, now: datetime) -> FieldTaskRow:
    task = await _load(uow, caller, task_id)
    _require_assignee(caller, task)
    _apply(uow, caller, task, "accept", now)
    return task


async def accept_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> FieldTaskRow:
    async with uow:
        task = await _accept(uow, caller, task_id, utcnow())
        await _commit(uow)
    return task


async def cancel_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, reason: str) -> FieldTaskRow:
    cleaned = check_reason(reason)
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_manager(caller, task, "cancel")
        _apply(uow, caller, task, "cancel", utcnow(), reason=cleaned)
        uow.record(
            "fieldtask.task.cancelled",
            task.id,
            fieldtask_pb2.FieldTaskCancelled(
                task_id=task.id,
                business_key=task.business_key,
                assignee_id=task.assignee_id,
                branch_id=task.branch_id,
                reason=cleaned,
            ),
        )
        await _commit(uow)
    return task


# ---------------------------------------------------------------- check-in / check-out


async def _check(
    uow: FieldTaskUnitOfWork,
    caller: Caller,
    *,
    task_id: str,
    kind: str,
    position: GeoInput | None,
    device_id: str,
    client_time: datetime | None,
    config: FieldConfig,
    now: datetime,
) -> tuple[CheckInRow, FieldTaskRow]:
    if position is None:
        raise InvalidArgument.for_field("position", "is required")
    wgs, system = _position(position, "position")
    if len(device_id) > 80:
        raise InvalidArgument.for_field("device_id", "must be at most 80 characters")
    task = await _load(uow, caller, task_id)
    _require_assignee(caller, task)
    target = _task_position(task)
    distance = haversine_m(wgs, target) if target else None
    flag_reason = ""
    if distance is None:
        flag_reason = "task_without_location"
    elif distance > config.checkin_radius_m:
        flag_reason = "beyond_radius"
    row = CheckInRow(
        id=new_id(),
        task_id=task.id,
        kind=kind,
        officer_id=caller.user_id,
        latitude=wgs.latitude,
        longitude=wgs.longitude,
        accuracy_m=position.accuracy_m,
        source_system=system.value,
        distance_m=distance,
        radius_m=config.checkin_radius_m,
        flagged=bool(flag_reason),
        flag_reason=flag_reason,
        device_id=device_id,
        client_time=client_time,
        server_time=now,
    )
    uow.check_ins.add(row)
    details = {
        "distance_m": round(distance, 1) if distance is not None else None,
        "flagged": bool(flag_reason),
        "flag_reason": flag_reason,
    }
    if kind == "in":
        task.check_in_flagged = bool(flag_reason)
        _apply(uow, caller, task, "check_in", now, details=details)
        uow.record(
            "fieldtask.task.checked_in",
            task.id,
            fieldtask_pb2.FieldTaskCheckedIn(
                task_id=task.id,
                officer_id=caller.user_id,
                branch_id=task.branch_id,
                flagged=bool(flag_reason),
                flag_reason=flag_reason,
                has_distance=distance is not None,
                distance_m=distance or 0.0,
            ),
        )
    else:
        transition(TaskStatus(task.status), "check_out")
        task.updated_at = now
        uow.audit("fieldtask.task.check_out", ENTITY, task.id, details)
    return row, task


async def record_check(
    *,
    uow: FieldTaskUnitOfWork,
    caller: Caller,
    task_id: str,
    kind: str,
    position: GeoInput | None,
    device_id: str = "",
    client_time: datetime | None = None,
    config: FieldConfig,
) -> tuple[CheckInRow, FieldTaskRow]:
    async with uow:
        row, task = await _check(
            uow,
            caller,
            task_id=task_id,
            kind=kind,
            position=position,
            device_id=device_id,
            client_time=client_time,
            config=config,
            now=utcnow(),
        )
        await _commit(uow)
    return row, task


# ---------------------------------------------------------------- forms


def form_schema(task_type: TaskType | None, version: int) -> tuple[TaskType, int, dict[str, Any], dict[str, int]]:
    if task_type is None:
        raise InvalidArgument.for_field("task_type", "must be one of " + ", ".join(t.value for t in TaskType))
    chosen = version or forms.CURRENT_VERSION[task_type]
    schema = forms.schema_for(task_type, chosen)
    required = {k.value: n for k, n in forms.REQUIRED_EVIDENCE[task_type].items()}
    return task_type, chosen, schema, required


async def _save_form(
    uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, form_json: str, now: datetime
) -> tuple[FieldTaskRow, list[FieldViolation]]:
    data = forms.parse_form(form_json)
    task = await _load(uow, caller, task_id)
    _require_assignee(caller, task)
    transition(TaskStatus(task.status), "save_form")
    task.form_data = data
    task.form_saved_at = now
    task.updated_at = now
    uow.audit("fieldtask.form.saved", ENTITY, task.id, {"content_hash": forms.content_hash(data)})
    return task, forms.form_violations(TaskType(task.task_type), task.form_version, data)


async def save_form(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, form_json: str
) -> tuple[FieldTaskRow, list[FieldViolation]]:
    async with uow:
        task, problems = await _save_form(uow, caller, task_id, form_json, utcnow())
        await _commit(uow)
    return task, problems


# ---------------------------------------------------------------- evidence and signature


@dataclass(frozen=True)
class EvidenceHeader:
    task_id: str
    kind: str
    file_name: str = ""
    captured_at: datetime | None = None
    position: GeoInput | None = None
    device_id: str = ""


async def upload_evidence(
    *,
    uow_factory: Callable[[], FieldTaskUnitOfWork],
    caller: Caller,
    header: EvidenceHeader,
    chunks: AsyncIterator[bytes],
    store: BlobStore,
    max_bytes: int,
) -> EvidenceRow:
    """Streams a file into the blob store, checking type by magic bytes and size as it goes.

    A refused file leaves nothing behind: the staged blob is discarded and no row is written.
    """
    kind = ev.check_kind(header.kind)
    if kind is ev.EvidenceKind.SIGNATURE:
        raise InvalidArgument.for_field("kind", "signatures are captured with the signature call")
    position = _position(header.position, "position")[0] if header.position else None
    if len(header.file_name) > 200:
        raise InvalidArgument.for_field("file_name", "must be at most 200 characters")
    # Fail before reading a byte when the task is not the caller's to work on.
    async with uow_factory() as uow:
        task = await _load(uow, caller, header.task_id)
        _require_assignee(caller, task)
        transition(TaskStatus(task.status), "add_evidence")
    media_type = ""
    head = b""
    async with store.writer(max_bytes=max_bytes) as writer:
        try:
            async for chunk in chunks:
                if not media_type:
                    head += chunk[: ev.SNIFF_BYTES]
                    if len(head) >= ev.SNIFF_BYTES:
                        media_type = ev.check_content(kind, head)
                await writer.write(chunk)
        except BlobTooLarge:
            raise ev.too_large(max_bytes) from None
        if writer.size == 0:
            raise InvalidArgument.for_field("file", "is empty")
        if not media_type:
            media_type = ev.check_content(kind, head)
        info = await writer.commit()
    now = utcnow()
    async with uow_factory() as uow:
        task = await _load(uow, caller, header.task_id)
        _require_assignee(caller, task)
        transition(TaskStatus(task.status), "add_evidence")
        existing = await uow.evidence.find(task.id, info.sha256)
        if existing is not None:
            return existing  # the same bytes again: one record (natural de-duplication)
        row = EvidenceRow(
            id=new_id(),
            task_id=task.id,
            kind=kind.value,
            media_type=media_type,
            sha256=info.sha256,
            size_bytes=info.size,
            file_name=header.file_name,
            captured_at=header.captured_at,
            latitude=position.latitude if position else None,
            longitude=position.longitude if position else None,
            device_id=header.device_id[:80],
            uploaded_by=caller.user_id,
            uploaded_at=now,
        )
        uow.evidence.add(row)
        uow.audit(
            "fieldtask.evidence.added",
            ENTITY,
            task.id,
            {"evidence_id": row.id, "kind": kind.value, "sha256": info.sha256, "size": info.size},
        )
        try:
            await _commit(uow)
        except IntegrityError as exc:
            raise Conflict("the same file was uploaded concurrently; reload the task") from exc
    return row


async def capture_signature(
    *,
    uow: FieldTaskUnitOfWork,
    caller: Caller,
    task_id: str,
    signer_name: str,
    signer_party_id: str,
    image: bytes,
    position: GeoInput | None,
    signed_at: datetime | None,
    shown_hash: str,
    store: BlobStore,
) -> SignatureRow:
    name = signer_name.strip()
    if not name:
        raise InvalidArgument.for_field("signer_name", "is required")
    if len(name) > 100:
        raise InvalidArgument.for_field("signer_name", "must be at most 100 characters")
    if not image:
        raise InvalidArgument.for_field("image", "is required")
    if len(image) > MAX_SIGNATURE_BYTES:
        raise InvalidArgument.for_field("image", f"must be at most {MAX_SIGNATURE_BYTES} bytes")
    media_type = ev.check_content(ev.EvidenceKind.SIGNATURE, image[: ev.SNIFF_BYTES])
    wgs = _position(position, "position")[0] if position else None
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_assignee(caller, task)
        transition(TaskStatus(task.status), "sign")
        if not task.form_data:
            raise FailedPrecondition("save the form before the customer signs it")
    info = await store.put(image)
    now = utcnow()
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_assignee(caller, task)
        transition(TaskStatus(task.status), "sign")
        current = forms.content_hash(task.form_data or {})
        if shown_hash and shown_hash != current:
            raise InvalidArgument.for_field(
                "content_hash", "does not match the saved form: the signer saw different content"
            )
        signature_id = new_id()
        row = SignatureRow(
            id=signature_id,
            task_id=task.id,
            signer_name=name,
            signer_party_id=signer_party_id.strip()[:80],
            image_sha256=info.sha256,
            content_hash=current,
            provider=DEVICE_PROVIDER,
            external_ref=signature_id,  # (provider, external_ref) is unique
            latitude=wgs.latitude if wgs else None,
            longitude=wgs.longitude if wgs else None,
            officer_id=caller.user_id,
            signed_at=signed_at or now,
        )
        uow.signatures.add(row)
        if await uow.evidence.find(task.id, info.sha256) is None:
            uow.evidence.add(
                EvidenceRow(
                    id=new_id(),
                    task_id=task.id,
                    kind=ev.EvidenceKind.SIGNATURE.value,
                    media_type=media_type,
                    sha256=info.sha256,
                    size_bytes=info.size,
                    file_name="signature",
                    captured_at=signed_at or now,
                    latitude=row.latitude,
                    longitude=row.longitude,
                    device_id="",
                    uploaded_by=caller.user_id,
                    uploaded_at=now,
                )
            )
        uow.audit(
            "fieldtask.signature.captured",
            ENTITY,
            task.id,
            {"signature_id": row.id, "content_hash": current, "image_sha256": info.sha256},
        )
        await _commit(uow)
    return row


class EvidenceNotFound(NotFound):
    reason = "EVIDENCE_NOT_FOUND"


class SignedContentMismatch(InvalidArgument):
    reason = "SIGNED_CONTENT_MISMATCH"


async def open_evidence(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, evidence_id: str, store: BlobStore
) -> EvidenceRow:
    """Checks who asks and records the look (audit) before any byte is handed out.

    Evidence (photos of homes, signatures) is personal data: the task's officer and the
    branch's managers may download it; others who may see the task are refused.
    """
    async with uow:
        task = await _load(uow, caller, task_id)
        if not ((caller.user_id and caller.user_id == task.assignee_id) or _may_manage(caller, task)):
            raise PermissionDenied("only the task's officer and the branch's managers may download its evidence")
        row = await uow.evidence.get(evidence_id) if evidence_id else None
        if row is None or row.task_id != task.id:
            raise EvidenceNotFound(f"evidence {evidence_id} not found on field task {task.id}")
        if not await store.exists(row.sha256):
            raise FailedPrecondition(
                f"the file of evidence {row.id} is missing from the blob store", metadata={"sha256": row.sha256}
            )
        uow.audit(
            "fieldtask.evidence.downloaded",
            ENTITY,
            task.id,
            {"evidence_id": row.id, "kind": row.kind, "sha256": row.sha256},
        )
        await uow.commit()
    return row


@dataclass(frozen=True)
class ExternalSignature:
    task_id: str
    provider: str
    external_ref: str
    signer_name: str
    signed_at: datetime | None
    content_hash: str
    signer_party_id: str = ""
    image: bytes = b""
    document_ref: str = ""


def _check_external(sig: ExternalSignature, now: datetime) -> str | None:
    """Validates an external signing; returns the image's media type (None: no image)."""
    problems: list[FieldViolation] = []
    provider = sig.provider.strip()
    if not provider or len(provider) > 40:
        problems.append(FieldViolation("provider", "is required (1 to 40 characters)"))
    elif provider == DEVICE_PROVIDER:
        problems.append(FieldViolation("provider", "device signatures are captured with the signature call"))
    if not sig.external_ref.strip() or len(sig.external_ref) > 120:
        problems.append(FieldViolation("external_ref", "is required (1 to 120 characters)"))
    if not sig.signer_name.strip() or len(sig.signer_name.strip()) > 100:
        problems.append(FieldViolation("signer_name", "is required (1 to 100 characters)"))
    if sig.signed_at is None:
        problems.append(FieldViolation("signed_at", "is required"))
    elif as_utc(sig.signed_at) > now + timedelta(minutes=5):
        problems.append(FieldViolation("signed_at", "is in the future"))
    if not forms_hash_like(sig.content_hash):
        problems.append(FieldViolation("content_hash", "must be the SHA-256 (64 hex digits) of the signed content"))
    if not sig.image and not sig.document_ref.strip():
        problems.append(FieldViolation("document_ref", "an image or a reference to the signed document is required"))
    if len(sig.document_ref) > 300:
        problems.append(FieldViolation("document_ref", "must be at most 300 characters"))
    if len(sig.image) > MAX_SIGNATURE_BYTES:
        problems.append(FieldViolation("image", f"must be at most {MAX_SIGNATURE_BYTES} bytes"))
    if problems:
        raise InvalidArgument(
            "the external signature is incomplete: " + ", ".join(f"{p.field} {p.description}" for p in problems),
            problems,
        )
    return ev.check_content(ev.EvidenceKind.SIGNATURE, sig.image[: ev.SNIFF_BYTES]) if sig.image else None


def forms_hash_like(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


async def record_external_signature(
    *,
    uow_factory: Callable[[], FieldTaskUnitOfWork],
    caller: Caller,
    signature: ExternalSignature,
    store: BlobStore,
) -> tuple[SignatureRow, bool]:
    """Records a signing done at an external e-signature provider over the task's form.

    Refused unless the provider's content hash is the hash of the form as saved now (what was
    signed must be what is stored). Idempotent on (provider, external_ref)."""
    now = utcnow()
    media_type = _check_external(signature, now)
    provider, ref = signature.provider.strip(), signature.external_ref.strip()

    async def _task_for(uow: FieldTaskUnitOfWork) -> tuple[FieldTaskRow, SignatureRow | None]:
        task = await _load(uow, caller, signature.task_id)
        if not (caller.is_system or caller.user_id == task.assignee_id or _may_manage(caller, task)):
            raise PermissionDenied("only the task's officer, its managers or a connector may record its signature")
        existing = await uow.signatures.by_reference(provider, ref)
        if existing is not None and existing.task_id != task.id:
            raise Conflict(f"{provider} signing {ref} is already recorded on another field task")
        return task, existing

    async with uow_factory() as uow:
        task, existing = await _task_for(uow)
        if existing is not None:
            return existing, False
    info = await store.put(signature.image) if signature.image else None
    async with uow_factory() as uow:
        task, existing = await _task_for(uow)
        if existing is not None:
            return existing, False
        transition(TaskStatus(task.status), "sign")
        current = forms.content_hash(task.form_data or {})
        if not task.form_data or signature.content_hash != current:
            raise SignedContentMismatch(
                "content_hash: the provider signed other content than the task's saved form",
                [FieldViolation("content_hash", f"does not match the saved form (its hash is {current})")],
            )
        signed_at = as_utc(signature.signed_at or now)
        row = SignatureRow(
            id=new_id(),
            task_id=task.id,
            signer_name=signature.signer_name.strip(),
            signer_party_id=signature.signer_party_id.strip()[:80],
            image_sha256=info.sha256 if info else "",
            content_hash=current,
            provider=provider,
            external_ref=ref,
            document_ref=signature.document_ref.strip(),
            latitude=None,
            longitude=None,
            officer_id=caller.user_id,
            signed_at=signed_at,
        )
        uow.signatures.add(row)
        if info is not None and media_type and await uow.evidence.find(task.id, info.sha256) is None:
            uow.evidence.add(
                EvidenceRow(
                    id=new_id(),
                    task_id=task.id,
                    kind=ev.EvidenceKind.SIGNATURE.value,
                    media_type=media_type,
                    sha256=info.sha256,
                    size_bytes=info.size,
                    file_name=f"{provider} signature",
                    captured_at=signed_at,
                    latitude=None,
                    longitude=None,
                    device_id="",
                    uploaded_by=caller.user_id,
                    uploaded_at=now,
                )
            )
        uow.audit(
            "fieldtask.signature.external_recorded",
            ENTITY,
            task.id,
            {"signature_id": row.id, "provider": provider, "external_ref": ref, "content_hash": current},
        )
        try:
            await _commit(uow)
        except IntegrityError:
            pass
        else:
            return row, True
    async with uow_factory() as uow:  # the same signing recorded concurrently: answer with it
        stored = await uow.signatures.by_reference(provider, ref)
    if stored is None:
        raise Conflict("the signature could not be recorded; retry")
    return stored, False


async def verify_signature(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str
) -> tuple[SignatureRow | None, forms.SignatureCheck | None]:
    async with uow:
        task = await _load(uow, caller, task_id)
        signatures = await uow.signatures.for_task(task.id)
    if not signatures:
        return None, None
    latest = signatures[-1]
    return latest, forms.check_signature(latest.content_hash, task.form_data or {})


# ---------------------------------------------------------------- submission and completion


async def _check_complete(uow: FieldTaskUnitOfWork, task: FieldTaskRow) -> tuple[list[EvidenceRow], bool]:
    """Form valid, evidence present, signature (if any) over the current content."""
    task_type = TaskType(task.task_type)
    violations = forms.form_violations(task_type, task.form_version, task.form_data or {})
    evidence = await uow.evidence.for_task(task.id)
    signatures = await uow.signatures.for_task(task.id)
    counts: dict[str, int] = {}
    for item in evidence:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    # An external provider's signature may come without an image: it still is the signature.
    kind = ev.EvidenceKind.SIGNATURE.value
    counts[kind] = max(counts.get(kind, 0), len(signatures))
    violations += forms.missing_evidence(task_type, counts)
    if violations:
        raise InvalidArgument(
            "the task cannot be submitted: " + ", ".join(f"{v.field} {v.description}" for v in violations),
            violations,
            reason="SUBMISSION_INCOMPLETE",
        )
    if signatures:
        check = forms.check_signature(signatures[-1].content_hash, task.form_data or {})
        if not check.valid:
            raise SignedContentChanged(
                "the form content differs from what the customer signed "
                f"(signed {check.signed_hash[:12]}…, now {check.current_hash[:12]}…): have it signed again",
                metadata={"task_id": task.id},
            )
    return evidence, bool(signatures)


async def _submit(uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, now: datetime) -> FieldTaskRow:
    task = await _load(uow, caller, task_id)
    _require_assignee(caller, task)
    transition(TaskStatus(task.status), "submit")
    await _check_complete(uow, task)
    task.submitted_at = now
    _apply(uow, caller, task, "submit", now, details={"content_hash": forms.content_hash(task.form_data or {})})
    uow.record(
        "fieldtask.task.submitted",
        task.id,
        fieldtask_pb2.FieldTaskSubmitted(
            task_id=task.id, assignee_id=task.assignee_id, branch_id=task.branch_id, business_key=task.business_key
        ),
    )
    return task


async def submit_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str) -> FieldTaskRow:
    async with uow:
        task = await _submit(uow, caller, task_id, utcnow())
        await _commit(uow)
    return task


async def complete_field_task(
    *, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, comment: str = ""
) -> FieldTaskRow:
    now = utcnow()
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_manager(caller, task, "complete")
        transition(TaskStatus(task.status), "complete")
        evidence, signed = await _check_complete(uow, task)
        check_ins = await uow.check_ins.for_task(task.id)
        task.completed_at = now
        _apply(uow, caller, task, "complete", now, reason=comment.strip()[:500])
        results = forms.summarize(task.form_data or {})
        results["form_version"] = str(task.form_version)
        results["content_hash"] = forms.content_hash(task.form_data or {})
        results["evidence_count"] = str(len(evidence))
        results["signed"] = "true" if signed else "false"
        visits = [c for c in check_ins if c.kind == "in"]
        if visits:
            results["check_in_flagged"] = "true" if visits[-1].flagged else "false"
            if visits[-1].distance_m is not None:
                results["check_in_distance_m"] = f"{visits[-1].distance_m:.0f}"
        uow.record(
            "fieldtask.task.completed",
            task.id,
            fieldtask_pb2.FieldTaskCompleted(
                task_id=task.id,
                task_type=TYPE_TO_PROTO[TaskType(task.task_type)],
                origin=task.origin,
                business_key=task.business_key,
                party_id=task.party_id,
                results=results,
                process_instance_id=task.process_instance_id,
                assignee_id=task.assignee_id,
                branch_id=task.branch_id,
            ),
        )
        await _commit(uow)
    return task


async def return_field_task(*, uow: FieldTaskUnitOfWork, caller: Caller, task_id: str, reason: str) -> FieldTaskRow:
    cleaned = check_reason(reason)
    async with uow:
        task = await _load(uow, caller, task_id)
        _require_manager(caller, task, "return")
        task.submitted_at = None
        _apply(uow, caller, task, "return", utcnow(), reason=cleaned)
        await _commit(uow)
    return task


async def expire_overdue_tasks(*, uow: FieldTaskUnitOfWork, caller: Caller, now: datetime, limit: int = 200) -> int:
    """Marks open tasks past their deadline expired (the housekeeping job runs this)."""
    async with uow:
        tasks = await uow.tasks.overdue(now, [s.value for s in OPEN_STATUSES], limit)
        for task in tasks:
            _apply(uow, caller, task, "expire", now, reason="deadline passed")
            uow.record(
                "fieldtask.task.expired",
                task.id,
                fieldtask_pb2.FieldTaskExpired(
                    task_id=task.id,
                    task_type=TYPE_TO_PROTO[TaskType(task.task_type)],
                    origin=task.origin,
                    business_key=task.business_key,
                    party_id=task.party_id,
                    assignee_id=task.assignee_id,
                    branch_id=task.branch_id,
                    due_at=to_timestamp(task.due_at),
                ),
            )
        if tasks:
            await _commit(uow)
    return len(tasks)


# ---------------------------------------------------------------- offline sync


@dataclass(frozen=True)
class SyncItem:
    client_id: str
    action: str  # accept | check_in | check_out | save_form | submit
    task_id: str
    client_time: datetime | None = None
    position: GeoInput | None = None
    device_id: str = ""
    form_json: str = ""

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"device_id": self.device_id}
        if self.position is not None:
            data["position"] = {
                "latitude": self.position.latitude,
                "longitude": self.position.longitude,
                "system": self.position.system.value,
                "accuracy_m": self.position.accuracy_m,
            }
        if self.form_json:
            data["form_json"] = self.form_json
        return data


@dataclass(frozen=True)
class SyncResult:
    client_id: str
    outcome: str  # applied | duplicate | conflict | rejected
    first_outcome: str = ""
    reason: str = ""
    message: str = ""
    task_status: str = ""


SYNC_ACTIONS = ("accept", "check_in", "check_out", "save_form", "submit")


async def _apply_sync_item(
    uow: FieldTaskUnitOfWork, caller: Caller, item: SyncItem, config: FieldConfig, now: datetime
) -> FieldTaskRow:
    if item.action == "accept":
        return await _accept(uow, caller, item.task_id, now)
    if item.action in ("check_in", "check_out"):
        return (
            await _check(
                uow,
                caller,
                task_id=item.task_id,
                kind="in" if item.action == "check_in" else "out",
                position=item.position,
                device_id=item.device_id,
                client_time=item.client_time,
                config=config,
                now=now,
            )
        )[1]
    if item.action == "save_form":
        return (await _save_form(uow, caller, item.task_id, item.form_json, now))[0]
    if item.action == "submit":
        return await _submit(uow, caller, item.task_id, now)
    raise InvalidArgument.for_field("action", "must be one of " + ", ".join(SYNC_ACTIONS))


def _outcome_of(error: DomainError) -> str:
    return "rejected" if isinstance(error, InvalidArgument | PermissionDenied) else "conflict"


async def sync_field_actions(
    *,
    uow_factory: Callable[[], FieldTaskUnitOfWork],
    caller: Caller,
    batch_id: str,
    items: Sequence[SyncItem],
    config: FieldConfig,
) -> list[SyncResult]:
    """Applies an offline batch in order. Each item is its own transaction, stored with its
    outcome under (officer, client id): a replay answers "duplicate" and changes nothing, and an
    item that conflicts is kept (payload included) for review instead of being lost."""
    if not caller.user_id or caller.is_system:
        raise PermissionDenied("offline sync is for officers' devices")
    if len(items) > MAX_SYNC_ITEMS:
        raise InvalidArgument.for_field("items", f"at most {MAX_SYNC_ITEMS} per batch")
    for index, item in enumerate(items):
        if not item.client_id.strip() or len(item.client_id) > MAX_CLIENT_ID:
            raise InvalidArgument.for_field(
                f"items[{index}].client_id", f"is required (1 to {MAX_CLIENT_ID} characters)"
            )
    results: list[SyncResult] = []
    for item in items:
        async with uow_factory() as uow:
            seen = await uow.sync.find(caller.user_id, item.client_id)
        if seen is not None:
            results.append(SyncResult(item.client_id, "duplicate", seen.outcome, seen.reason, seen.message))
            continue
        now = utcnow()
        record = SyncItemRow(
            id=new_id(),
            officer_id=caller.user_id,
            client_id=item.client_id,
            batch_id=batch_id[:80],
            action=item.action[:24],
            task_id=item.task_id[:36],
            payload=item.payload(),
            client_time=item.client_time,
            outcome="applied",
            reason="",
            message="",
            received_at=now,
        )
        try:
            async with uow_factory() as uow:
                task = await _apply_sync_item(uow, caller, item, config, now)
                uow.sync.add(record)
                status = task.status
                await _commit(uow)
            results.append(SyncResult(item.client_id, "applied", task_status=status))
            continue
        except IntegrityError:
            results.append(SyncResult(item.client_id, "duplicate", "applied"))
            continue
        except DomainError as error:
            record.outcome = _outcome_of(error)
            record.reason = error.reason
            record.message = error.message
        # Not applied: keep what the device sent, with why, so nothing captured offline is lost.
        try:
            async with uow_factory() as uow:
                current = await uow.tasks.get(item.task_id) if item.task_id else None
                uow.sync.add(record)
                uow.audit(
                    f"fieldtask.sync.{record.outcome}",
                    ENTITY,
                    item.task_id or "-",
                    {"client_id": item.client_id, "action": item.action, "reason": record.reason},
                )
                await uow.commit()
        except IntegrityError:
            results.append(SyncResult(item.client_id, "duplicate", "applied"))
            continue
        visible = current is not None and _may_see(caller, current)
        results.append(
            SyncResult(
                item.client_id,
                record.outcome,
                reason=record.reason,
                message=record.message,
                task_status=current.status if visible and current else "",
            )
        )
    return results


# ---------------------------------------------------------------- trajectory


@dataclass(frozen=True)
class PingInput:
    recorded_at: datetime | None
    position: GeoInput | None


@dataclass(frozen=True)
class TrajectoryStats:
    accepted: int
    outside_working_hours: int
    duplicates: int


async def record_trajectory(
    *, uow: FieldTaskUnitOfWork, caller: Caller, points: Sequence[PingInput], config: FieldConfig
) -> TrajectoryStats:
    if not caller.user_id or caller.is_system:
        raise PermissionDenied("location pings come from officers' devices")
    if len(points) > MAX_PINGS_PER_BATCH:
        raise InvalidArgument.for_field("points", f"at most {MAX_PINGS_PER_BATCH} per batch")
    now = utcnow()
    kept: dict[datetime, tuple[Position, float]] = {}
    outside = duplicates = 0
    for index, point in enumerate(points):
        if point.recorded_at is None:
            raise InvalidArgument.for_field(f"points[{index}].recorded_at", "is required")
        if point.position is None:
            raise InvalidArgument.for_field(f"points[{index}].position", "is required")
        at = as_utc(check_ping_time(point.recorded_at, now, index=index))
        wgs = _position(point.position, f"points[{index}].position")[0]
        if not config.working_hours.contains(at):
            outside += 1
            continue
        if at in kept:
            duplicates += 1
            continue
        kept[at] = (wgs, point.position.accuracy_m)
    async with uow:
        stored = {as_utc(t) for t in await uow.trajectory.existing_times(caller.user_id, list(kept))}
        rows = [
            TrajectoryPointRow(
                id=new_id(),
                officer_id=caller.user_id,
                branch_id=caller.branch_id,
                recorded_at=at,
                latitude=pos.latitude,
                longitude=pos.longitude,
                accuracy_m=accuracy,
                received_at=now,
            )
            for at, (pos, accuracy) in sorted(kept.items())
            if at not in stored
        ]
        duplicates += len(kept) - len(rows)
        uow.trajectory.add_all(rows)
        uow.audit(
            "fieldtask.trajectory.recorded",
            "trajectory",
            caller.user_id,
            {"accepted": len(rows), "outside_working_hours": outside, "duplicates": duplicates},
        )
        await uow.commit()
    return TrajectoryStats(len(rows), outside, duplicates)


def _parse_day(day: str, config: FieldConfig) -> date:
    if not day:
        return utcnow().astimezone(config.working_hours.zone).date()
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise InvalidArgument.for_field("day", "must be a date, YYYY-MM-DD") from None


def _officer_scope(caller: Caller, officer_id: str, what: str) -> tuple[str, str | None]:
    """Whose data, and the branch to restrict it to (None: no restriction)."""
    officer = officer_id.strip() or caller.user_id
    if officer == caller.user_id or caller.has_role(*ALL_BRANCHES_ROLES):
        return officer, None
    if caller.has_role(*MANAGER_ROLES) and caller.branch_id:
        return officer, caller.branch_id
    raise PermissionDenied(f"you may only see your own {what}")


@dataclass
class DayTrack:
    officer_id: str
    day: date
    points: list[TrajectoryPointRow]
    distance_m: float
    visits: list[CheckInRow]


async def get_trajectory(
    *, uow: FieldTaskUnitOfWork, caller: Caller, officer_id: str, day: str, config: FieldConfig
) -> DayTrack:
    officer, branch = _officer_scope(caller, officer_id, "track")
    local_day = _parse_day(day, config)
    start, end = config.working_hours.day_bounds(local_day)
    async with uow:
        points = await uow.trajectory.between(officer, start, end, branch)
        visits = await uow.check_ins.for_officer(officer, start, end, branch)
        if officer != caller.user_id:
            # Where a colleague was is personal data: every look at it is recorded.
            uow.audit("fieldtask.trajectory.viewed", "trajectory", officer, {"day": local_day.isoformat()})
            await uow.commit()
    distance = track_distance_m([Ping(p.recorded_at, Position(p.latitude, p.longitude), p.accuracy_m) for p in points])
    return DayTrack(officer, local_day, points, distance, visits)


async def purge_trajectory(*, uow: FieldTaskUnitOfWork, now: datetime, retention_days: int) -> int:
    cutoff = now - timedelta(days=retention_days)
    async with uow:
        deleted = await uow.trajectory.purge_before(cutoff)
        if deleted:
            uow.audit(
                "fieldtask.trajectory.purged", "trajectory", "*", {"deleted": deleted, "before": cutoff.isoformat()}
            )
            await uow.commit()
    return deleted


# ---------------------------------------------------------------- route planning


@dataclass
class PlannedRoute:
    route: Route
    tasks: dict[str, FieldTaskRow]
    unplaced: list[str]


async def plan_officer_route(
    *, uow: FieldTaskUnitOfWork, caller: Caller, officer_id: str, day: str, start: GeoInput | None, config: FieldConfig
) -> PlannedRoute:
    if start is None:
        raise InvalidArgument.for_field("start", "is required")
    origin = _position(start, "start")[0]
    officer, branch = _officer_scope(caller, officer_id, "route")
    local_day = _parse_day(day, config)
    _, day_end = config.working_hours.day_bounds(local_day)
    async with uow:
        tasks = await uow.tasks.open_for_assignee(officer, [s.value for s in WORKING_STATUSES])
    tasks = [t for t in tasks if branch is None or t.branch_id == branch]
    stops = [
        Stop(t.id, Position(t.latitude, t.longitude), t.priority, as_utc(t.due_at))
        for t in tasks
        if t.latitude is not None and t.longitude is not None
    ]
    unplaced = sorted(t.id for t in tasks if t.latitude is None or t.longitude is None)
    route = plan_route(origin, stops, day_end=day_end)
    return PlannedRoute(route, {t.id: t for t in tasks}, unplaced)


def form_json_of(task: FieldTaskRow) -> str:
    return json.dumps(task.form_data, ensure_ascii=False, sort_keys=True) if task.form_data is not None else ""


TYPE_TO_PROTO = {
    TaskType.PRE_LOAN_SURVEY: fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
    TaskType.POST_LOAN_CHECK: fieldtask_pb2.FIELD_TASK_TYPE_POST_LOAN_CHECK,
    TaskType.OVERDUE_FOLLOW_UP: fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP,
    TaskType.VISIT: fieldtask_pb2.FIELD_TASK_TYPE_VISIT,
    TaskType.COLLATERAL_VERIFICATION: fieldtask_pb2.FIELD_TASK_TYPE_COLLATERAL_VERIFICATION,
    TaskType.VILLAGE_SURVEY: fieldtask_pb2.FIELD_TASK_TYPE_VILLAGE_SURVEY,
}
TYPE_FROM_PROTO = {v: k for k, v in TYPE_TO_PROTO.items()}
STATUS_TO_PROTO = {
    TaskStatus.NEW: fieldtask_pb2.FIELD_TASK_STATUS_NEW,
    TaskStatus.ASSIGNED: fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED,
    TaskStatus.ACCEPTED: fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED,
    TaskStatus.CHECKED_IN: fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN,
    TaskStatus.SUBMITTED: fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED,
    TaskStatus.DONE: fieldtask_pb2.FIELD_TASK_STATUS_DONE,
    TaskStatus.CANCELLED: fieldtask_pb2.FIELD_TASK_STATUS_CANCELLED,
    TaskStatus.EXPIRED: fieldtask_pb2.FIELD_TASK_STATUS_EXPIRED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
