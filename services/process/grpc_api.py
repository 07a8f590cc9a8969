"""ProcessService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

import json
from collections.abc import Callable

from granary.v1 import process_pb2, process_pb2_grpc

from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.pagination import decode_cursor, encode_cursor, page_size
from services.common.timestamps import to_timestamp
from services.process import service
from services.process.domain.validation import ModelFile, ModelReport
from services.process.models import HistoryRow, InboxTaskRow, IncidentRow, ProcessInstanceRow, ProcessVersionRow


class ProcessServicer(process_pb2_grpc.ProcessServiceServicer):
    def __init__(self, *, uow: Callable[[], service.ProcessUnitOfWork], specs: service.SpecCache | None = None) -> None:
        self._uow = uow
        self._specs = specs or service.SpecCache()

    async def ValidateProcessModel(
        self, request: process_pb2.ValidateProcessModelRequest, context: ServicerContext
    ) -> process_pb2.ValidateProcessModelResponse:
        report = await service.validate_process_model(
            caller=require_caller(),
            files=[ModelFile(name=f.name, content=f.content) for f in request.files],
        )
        return report_to_proto(report)

    async def DeployProcessModel(
        self, request: process_pb2.DeployProcessModelRequest, context: ServicerContext
    ) -> process_pb2.DeployProcessModelResponse:
        row, names, created = await service.deploy_process_model(
            uow=self._uow(),
            caller=require_caller(),
            files=[ModelFile(name=f.name, content=f.content) for f in request.files],
            process_key=request.process_key,
        )
        return process_pb2.DeployProcessModelResponse(version=version_to_proto(row, names), created=created)

    async def ListProcessModels(
        self, request: process_pb2.ListProcessModelsRequest, context: ServicerContext
    ) -> process_pb2.ListProcessModelsResponse:
        models = await service.list_process_models(uow=self._uow(), caller=require_caller())
        return process_pb2.ListProcessModelsResponse(
            models=[
                process_pb2.ProcessModelSummary(
                    process_key=row.process_key, latest=version_to_proto(row), version_count=count
                )
                for row, count in models
            ]
        )

    async def ListProcessVersions(
        self, request: process_pb2.ListProcessVersionsRequest, context: ServicerContext
    ) -> process_pb2.ListProcessVersionsResponse:
        rows = await service.list_process_versions(
            uow=self._uow(), caller=require_caller(), process_key=request.process_key
        )
        return process_pb2.ListProcessVersionsResponse(versions=[version_to_proto(r) for r in rows])

    async def GetProcessVersion(
        self, request: process_pb2.GetProcessVersionRequest, context: ServicerContext
    ) -> process_pb2.GetProcessVersionResponse:
        row, files = await service.get_process_version(
            uow=self._uow(), caller=require_caller(), process_key=request.process_key, version=request.version
        )
        return process_pb2.GetProcessVersionResponse(
            version=version_to_proto(row, [f.name for f in files]),
            files=[process_pb2.ModelFile(name=f.name, content=f.content) for f in files],
        )

    async def StartProcessInstance(
        self, request: process_pb2.StartProcessInstanceRequest, context: ServicerContext
    ) -> process_pb2.StartProcessInstanceResponse:
        caller = require_caller()
        row = await service.start_instance(
            uow=self._uow(),
            specs_cache=self._specs,
            caller=caller,
            process_key=request.process_key,
            business_key=request.business_key,
            variables_json=request.variables_json,
            branch_id=request.branch_id,
        )
        view = await service.get_instance(uow=self._uow(), specs_cache=self._specs, caller=caller, instance_id=row.id)
        return process_pb2.StartProcessInstanceResponse(instance=instance_to_proto(view))

    async def GetProcessInstance(
        self, request: process_pb2.GetProcessInstanceRequest, context: ServicerContext
    ) -> process_pb2.GetProcessInstanceResponse:
        view = await service.get_instance(
            uow=self._uow(), specs_cache=self._specs, caller=require_caller(), instance_id=request.instance_id
        )
        return process_pb2.GetProcessInstanceResponse(instance=instance_to_proto(view))

    async def CancelProcessInstance(
        self, request: process_pb2.CancelProcessInstanceRequest, context: ServicerContext
    ) -> process_pb2.CancelProcessInstanceResponse:
        caller = require_caller()
        await service.cancel_instance(
            uow=self._uow(),
            specs_cache=self._specs,
            caller=caller,
            instance_id=request.instance_id,
            reason=request.reason,
        )
        view = await service.get_instance(
            uow=self._uow(), specs_cache=self._specs, caller=caller, instance_id=request.instance_id
        )
        return process_pb2.CancelProcessInstanceResponse(instance=instance_to_proto(view))

    async def ListProcessInstances(
        self, request: process_pb2.ListProcessInstancesRequest, context: ServicerContext
    ) -> process_pb2.ListProcessInstancesResponse:
        limit = page_size(request.page_size)
        cursor = decode_cursor(request.page_token, 2)
        rows = await service.list_instances(
            uow=self._uow(),
            caller=require_caller(),
            status=request.status,
            process_key=request.process_key,
            business_key=request.business_key,
            after=(cursor[0], cursor[1]) if cursor else None,
            limit=limit,
        )
        token = encode_cursor([rows[-1].started_at.isoformat(), rows[-1].id]) if len(rows) == limit else ""
        return process_pb2.ListProcessInstancesResponse(
            instances=[instance_row_to_proto(r) for r in rows], next_page_token=token
        )

    async def ListTasks(
        self, request: process_pb2.ListTasksRequest, context: ServicerContext
    ) -> process_pb2.ListTasksResponse:
        limit = page_size(request.page_size)
        cursor = decode_cursor(request.page_token, 3)
        rows = await service.list_tasks(
            uow=self._uow(),
            caller=require_caller(),
            view=request.view or "mine",
            after=(int(cursor[0]), str(cursor[1]), str(cursor[2])) if cursor else None,
            limit=limit,
        )
        token = (
            encode_cursor([rows[-1].priority, rows[-1].created_at.isoformat(), rows[-1].id])
            if len(rows) == limit
            else ""
        )
        return process_pb2.ListTasksResponse(tasks=[task_to_proto(t) for t in rows], next_page_token=token)

    async def GetTask(
        self, request: process_pb2.GetTaskRequest, context: ServicerContext
    ) -> process_pb2.GetTaskResponse:
        task = await service.get_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return process_pb2.GetTaskResponse(task=task_to_proto(task))

    async def ClaimTask(
        self, request: process_pb2.ClaimTaskRequest, context: ServicerContext
    ) -> process_pb2.ClaimTaskResponse:
        task = await service.claim_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return process_pb2.ClaimTaskResponse(task=task_to_proto(task))

    async def ReleaseTask(
        self, request: process_pb2.ReleaseTaskRequest, context: ServicerContext
    ) -> process_pb2.ReleaseTaskResponse:
        task = await service.release_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return process_pb2.ReleaseTaskResponse(task=task_to_proto(task))

    async def CompleteTask(
        self, request: process_pb2.CompleteTaskRequest, context: ServicerContext
    ) -> process_pb2.CompleteTaskResponse:
        task = await service.complete_task(
            uow=self._uow(),
            specs_cache=self._specs,
            caller=require_caller(),
            task_id=request.task_id,
            decision=request.decision,
            comment=request.comment,
            transfer_to=request.transfer_to,
            data_json=request.data_json,
        )
        return process_pb2.CompleteTaskResponse(task=task_to_proto(task))

    async def ListIncidents(
        self, request: process_pb2.ListIncidentsRequest, context: ServicerContext
    ) -> process_pb2.ListIncidentsResponse:
        limit = page_size(request.page_size)
        cursor = decode_cursor(request.page_token, 2)
        rows = await service.list_incidents(
            uow=self._uow(),
            caller=require_caller(),
            status=request.status,
            instance_id=request.instance_id,
            after=(cursor[0], cursor[1]) if cursor else None,
            limit=limit,
        )
        token = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id]) if len(rows) == limit else ""
        return process_pb2.ListIncidentsResponse(incidents=[incident_to_proto(r) for r in rows], next_page_token=token)

    async def RetryIncident(
        self, request: process_pb2.RetryIncidentRequest, context: ServicerContext
    ) -> process_pb2.RetryIncidentResponse:
        row = await service.retry_incident(
            uow=self._uow(), specs_cache=self._specs, caller=require_caller(), incident_id=request.incident_id
        )
        return process_pb2.RetryIncidentResponse(incident=incident_to_proto(row))

    async def GetNodeDurations(
        self, request: process_pb2.GetNodeDurationsRequest, context: ServicerContext
    ) -> process_pb2.GetNodeDurationsResponse:
        rows = await service.node_durations(uow=self._uow(), caller=require_caller(), process_key=request.process_key)
        return process_pb2.GetNodeDurationsResponse(
            nodes=[
                process_pb2.NodeDuration(node_id=n, title=t, count=c, mean_seconds=m, p50_seconds=p50, p90_seconds=p90)
                for n, t, c, m, p50, p90 in rows
            ]
        )


def report_to_proto(report: ModelReport) -> process_pb2.ValidateProcessModelResponse:
    return process_pb2.ValidateProcessModelResponse(
        valid=report.valid,
        problems=[
            process_pb2.ModelProblem(file=p.file, element_id=p.element_id, reason=p.reason) for p in report.problems
        ],
        process_ids=list(report.process_ids),
        decision_ids=list(report.decision_ids),
    )


def version_to_proto(row: ProcessVersionRow, names: list[str] | None = None) -> process_pb2.ProcessVersion:
    return process_pb2.ProcessVersion(
        id=row.id,
        process_key=row.process_key,
        version=row.version,
        content_hash=row.content_hash,
        process_ids=list(row.process_ids),
        decision_ids=list(row.decision_ids),
        deployed_by=row.deployed_by,
        deployed_at=to_timestamp(row.deployed_at),
        file_names=names or [],
    )


def task_to_proto(row: InboxTaskRow) -> process_pb2.InboxTask:
    task = process_pb2.InboxTask(
        id=row.id,
        instance_id=row.instance_id,
        process_key=row.process_key,
        node_id=row.node_id,
        title=row.title,
        candidate_role=row.candidate_role,
        branch_id=row.branch_id,
        assignee_id=row.assignee_id or "",
        priority=row.priority,
        business_key=row.business_key,
        status=row.status,
        created_at=to_timestamp(row.created_at),
        completed_by=row.completed_by or "",
        decision=row.decision,
        comment=row.comment,
    )
    if row.due_at is not None:
        task.due_at.CopyFrom(to_timestamp(row.due_at))
    if row.completed_at is not None:
        task.completed_at.CopyFrom(to_timestamp(row.completed_at))
    return task


def history_to_proto(row: HistoryRow) -> process_pb2.HistoryEntry:
    return process_pb2.HistoryEntry(
        task_id=row.task_id,
        node_id=row.node_id,
        action=row.action,
        actor_id=row.actor_id,
        decision=row.decision,
        comment=row.comment,
        at=to_timestamp(row.at),
    )


def instance_row_to_proto(row: ProcessInstanceRow) -> process_pb2.ProcessInstance:
    instance = process_pb2.ProcessInstance(
        id=row.id,
        process_key=row.process_key,
        version=row.version,
        business_key=row.business_key,
        status=row.status,
        active_nodes=list(row.active_nodes),
        initiator_id=row.initiator_id,
        branch_id=row.branch_id,
        cancel_reason=row.cancel_reason,
        started_at=to_timestamp(row.started_at),
    )
    if row.ended_at is not None:
        instance.ended_at.CopyFrom(to_timestamp(row.ended_at))
    return instance


def instance_to_proto(view: service.InstanceView) -> process_pb2.ProcessInstance:
    instance = instance_row_to_proto(view.row)
    instance.timers.extend(
        process_pb2.WaitingTimer(
            node_id=t.node_id, due_at=to_timestamp(t.due_at), attached_to=t.attached_to, interrupting=t.interrupting
        )
        for t in view.timers
    )
    instance.open_tasks.extend(task_to_proto(t) for t in view.open_tasks)
    instance.variables_json = json.dumps(view.variables, ensure_ascii=False, sort_keys=True)
    instance.history.extend(history_to_proto(h) for h in view.history)
    instance.waiting_messages.extend(view.waiting_messages)
    instance.tasks.extend(task_to_proto(t) for t in view.tasks)
    return instance


def incident_to_proto(row: IncidentRow) -> process_pb2.Incident:
    incident = process_pb2.Incident(
        id=row.id,
        instance_id=row.instance_id,
        node_id=row.node_id,
        kind=row.kind,
        error=row.error,
        attempts=[process_pb2.IncidentAttempt(at=a.get("at", ""), error=a.get("error", "")) for a in row.attempts],
        trace_id=row.trace_id,
        status=row.status,
        created_at=to_timestamp(row.created_at),
    )
    if row.resolved_at is not None:
        incident.resolved_at.CopyFrom(to_timestamp(row.resolved_at))
    return incident
