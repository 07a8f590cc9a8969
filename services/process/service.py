"""Process use cases: one function per command or query, one commit per command.

An instance is advanced only while its row is locked (``SELECT … FOR UPDATE`` on PostgreSQL)
and every save checks the row's revision, so two replicas never advance one instance at
once and a lost update is refused (409). After each step ``_save`` writes the new state and
brings the projections up to date in the same transaction: inbox rows, history, service jobs,
message waits, the next due time, and the events of the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from granary.v1 import process_pb2
from opentelemetry import trace
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from services.common.clock import as_utc, new_id, utcnow
from services.common.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.identity import Caller
from services.common.timestamps import to_timestamp
from services.common.uow import UnitOfWork
from services.process.domain import engine
from services.process.domain.operators import ON_BEHALF_OF_PARAM
from services.process.domain.validation import ModelFile, ModelReport, validate_model
from services.process.models import (
    HistoryRow,
    InboxTaskRow,
    IncidentRow,
    PendingMessageRow,
    ProcessFileRow,
    ProcessInstanceRow,
    ProcessVersionRow,
    ServiceJobRow,
)
from services.process.repository import ProcessRepository

log = logging.getLogger(__name__)

MODELLERS = ("process_owner", "admin", "system")
STARTERS = (
    "officer",
    "supervisor",
    "president",
    "risk_director",
    "committee_member",
    "process_owner",
    "admin",
    "system",
)
ALL_BRANCHES = ("admin", "auditor", "process_owner", "risk_director", "system")
# Head-office approvers: their tasks come from every branch, so they see and act on the tasks
# of their own role in any branch (officers, supervisors and presidents stay in their branch).
HEAD_OFFICE_ROLES = ("risk_director", "committee_member")
SEE_ALL_INSTANCES = (*ALL_BRANCHES, "committee_member")
OPERATORS = ("admin", "process_owner", "system")
DECISIONS = ("approve", "reject", "return", "transfer", "submit")
MAX_VARIABLES_JSON = 64 * 1024
MESSAGE_KEEP = timedelta(days=7)


class ProcessUnitOfWork(UnitOfWork):
    @property
    def processes(self) -> ProcessRepository:
        return ProcessRepository(self.session)


class ProcessModelNotFound(NotFound):
    reason = "PROCESS_MODEL_NOT_FOUND"


class InstanceNotFound(NotFound):
    reason = "PROCESS_INSTANCE_NOT_FOUND"


class TaskNotFound(NotFound):
    reason = "TASK_NOT_FOUND"


class TaskFinished(FailedPrecondition):
    reason = "TASK_FINISHED"


class ModelInvalid(InvalidArgument):
    reason = "PROCESS_MODEL_INVALID"


@dataclass
class SpecCache:
    """Parsed specs per version: parsed once, shared by every instance of the version."""

    _specs: dict[str, engine.VersionSpecs] = field(default_factory=dict)

    async def get(self, repo: ProcessRepository, version: ProcessVersionRow) -> engine.VersionSpecs:
        specs = self._specs.get(version.id)
        if specs is None:
            files = [(f.name, f.content) for f in await repo.files(version.id)]
            specs = await asyncio.to_thread(engine.build_specs, files, version.process_key)
            self._specs[version.id] = specs
        return specs


# ---------------------------------------------------------------- deployments


def _require(caller: Caller, roles: Sequence[str], what: str) -> None:
    if not caller.has_role(*roles):
        raise PermissionDenied(f"your roles may not {what}")


async def validate_process_model(*, caller: Caller, files: Sequence[ModelFile]) -> ModelReport:
    """Checks a model set without storing anything, so it opens no unit of work."""
    _require(caller, MODELLERS, "validate process models")
    # Parsing and schema checks are CPU work of up to tens of milliseconds for a large set:
    # a worker thread keeps the event loop answering other calls meanwhile.
    return await asyncio.to_thread(validate_model, list(files))


def content_hash(files: Sequence[ModelFile]) -> str:
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.name):
        digest.update(file.name.encode() + b"\0" + hashlib.sha256(file.content).digest())
    return digest.hexdigest()


def _invalid(report: ModelReport) -> ModelInvalid:
    from services.common.errors import FieldViolation

    violations = [
        FieldViolation(f"{p.file}#{p.element_id}" if p.element_id else p.file or "files", p.reason)
        for p in report.problems
    ]
    return ModelInvalid(f"the model set has {len(violations)} problem(s); nothing was stored", violations)


async def deploy_process_model(
    *, uow: ProcessUnitOfWork, caller: Caller, files: Sequence[ModelFile], process_key: str = ""
) -> tuple[ProcessVersionRow, list[str], bool]:
    """Stores a valid set as a new immutable version; identical content returns the existing one."""
    _require(caller, MODELLERS, "deploy process models")
    report = await asyncio.to_thread(validate_model, list(files))
    if not report.valid:
        raise _invalid(report)
    key = process_key or report.process_ids[0]
    if key not in report.process_ids:
        raise InvalidArgument.for_field("process_key", f"the set defines no process {key!r}")
    digest = content_hash(files)
    names = sorted(f.name for f in files)
    async with uow:
        repo = uow.processes
        existing = await repo.version_by_hash(key, digest)
        if existing is not None:
            return existing, names, False
        latest = await repo.latest_version(key)
        row = ProcessVersionRow(
            id=new_id(),
            process_key=key,
            version=(latest.version + 1) if latest else 1,
            content_hash=digest,
            process_ids=list(report.process_ids),
            decision_ids=list(report.decision_ids),
            deployed_by=caller.user_id,
            deployed_at=utcnow(),
        )
        repo.add(row)
        for file in files:
            repo.add(ProcessFileRow(version_id=row.id, name=file.name, content=file.content))
        uow.audit(
            "process.model.deployed",
            "process_version",
            row.id,
            {"process_key": key, "version": row.version, "content_hash": digest, "files": names},
        )
        try:
            await uow.commit()
        except IntegrityError as exc:
            raise Conflict("another deployment of this process was stored at the same time; retry") from exc
    return row, names, True


async def list_process_models(*, uow: ProcessUnitOfWork, caller: Caller) -> list[tuple[ProcessVersionRow, int]]:
    async with uow:
        rows = await uow.processes.all_versions()
    latest: dict[str, tuple[ProcessVersionRow, int]] = {}
    for row in rows:
        count = latest[row.process_key][1] + 1 if row.process_key in latest else 1
        latest[row.process_key] = (row, count)
    return list(latest.values())


async def list_process_versions(*, uow: ProcessUnitOfWork, caller: Caller, process_key: str) -> list[ProcessVersionRow]:
    async with uow:
        rows = list(await uow.processes.versions(process_key))
    if not rows:
        raise ProcessModelNotFound(f"no process model {process_key}")
    return rows


async def get_process_version(
    *, uow: ProcessUnitOfWork, caller: Caller, process_key: str, version: int
) -> tuple[ProcessVersionRow, list[ProcessFileRow]]:
    async with uow:
        repo = uow.processes
        row = await repo.version(process_key, version) if version else await repo.latest_version(process_key)
        if row is None:
            raise ProcessModelNotFound(f"no version {version} of process model {process_key}")
        files = list(await repo.files(row.id))
    return row, files


# ---------------------------------------------------------------- the engine around one instance


@dataclass
class Step:
    """What happened during one use case, for the projections written by ``_save``."""

    completed_task: InboxTaskRow | None = None
    escalated_nodes: set[str] = field(default_factory=set)
    reminded_nodes: set[str] = field(default_factory=set)
    actor_id: str = "system"
    actor_role: str = ""


# Service calls made as the direct consequence of a user's decision carry that user, so the
# owning service records who decided (e.g. credit's approval opinion), not the engine.
ON_BEHALF_OF = "_on_behalf_of"


def _acting_role(caller: Caller, task: InboxTaskRow) -> str:
    if caller.has_role(task.candidate_role):
        return task.candidate_role
    return sorted(caller.roles)[0] if caller.roles else ""


def _task_event(row: InboxTaskRow, *, actor_id: str = "") -> process_pb2.ProcessTaskChanged:
    event = process_pb2.ProcessTaskChanged(
        task_id=row.id,
        instance_id=row.instance_id,
        business_key=row.business_key,
        node_id=row.node_id,
        title=row.title,
        candidate_role=row.candidate_role,
        branch_id=row.branch_id,
        assignee_id=row.assignee_id or "",
        decision=row.decision,
        actor_id=actor_id,
        process_key=row.process_key,
    )
    if row.due_at is not None:
        event.due_at.CopyFrom(to_timestamp(row.due_at))
    return event


def _instance_event(row: ProcessInstanceRow, reason: str = "") -> process_pb2.ProcessInstanceChanged:
    return process_pb2.ProcessInstanceChanged(
        instance_id=row.id,
        process_key=row.process_key,
        version=row.version,
        business_key=row.business_key,
        status=row.status,
        initiator_id=row.initiator_id,
        branch_id=row.branch_id,
        reason=reason,
    )


def _history(
    repo: ProcessRepository,
    instance_id: str,
    task_id: str,
    node_id: str,
    action: str,
    actor: str,
    now: datetime,
    decision: str = "",
    comment: str = "",
) -> None:
    repo.record(
        HistoryRow(
            instance_id=instance_id,
            task_id=task_id,
            node_id=node_id,
            action=action,
            actor_id=actor,
            decision=decision,
            comment=comment,
            at=now,
        )
    )


def _trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.trace_id else ""


def _raise_incident(
    uow: ProcessUnitOfWork,
    row: ProcessInstanceRow,
    *,
    node_id: str,
    kind: str,
    error: str,
    attempts: list[dict[str, str]],
    job_id: str | None,
    now: datetime,
) -> IncidentRow:
    incident = IncidentRow(
        id=new_id(),
        instance_id=row.id,
        node_id=node_id,
        job_id=job_id,
        kind=kind,
        error=error[:4000],
        attempts=attempts,
        trace_id=_trace_id(),
        status="open",
        created_at=now,
        resolved_at=None,
    )
    uow.processes.add(incident)
    row.status = "incident"
    uow.record(
        "process.incident.raised",
        row.id,
        process_pb2.ProcessIncidentChanged(
            incident_id=incident.id,
            instance_id=row.id,
            node_id=node_id,
            error=incident.error,
            attempts=len(attempts),
            trace_id=incident.trace_id,
            business_key=row.business_key,
        ),
    )
    _history(uow.processes, row.id, "", node_id, "incident.raised", "system", now, comment=error[:2000])
    return incident


def _failed_node(wf: BpmnWorkflow, exc: Exception) -> str:
    nodes = engine.error_tasks(wf)
    if nodes:
        return nodes[0]
    task = getattr(exc, "task", None)
    return str(getattr(getattr(task, "task_spec", None), "bpmn_id", "") or "")


def run_step(
    uow: ProcessUnitOfWork, row: ProcessInstanceRow, wf: BpmnWorkflow, action: Callable[[], Any], now: datetime
) -> Any:
    """Runs one engine action; a failure (sandbox, guard, model error) becomes an incident."""
    try:
        return action()
    except engine.GuardExceeded as exc:
        _raise_incident(
            uow, row, node_id=_failed_node(wf, exc), kind="guard", error=str(exc), attempts=[], job_id=None, now=now
        )
    except Exception as exc:  # whatever the model did wrong, the instance stops visibly
        log.warning("instance %s failed a step: %s", row.id, exc)
        _raise_incident(
            uow,
            row,
            node_id=_failed_node(wf, exc),
            kind="step",
            error=f"{type(exc).__name__}: {exc}",
            attempts=[],
            job_id=None,
            now=now,
        )
    return None


async def _save(
    uow: ProcessUnitOfWork,
    row: ProcessInstanceRow,
    wf: BpmnWorkflow,
    specs: engine.VersionSpecs,
    step: Step,
    now: datetime,
) -> None:
    repo = uow.processes
    # Messages that arrived before the instance waited for them are delivered first.
    for _ in range(10):
        names = engine.waiting_messages(wf) if row.status == "running" else []
        if names:
            await repo.lock_correlation(row.business_key)
        pending = await repo.pending_messages(names, row.business_key, now) if names else []
        if not pending:
            break
        message = pending[0]
        message.consumed_at = now
        run_step(uow, row, wf, lambda m=message: engine.deliver_message(wf, m.message_name, m.payload), now)
        _history(repo, row.id, "", "", "message.received", "system", now, comment=message.message_name)

    # Inbox projection.
    # autoflush is off: a row this use case just completed is still 'open' in the database.
    open_rows = {r.id: r for r in await repo.open_tasks(row.id) if r.status == "open"}
    ready = {t.task_id: t for t in engine.open_user_tasks(wf)} if row.status in ("running", "incident") else {}
    branch = str(engine.variables(wf).get("branch_id", "") or row.branch_id)
    escalated_from: list[InboxTaskRow] = []
    for task_id, task_row in open_rows.items():
        if task_id in ready:
            continue
        escalated = task_row.node_id in step.escalated_nodes
        task_row.status = "escalated" if escalated else "cancelled"
        task_row.completed_at = now
        _history(repo, row.id, task_id, task_row.node_id, "task." + task_row.status, step.actor_id, now)
        if escalated:
            escalated_from.append(task_row)
    for task_id, view in ready.items():
        if task_id in open_rows:
            task_row = open_rows[task_id]
            if view.due_at is not None and task_row.due_at != view.due_at:
                task_row.due_at = view.due_at
            if task_row.node_id in step.reminded_nodes:
                uow.record("process.task.reminded", row.id, _task_event(task_row))
                _history(repo, row.id, task_id, task_row.node_id, "task.reminded", "system", now)
            continue
        props = engine.task_properties(specs, view.node_id)
        title = f"{view.name} · {row.business_key}" if row.business_key else view.name
        task_row = InboxTaskRow(
            id=task_id,
            instance_id=row.id,
            process_key=row.process_key,
            node_id=view.node_id,
            title=title[:300],
            candidate_role=view.lane,
            branch_id=branch,
            assignee_id=None,
            priority=int(props.get("priority", "0") or 0) if props.get("priority", "0").lstrip("-").isdigit() else 0,
            business_key=row.business_key,
            initiator_id=row.initiator_id,
            status="open",
            created_at=now,
            due_at=view.due_at,
            completed_at=None,
            completed_by=None,
            decision="",
            comment="",
        )
        repo.add(task_row)
        _history(repo, row.id, task_id, view.node_id, "task.created", step.actor_id, now)
        uow.record("process.task.created", row.id, _task_event(task_row))
        if escalated_from:
            _history(
                repo,
                row.id,
                task_id,
                view.node_id,
                "task.escalated",
                "system",
                now,
                comment=f"from {escalated_from[0].node_id}",
            )
            uow.record("process.task.escalated", row.id, _task_event(task_row))

    # Service calls leave after this commit, each exactly once per task.
    deciders: dict[str, str] | None = None
    for call in engine.pending_service_calls(wf) if row.status == "running" else []:
        if await repo.job_for_task(row.id, call.task_id) is None:
            params = engine.plain(call.params)
            if step.completed_task is not None and step.actor_id != "system":
                params[ON_BEHALF_OF] = {"user_id": step.actor_id, "role": step.actor_role}
            named = str(params.pop(ON_BEHALF_OF_PARAM, "") or "").strip()
            if named:
                if deciders is None:
                    deciders = await _deciders(repo, row.id, step)
                if named not in deciders:
                    _raise_incident(
                        uow,
                        row,
                        node_id=call.node_id,
                        kind="service",
                        error=f"{ON_BEHALF_OF_PARAM} names {named!r}, who decided no task of this instance",
                        attempts=[],
                        job_id=None,
                        now=now,
                    )
                    break
                params[ON_BEHALF_OF] = {"user_id": named, "role": deciders[named]}
            repo.add(
                ServiceJobRow(
                    id=new_id(),
                    instance_id=row.id,
                    task_id=call.task_id,
                    node_id=call.node_id,
                    operator=call.operator,
                    params=params,
                    idempotency_key=f"process:{row.id}:{call.task_id}",
                    status="pending",
                    attempts=0,
                    attempt_log=[],
                    next_attempt_at=now,
                    created_at=now,
                )
            )

    await repo.replace_waits(row.id, engine.waiting_messages(wf) if row.status == "running" else [], row.business_key)
    if row.status == "running" and engine.is_completed(wf):
        row.status = "completed"
        row.ended_at = now
        uow.record("process.instance.completed", row.id, _instance_event(row))
        _history(repo, row.id, "", "", "instance.completed", step.actor_id, now)
    row.state = engine.dump(wf)
    row.next_due_at = engine.next_due_at(wf) if row.status == "running" else None
    row.active_nodes = engine.active_nodes(wf)
    row.updated_at = now


async def _deciders(repo: ProcessRepository, instance_id: str, step: Step) -> dict[str, str]:
    """Who decided a task of the instance, with the role of their latest decision.

    A model may make a call on behalf of one of them (``on_behalf_of``), e.g. to record each
    ballot of a countersign after the vote; nobody else can be named, so a model cannot put an
    opinion in the name of someone who never decided.
    """
    decided = sorted(
        (t for t in await repo.tasks_of(instance_id) if t.status == "completed" and t.completed_by),
        key=lambda t: as_utc(t.completed_at) if t.completed_at else as_utc(t.created_at),
    )
    roles = {str(t.completed_by): t.candidate_role for t in decided}
    if step.completed_task is not None and step.actor_id != "system":
        # The decision of this very step: the role the user acted in (as without on_behalf_of).
        roles[step.actor_id] = step.actor_role
    return roles


async def _locked_instance(
    uow: ProcessUnitOfWork, specs_cache: SpecCache, instance_id: str
) -> tuple[ProcessInstanceRow, engine.VersionSpecs, BpmnWorkflow]:
    repo = uow.processes
    # Lock order everywhere: the business key's correlation lock, then the instance row.
    await repo.lock_correlation(await repo.business_key_of(instance_id) or "")
    row = await repo.instance(instance_id, lock=True)
    if row is None:
        raise InstanceNotFound(f"process instance {instance_id} not found")
    version = await repo.version_by_id(row.version_id)
    assert version is not None
    specs = await specs_cache.get(repo, version)
    return row, specs, engine.load(row.state, specs)


async def _commit(uow: ProcessUnitOfWork) -> None:
    try:
        await uow.commit()
    except StaleDataError as exc:
        raise Conflict("the instance was changed at the same time; reload and retry") from exc


# ---------------------------------------------------------------- instances


def _parse_json_object(text: str, field_name: str) -> dict[str, Any]:
    if not text:
        return {}
    if len(text) > MAX_VARIABLES_JSON:
        raise InvalidArgument.for_field(field_name, f"must be at most {MAX_VARIABLES_JSON} bytes")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument.for_field(field_name, f"is not JSON: {exc}") from None
    if not isinstance(value, dict) or any(not isinstance(k, str) or k.startswith("_") for k in value):
        raise InvalidArgument.for_field(field_name, "must be a JSON object whose keys do not start with '_'")
    return value


async def start_instance(
    *,
    uow: ProcessUnitOfWork,
    specs_cache: SpecCache,
    caller: Caller,
    process_key: str,
    business_key: str,
    variables_json: str = "",
    branch_id: str = "",
) -> ProcessInstanceRow:
    _require(caller, STARTERS, "start processes")
    if not business_key.strip() or len(business_key) > 100:
        raise InvalidArgument.for_field("business_key", "is required (at most 100 characters)")
    data = _parse_json_object(variables_json, "variables")
    branch = branch_id or caller.branch_id
    if branch != caller.branch_id and not caller.has_role(*ALL_BRANCHES):
        raise PermissionDenied("you may only start processes in your own branch")
    async with uow:
        version = await uow.processes.latest_version(process_key)
        if version is None:
            raise ProcessModelNotFound(f"no process model {process_key}")
        running = await uow.processes.live_instance(process_key, business_key)
        if running is not None:
            raise AlreadyExists(
                f"process {process_key} already runs for {business_key}",
                reason="INSTANCE_RUNNING",
                metadata={"instance_id": running.id},
            )
        row = await _start(
            uow,
            specs_cache,
            version,
            business_key=business_key,
            branch_id=branch,
            initiator_id=caller.user_id,
            data=data,
        )
        await uow.commit()
    return row


async def _start(
    uow: ProcessUnitOfWork,
    specs_cache: SpecCache,
    version: ProcessVersionRow,
    *,
    business_key: str,
    branch_id: str,
    initiator_id: str,
    data: dict[str, Any],
) -> ProcessInstanceRow:
    """Creates and advances a new instance of ``version`` inside the caller's unit of work."""
    data.setdefault("branch_id", branch_id)
    data.setdefault("business_key", business_key)
    data.setdefault("initiator_id", initiator_id)
    now = utcnow()
    repo = uow.processes
    specs = await specs_cache.get(repo, version)
    row = ProcessInstanceRow(
        id=new_id(),
        version_id=version.id,
        process_key=version.process_key,
        version=version.version,
        business_key=business_key,
        status="running",
        state="",
        revision=1,
        next_due_at=None,
        initiator_id=initiator_id,
        branch_id=branch_id,
        active_nodes=[],
        cancel_reason="",
        started_at=now,
        updated_at=now,
        ended_at=None,
    )
    wf = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=engine.SCRIPT_ENGINE)
    run_step(uow, row, wf, lambda: _begin(wf, data), now)
    repo.add(row)
    uow.record("process.instance.started", row.id, _instance_event(row))
    _history(repo, row.id, "", "", "instance.started", initiator_id, now)
    await _save(uow, row, wf, specs, Step(actor_id=initiator_id), now)
    uow.audit(
        "process.instance.started",
        "process_instance",
        row.id,
        {"process_key": version.process_key, "version": version.version, "business_key": business_key},
    )
    return row


async def start_for_event(
    *,
    uow: ProcessUnitOfWork,
    specs_cache: SpecCache,
    process_key: str,
    business_key: str,
    branch_id: str,
    initiator_id: str,
) -> ProcessInstanceRow | None:
    """Starts the latest version of a process for a business event, once per business key.

    Runs inside the event consumer's transaction (no commit here). An instance of the process
    that is still running (or stopped by an incident) for the same business key means the event
    was already acted on — a redelivery, or a resubmission the running instance handles itself —
    so nothing starts twice. Returns None when nothing was started.
    """
    repo = uow.processes
    version = await repo.latest_version(process_key)
    if version is None:
        log.warning("no model %s is deployed; %s starts no process", process_key, business_key)
        return None
    if await repo.live_instance(process_key, business_key) is not None:
        return None
    return await _start(
        uow,
        specs_cache,
        version,
        business_key=business_key,
        branch_id=branch_id,
        initiator_id=initiator_id or "system",
        data={},
    )


def _begin(wf: BpmnWorkflow, data: dict[str, Any]) -> None:
    wf.script_engine = engine.SCRIPT_ENGINE
    wf.data.update(data)
    wf.task_tree.data.update(data)
    for task in wf.get_tasks():
        task.data.update(data)
    engine.advance(wf)


def _may_see_instance(caller: Caller, row: ProcessInstanceRow) -> bool:
    return (
        caller.has_role(*SEE_ALL_INSTANCES) or row.branch_id == caller.branch_id or row.initiator_id == caller.user_id
    )


@dataclass(frozen=True)
class InstanceView:
    row: ProcessInstanceRow
    timers: list[engine.TimerView]
    open_tasks: list[InboxTaskRow]
    variables: dict[str, Any]
    history: list[HistoryRow]
    waiting_messages: list[str]
    tasks: list[InboxTaskRow] = field(default_factory=list)


async def get_instance(
    *, uow: ProcessUnitOfWork, specs_cache: SpecCache, caller: Caller, instance_id: str
) -> InstanceView:
    async with uow:
        repo = uow.processes
        row = await repo.instance(instance_id)
        if row is None or not _may_see_instance(caller, row):
            raise InstanceNotFound(f"process instance {instance_id} not found")
        version = await repo.version_by_id(row.version_id)
        assert version is not None
        specs = await specs_cache.get(repo, version)
        wf = engine.load(row.state, specs)
        return InstanceView(
            row=row,
            timers=engine.waiting_timers(wf),
            open_tasks=list(await repo.open_tasks(row.id)),
            variables=engine.plain(engine.variables(wf)),
            history=list(await repo.history(row.id)),
            waiting_messages=engine.waiting_messages(wf),
            tasks=list(await repo.tasks_of(row.id)),
        )


async def cancel_instance(
    *, uow: ProcessUnitOfWork, specs_cache: SpecCache, caller: Caller, instance_id: str, reason: str
) -> ProcessInstanceRow:
    if not reason.strip():
        raise InvalidArgument.for_field("reason", "is required")
    now = utcnow()
    async with uow:
        row, specs, wf = await _locked_instance(uow, specs_cache, instance_id)
        if not _may_see_instance(caller, row):
            raise InstanceNotFound(f"process instance {instance_id} not found")
        if row.initiator_id != caller.user_id and not caller.has_role(*OPERATORS):
            raise PermissionDenied("only the initiator or a process owner may cancel an instance")
        if row.status in ("completed", "cancelled"):
            raise FailedPrecondition(f"the instance is already {row.status}")
        engine.cancel(wf)
        row.status = "cancelled"
        row.cancel_reason = reason[:500]
        row.ended_at = now
        await _save(uow, row, wf, specs, Step(actor_id=caller.user_id), now)
        for incident in await uow.processes.open_incidents_of(row.id):
            incident.status, incident.resolved_at = "resolved", now
        uow.record("process.instance.cancelled", row.id, _instance_event(row, reason))
        _history(uow.processes, row.id, "", "", "instance.cancelled", caller.user_id, now, comment=reason[:2000])
        uow.audit("process.instance.cancelled", "process_instance", row.id, {"reason": reason[:500]})
        await _commit(uow)
    return row


async def list_instances(
    *,
    uow: ProcessUnitOfWork,
    caller: Caller,
    status: str,
    process_key: str,
    business_key: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[ProcessInstanceRow]:
    async with uow:
        return list(
            await uow.processes.list_instances(
                status=status,
                process_key=process_key,
                business_key=business_key,
                branch_id=None if caller.has_role(*SEE_ALL_INSTANCES) else caller.branch_id,
                after=after,
                limit=limit,
            )
        )


# ---------------------------------------------------------------- inbox


def _in_scope(caller: Caller, task: InboxTaskRow) -> bool:
    if caller.has_role("admin", "system") or task.branch_id in ("", caller.branch_id):
        return True
    return task.candidate_role in HEAD_OFFICE_ROLES and caller.has_role(task.candidate_role)


def _may_act(caller: Caller, task: InboxTaskRow) -> bool:
    if task.assignee_id:
        return task.assignee_id == caller.user_id
    return caller.has_role(task.candidate_role) and _in_scope(caller, task)


def _may_see_task(caller: Caller, task: InboxTaskRow) -> bool:
    return (
        task.assignee_id == caller.user_id
        or (caller.has_role(task.candidate_role) and _in_scope(caller, task))
        or caller.has_role("admin", "auditor", "process_owner", "system")
    )


async def _visible_task(uow: ProcessUnitOfWork, caller: Caller, task_id: str) -> InboxTaskRow:
    task = await uow.processes.task(task_id)
    if task is None or not _may_see_task(caller, task):
        raise TaskNotFound(f"task {task_id} not found")
    return task


async def list_tasks(
    *, uow: ProcessUnitOfWork, caller: Caller, view: str, after: tuple[int, str, str] | None, limit: int
) -> list[InboxTaskRow]:
    if view not in ("mine", "claimable", "overdue"):
        raise InvalidArgument.for_field("view", "must be mine, claimable or overdue")
    async with uow:
        return list(
            await uow.processes.inbox(
                view=view,
                user_id=caller.user_id,
                roles=sorted(caller.roles),
                branch_id=caller.branch_id,
                now=utcnow(),
                all_branches=caller.has_role("admin"),
                cross_branch_roles=sorted(r for r in caller.roles if r in HEAD_OFFICE_ROLES),
                after=after,
                limit=limit,
            )
        )


async def get_task(*, uow: ProcessUnitOfWork, caller: Caller, task_id: str) -> InboxTaskRow:
    async with uow:
        return await _visible_task(uow, caller, task_id)


async def claim_task(*, uow: ProcessUnitOfWork, caller: Caller, task_id: str) -> InboxTaskRow:
    now = utcnow()
    async with uow:
        task = await _visible_task(uow, caller, task_id)
        await uow.processes.instance(task.instance_id, lock=True)
        task = await uow.processes.task(task_id, refresh=True) or task
        if task.status != "open":
            raise TaskFinished(f"the task is already {task.status}")
        if task.assignee_id == caller.user_id:
            return task
        if task.assignee_id:
            raise Conflict("the task is claimed by someone else", reason="TASK_CLAIMED")
        if not _may_act(caller, task):
            raise PermissionDenied(f"only holders of the role {task.candidate_role} in its branch may claim it")
        task.assignee_id = caller.user_id
        _history(uow.processes, task.instance_id, task.id, task.node_id, "task.claimed", caller.user_id, now)
        uow.record("process.task.claimed", task.instance_id, _task_event(task, actor_id=caller.user_id))
        uow.audit("process.task.claimed", "inbox_task", task.id, {"instance_id": task.instance_id})
        await _commit(uow)
    return task


async def release_task(*, uow: ProcessUnitOfWork, caller: Caller, task_id: str) -> InboxTaskRow:
    now = utcnow()
    async with uow:
        task = await _visible_task(uow, caller, task_id)
        await uow.processes.instance(task.instance_id, lock=True)
        task = await uow.processes.task(task_id, refresh=True) or task
        if task.status != "open":
            raise TaskFinished(f"the task is already {task.status}")
        if task.assignee_id != caller.user_id and not caller.has_role("admin"):
            raise PermissionDenied("only the holder of a task may release it")
        task.assignee_id = None
        _history(uow.processes, task.instance_id, task.id, task.node_id, "task.released", caller.user_id, now)
        uow.audit("process.task.released", "inbox_task", task.id, {"instance_id": task.instance_id})
        await _commit(uow)
    return task


async def complete_task(
    *,
    uow: ProcessUnitOfWork,
    specs_cache: SpecCache,
    caller: Caller,
    task_id: str,
    decision: str,
    comment: str = "",
    transfer_to: str = "",
    data_json: str = "",
) -> InboxTaskRow:
    if decision not in DECISIONS:
        raise InvalidArgument.for_field("decision", f"must be one of {', '.join(DECISIONS)}")
    if len(comment) > 2000:
        raise InvalidArgument.for_field("comment", "must be at most 2000 characters")
    if decision == "transfer" and not transfer_to.strip():
        raise InvalidArgument.for_field("transfer_to", "names the user the task goes to")
    form = _parse_json_object(data_json, "data")
    now = utcnow()
    async with uow:
        repo = uow.processes
        task = await _visible_task(uow, caller, task_id)
        # Lock the instance first, then re-read the task: a concurrent completion is seen here.
        row, specs, wf = await _locked_instance(uow, specs_cache, task.instance_id)
        task = await repo.task(task_id, refresh=True) or task
        if task.status != "open":
            raise TaskFinished(f"the task is already {task.status}")
        if not _may_act(caller, task):
            raise PermissionDenied(
                "the task is held by someone else"
                if task.assignee_id
                else f"only holders of the role {task.candidate_role} in its branch may act on it"
            )
        if decision == "approve" and task.initiator_id == caller.user_id:
            raise PermissionDenied("four-eyes: you started this process and may not approve it", reason="FOUR_EYES")
        if decision == "transfer":
            task.assignee_id = transfer_to.strip()
            _history(
                repo,
                row.id,
                task.id,
                task.node_id,
                "task.transferred",
                caller.user_id,
                now,
                decision="transfer",
                comment=comment,
            )
            uow.record("process.task.claimed", row.id, _task_event(task, actor_id=caller.user_id))
            uow.audit("process.task.transferred", "inbox_task", task.id, {"to": task.assignee_id})
            await _commit(uow)
            return task
        if any(
            v.completed_by == caller.user_id for v in await repo.sibling_votes(row.id, task.node_id, task.created_at)
        ):
            raise PermissionDenied("you have already decided on this step (one person, one vote)", reason="ONE_VOTE")
        if not engine.is_ready_user_task(wf, task_id):
            raise TaskFinished("the task is no longer waiting for a decision")
        payload = {**form, "decision": decision, "comment": comment, "decided_by": caller.user_id}
        task.status = "completed"
        task.decision = decision
        task.comment = comment
        task.completed_by = caller.user_id
        task.completed_at = now
        if task.assignee_id is None:
            task.assignee_id = caller.user_id
        _history(
            repo,
            row.id,
            task.id,
            task.node_id,
            "task.completed",
            caller.user_id,
            now,
            decision=decision,
            comment=comment,
        )
        uow.record("process.task.completed", row.id, _task_event(task, actor_id=caller.user_id))
        run_step(uow, row, wf, lambda: engine.complete_user_task(wf, task_id, payload), now)
        step = Step(completed_task=task, actor_id=caller.user_id, actor_role=_acting_role(caller, task))
        await _save(uow, row, wf, specs, step, now)
        uow.audit(
            "process.task.completed",
            "inbox_task",
            task.id,
            {"instance_id": row.id, "node_id": task.node_id, "decision": decision},
        )
        await _commit(uow)
    return task


# ---------------------------------------------------------------- timers


async def fire_due_timers(*, uow: ProcessUnitOfWork, specs_cache: SpecCache, limit: int = 20) -> int:
    """Advances due instances; SKIP LOCKED lets several replicas share the work without overlap."""
    now = utcnow()
    async with uow:
        rows = await uow.processes.due_instances(now, limit)
        for row in rows:
            if not await uow.processes.try_lock_correlation(row.business_key):
                continue  # a message for it is being delivered: the timer fires on the next pass
            version = await uow.processes.version_by_id(row.version_id)
            assert version is not None
            specs = await specs_cache.get(uow.processes, version)
            wf = engine.load(row.state, specs)
            due = engine.due_timers(wf, now)
            step = Step()
            for timer in due:
                if timer.attached_to:
                    # Many missed repetitions of a reminder collapse into one per pass.
                    (step.escalated_nodes if timer.interrupting else step.reminded_nodes).add(timer.attached_to)
                _history(uow.processes, row.id, timer.task_id, timer.node_id, "timer.fired", "system", now)
            skipped = engine.collapse_missed_cycles(wf, now)
            if skipped:
                _history(uow.processes, row.id, "", "", "timer.collapsed", "system", now, comment=f"{skipped} missed")
            run_step(uow, row, wf, lambda w=wf: engine.advance(w), now)
            await _save(uow, row, wf, specs, step, now)
            if row.next_due_at is not None and as_utc(row.next_due_at) <= now:
                # A timer that cannot fire yet (clock skew) is retried shortly, not in a hot loop.
                row.next_due_at = now + timedelta(seconds=1)
        if rows:
            await _commit(uow)
    return len(rows)


# ---------------------------------------------------------------- service tasks and incidents


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    instance_id: str
    task_id: str
    operator: str
    params: dict[str, Any]
    idempotency_key: str
    attempts: int


async def claim_due_jobs(*, uow: ProcessUnitOfWork, lease: timedelta, limit: int = 10) -> list[ClaimedJob]:
    """Leases due service jobs so that no other replica calls them meanwhile."""
    now = utcnow()
    async with uow:
        jobs = await uow.processes.due_jobs(now, limit)
        claimed = [
            ClaimedJob(j.id, j.instance_id, j.task_id, j.operator, dict(j.params), j.idempotency_key, j.attempts)
            for j in jobs
        ]
        for job in jobs:
            job.next_attempt_at = now + lease
        if jobs:
            await uow.commit()
    return claimed


async def complete_job(*, uow: ProcessUnitOfWork, specs_cache: SpecCache, job_id: str, result: Any) -> None:
    now = utcnow()
    async with uow:
        job = await uow.processes.job(job_id)
        if job is None or job.status != "pending":
            return
        row, specs, wf = await _locked_instance(uow, specs_cache, job.instance_id)
        job = await uow.processes.job(job_id)
        if job is None or job.status != "pending":
            return
        job.status = "done"
        job.attempts += 1
        if row.status == "running":
            run_step(uow, row, wf, lambda: engine.complete_service_task(wf, job.task_id, engine.plain(result)), now)
            _history(
                uow.processes,
                row.id,
                job.task_id,
                job.node_id,
                "service.completed",
                "system",
                now,
                comment=job.operator,
            )
            await _save(uow, row, wf, specs, Step(), now)
        await _commit(uow)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    return timedelta(seconds=min(300.0, base_seconds * 2 ** max(0, attempts - 1)))


async def fail_job(
    *, uow: ProcessUnitOfWork, job_id: str, error: str, max_attempts: int, backoff_seconds: float
) -> bool:
    """Records a failed attempt; after the last one raises an incident. True when it did."""
    now = utcnow()
    async with uow:
        job = await uow.processes.job(job_id)
        if job is None or job.status != "pending":
            return False
        row = await uow.processes.instance(job.instance_id, lock=True)
        job.attempts += 1
        job.attempt_log = [*job.attempt_log, {"at": now.isoformat(), "error": error[:1000]}]
        raised = False
        if job.attempts >= max_attempts and row is not None:
            job.status = "failed"
            _raise_incident(
                uow,
                row,
                node_id=job.node_id,
                kind="service",
                error=error,
                attempts=job.attempt_log,
                job_id=job.id,
                now=now,
            )
            raised = True
        else:
            job.next_attempt_at = now + backoff(job.attempts, backoff_seconds)
        await _commit(uow)
    return raised


async def list_incidents(
    *,
    uow: ProcessUnitOfWork,
    caller: Caller,
    status: str,
    instance_id: str,
    after: tuple[str, str] | None = None,
    limit: int = 500,
) -> list[IncidentRow]:
    _require(caller, (*OPERATORS, "auditor"), "see incidents")
    async with uow:
        return list(await uow.processes.incidents(status=status, instance_id=instance_id, after=after, limit=limit))


async def retry_incident(
    *, uow: ProcessUnitOfWork, specs_cache: SpecCache, caller: Caller, incident_id: str
) -> IncidentRow:
    _require(caller, OPERATORS, "retry incidents")
    now = utcnow()
    async with uow:
        repo = uow.processes
        incident = await repo.incident(incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found")
        if incident.status != "open":
            raise FailedPrecondition("the incident is already resolved")
        row, specs, wf = await _locked_instance(uow, specs_cache, incident.instance_id)
        incident.status, incident.resolved_at = "resolved", now
        row.status = "running"
        if incident.job_id:
            job = await repo.job(incident.job_id)
            if job is not None:
                job.status, job.attempts, job.next_attempt_at = "pending", 0, now
        else:
            run_step(uow, row, wf, lambda: engine.retry_errors(wf), now)
        uow.record(
            "process.incident.resolved",
            row.id,
            process_pb2.ProcessIncidentChanged(
                incident_id=incident.id,
                instance_id=row.id,
                node_id=incident.node_id,
                error=incident.error,
                attempts=len(incident.attempts),
                trace_id=incident.trace_id,
                business_key=row.business_key,
            ),
        )
        _history(repo, row.id, "", incident.node_id, "incident.retried", caller.user_id, now)
        await _save(uow, row, wf, specs, Step(actor_id=caller.user_id), now)
        uow.audit("process.incident.retried", "process_incident", incident.id, {"instance_id": row.id})
        await _commit(uow)
    return incident


# ---------------------------------------------------------------- messages


async def receive_message(
    *, uow: ProcessUnitOfWork, specs_cache: SpecCache, name: str, correlation_key: str, payload: dict[str, Any]
) -> int:
    """Delivers to the waiting instances, or keeps the message until one waits (or it expires).

    Runs inside the caller's unit of work (the event consumer's transaction), not committing.
    """
    now = utcnow()
    repo = uow.processes
    delivered = 0
    await repo.lock_correlation(correlation_key)
    for instance_id in await repo.waiting_instances(name, correlation_key):
        row, specs, wf = await _locked_instance(uow, specs_cache, instance_id)
        if row.status != "running":
            continue
        ok = run_step(uow, row, wf, lambda r=row, w=wf: engine.deliver_message(w, name, payload), now)
        if ok:
            delivered += 1
            _history(repo, row.id, "", "", "message.received", "system", now, comment=name)
        await _save(uow, row, wf, specs, Step(), now)
    if delivered == 0:
        repo.add(
            PendingMessageRow(
                id=new_id(),
                message_name=name,
                correlation_key=correlation_key,
                payload=engine.plain(payload),
                received_at=now,
                expires_at=now + MESSAGE_KEEP,
                consumed_at=None,
            )
        )
    return delivered


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


async def node_durations(
    *, uow: ProcessUnitOfWork, caller: Caller, process_key: str
) -> list[tuple[str, str, int, float, float, float]]:
    # Branch staff see their branch's figures; those who see every instance see all branches.
    branch_id = None if caller.has_role(*SEE_ALL_INSTANCES) else caller.branch_id
    async with uow:
        rows = await uow.processes.completed_tasks(process_key, branch_id)
    by_node: dict[str, list[float]] = {}
    titles: dict[str, str] = {}
    for r in rows:
        if r.completed_at is None:
            continue
        by_node.setdefault(r.node_id, []).append((as_utc(r.completed_at) - as_utc(r.created_at)).total_seconds())
        titles[r.node_id] = r.title.split(" · ")[0]
    return [
        (node, titles[node], len(v), statistics.fmean(v), percentile(v, 0.5), percentile(v, 0.9))
        for node, v in sorted(by_node.items())
    ]
