"""FieldTaskService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import fieldtask_pb2, fieldtask_pb2_grpc

from services.common.blobstore import BlobStore
from services.common.errors import InvalidArgument
from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.fieldtask import service
from services.fieldtask.domain.geo import CoordinateSystem
from services.fieldtask.domain.task import TaskStatus, TaskType
from services.fieldtask.models import CheckInRow, EvidenceRow, FieldTaskRow, SignatureRow, TaskHistoryRow

log = logging.getLogger(__name__)

_SYSTEM_FROM_PROTO = {
    fieldtask_pb2.COORDINATE_SYSTEM_UNSPECIFIED: CoordinateSystem.WGS84,
    fieldtask_pb2.COORDINATE_SYSTEM_WGS84: CoordinateSystem.WGS84,
    fieldtask_pb2.COORDINATE_SYSTEM_GCJ02: CoordinateSystem.GCJ02,
}
_SUBJECT_FROM_PROTO = {
    fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_UNSPECIFIED: "",
    fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_PARTY: "party",
    fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_APPLICATION: "application",
    fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_LOAN: "loan",
}
_SUBJECT_TO_PROTO = {v: k for k, v in _SUBJECT_FROM_PROTO.items()}
_SYNC_ACTIONS = {
    fieldtask_pb2.SYNC_ACTION_ACCEPT: "accept",
    fieldtask_pb2.SYNC_ACTION_CHECK_IN: "check_in",
    fieldtask_pb2.SYNC_ACTION_CHECK_OUT: "check_out",
    fieldtask_pb2.SYNC_ACTION_SAVE_FORM: "save_form",
    fieldtask_pb2.SYNC_ACTION_SUBMIT: "submit",
}
_OUTCOMES = {
    "": fieldtask_pb2.SYNC_OUTCOME_UNSPECIFIED,
    "applied": fieldtask_pb2.SYNC_OUTCOME_APPLIED,
    "duplicate": fieldtask_pb2.SYNC_OUTCOME_DUPLICATE,
    "conflict": fieldtask_pb2.SYNC_OUTCOME_CONFLICT,
    "rejected": fieldtask_pb2.SYNC_OUTCOME_REJECTED,
}


def _geo(point: fieldtask_pb2.GeoPoint) -> service.GeoInput:
    system = _SYSTEM_FROM_PROTO.get(point.coordinate_system)
    if system is None:
        raise InvalidArgument.for_field("coordinate_system", "must be WGS84 or GCJ02")
    return service.GeoInput(point.latitude, point.longitude, system, point.accuracy_m)


def _optional_time(message: object, name: str) -> datetime | None:
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=UTC)


class FieldTaskServicer(fieldtask_pb2_grpc.FieldTaskServiceServicer):
    def __init__(
        self,
        *,
        uow: Callable[[], service.FieldTaskUnitOfWork],
        config: service.FieldConfig | None = None,
        store: BlobStore | None = None,
        locator: service.PartyLocator | None = None,
    ) -> None:
        self._uow = uow
        self._config = config or service.FieldConfig()
        self._store = store
        self._locator = locator

    def _blobs(self) -> BlobStore:
        if self._store is None:
            raise RuntimeError("no blob store configured")
        return self._store

    async def CreateFieldTask(
        self, request: fieldtask_pb2.CreateFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.CreateFieldTaskResponse:
        subject = _SUBJECT_FROM_PROTO.get(request.subject_type)
        if subject is None:
            raise InvalidArgument.for_field("subject_type", "must be party, application or loan")
        task = await service.create_field_task(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewFieldTask(
                # Unspecified or unknown enum numbers map to None; the domain names the field.
                task_type=service.TYPE_FROM_PROTO.get(request.task_type),
                due_at=request.due_at.ToDatetime(tzinfo=UTC) if request.HasField("due_at") else None,
                party_id=request.party_id,
                assignee_id=request.assignee_id,
                branch_id=request.branch_id,
                priority=request.priority,
                origin=request.origin,
                title=request.title,
                subject_type=subject,
                subject_id=request.subject_id,
                business_key=request.business_key,
                process_instance_id=request.process_instance_id,
                location=_geo(request.location) if request.HasField("location") else None,
                address=request.address,
            ),
            locator=self._locator,
        )
        return fieldtask_pb2.CreateFieldTaskResponse(task=task_to_proto(task))

    async def UpdateFieldTaskLocation(
        self, request: fieldtask_pb2.UpdateFieldTaskLocationRequest, context: ServicerContext
    ) -> fieldtask_pb2.UpdateFieldTaskLocationResponse:
        task = await service.update_field_task_location(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            location=_geo(request.location) if request.HasField("location") else None,
            address=request.address,
        )
        return fieldtask_pb2.UpdateFieldTaskLocationResponse(task=task_to_proto(task))

    async def GetFieldTask(
        self, request: fieldtask_pb2.GetFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.GetFieldTaskResponse:
        detail = await service.get_field_task_detail(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return fieldtask_pb2.GetFieldTaskResponse(
            task=task_to_proto(detail.task),
            history=[history_to_proto(h) for h in detail.history],
            check_ins=[check_in_to_proto(c) for c in detail.check_ins],
            evidence=[evidence_to_proto(e) for e in detail.evidence],
            signatures=[signature_to_proto(s, valid) for s, valid in detail.signatures],
            form_json=service.form_json_of(detail.task),
        )

    async def ListFieldTasks(
        self, request: fieldtask_pb2.ListFieldTasksRequest, context: ServicerContext
    ) -> fieldtask_pb2.ListFieldTasksResponse:
        statuses = []
        for value in request.statuses:
            status = service.STATUS_FROM_PROTO.get(value)
            if status is None:
                raise InvalidArgument.for_field("statuses", "holds an unknown status")
            statuses.append(status)
        rows, token = await service.list_field_tasks(
            uow=self._uow(),
            caller=require_caller(),
            view=request.view,
            statuses=statuses,
            assignee_id=request.assignee_id,
            business_key=request.business_key,
            party_id=request.party_id,
            size=request.page_size,
            token=request.page_token,
        )
        return fieldtask_pb2.ListFieldTasksResponse(tasks=[task_to_proto(t) for t in rows], next_page_token=token)

    async def AssignFieldTask(
        self, request: fieldtask_pb2.AssignFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.AssignFieldTaskResponse:
        task = await service.assign_field_task(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            assignee_id=request.assignee_id,
            reason=request.reason,
        )
        return fieldtask_pb2.AssignFieldTaskResponse(task=task_to_proto(task))

    async def AcceptFieldTask(
        self, request: fieldtask_pb2.AcceptFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.AcceptFieldTaskResponse:
        task = await service.accept_field_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return fieldtask_pb2.AcceptFieldTaskResponse(task=task_to_proto(task))

    async def CancelFieldTask(
        self, request: fieldtask_pb2.CancelFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.CancelFieldTaskResponse:
        task = await service.cancel_field_task(
            uow=self._uow(), caller=require_caller(), task_id=request.task_id, reason=request.reason
        )
        return fieldtask_pb2.CancelFieldTaskResponse(task=task_to_proto(task))

    async def RecordCheckIn(
        self, request: fieldtask_pb2.RecordCheckInRequest, context: ServicerContext
    ) -> fieldtask_pb2.RecordCheckInResponse:
        row, task = await service.record_check(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            kind="in",
            position=_geo(request.position) if request.HasField("position") else None,
            device_id=request.device_id,
            client_time=_optional_time(request, "client_time"),
            config=self._config,
        )
        return fieldtask_pb2.RecordCheckInResponse(check_in=check_in_to_proto(row), task=task_to_proto(task))

    async def RecordCheckOut(
        self, request: fieldtask_pb2.RecordCheckOutRequest, context: ServicerContext
    ) -> fieldtask_pb2.RecordCheckOutResponse:
        row, _ = await service.record_check(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            kind="out",
            position=_geo(request.position) if request.HasField("position") else None,
            device_id=request.device_id,
            client_time=_optional_time(request, "client_time"),
            config=self._config,
        )
        return fieldtask_pb2.RecordCheckOutResponse(check_out=check_in_to_proto(row))

    async def GetFormSchema(
        self, request: fieldtask_pb2.GetFormSchemaRequest, context: ServicerContext
    ) -> fieldtask_pb2.GetFormSchemaResponse:
        task_type, version, schema, required = service.form_schema(
            service.TYPE_FROM_PROTO.get(request.task_type), request.version
        )
        return fieldtask_pb2.GetFormSchemaResponse(
            task_type=service.TYPE_TO_PROTO[task_type],
            version=version,
            schema_json=json.dumps(schema, ensure_ascii=False, sort_keys=True),
            required_evidence=required,
        )

    async def SaveFieldTaskForm(
        self, request: fieldtask_pb2.SaveFieldTaskFormRequest, context: ServicerContext
    ) -> fieldtask_pb2.SaveFieldTaskFormResponse:
        task, problems = await service.save_form(
            uow=self._uow(), caller=require_caller(), task_id=request.task_id, form_json=request.form_json
        )
        return fieldtask_pb2.SaveFieldTaskFormResponse(
            task=task_to_proto(task),
            problems=[fieldtask_pb2.FormProblem(field=p.field, message=p.description) for p in problems],
            content_hash=service.forms.content_hash(task.form_data or {}),
        )

    async def UploadEvidence(
        self,
        request_iterator: AsyncIterator[fieldtask_pb2.UploadEvidenceRequest],
        context: ServicerContext,
    ) -> fieldtask_pb2.UploadEvidenceResponse:
        row = await self._upload(request_iterator)
        return fieldtask_pb2.UploadEvidenceResponse(evidence=evidence_to_proto(row))

    async def _upload(self, request_iterator: AsyncIterator[fieldtask_pb2.UploadEvidenceRequest]) -> EvidenceRow:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument.for_field("header", "must be the first message of the upload")
        h = first.header

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument.for_field("header", "may be sent only once")
                yield message.chunk

        return await service.upload_evidence(
            uow_factory=self._uow,
            caller=require_caller(),
            header=service.EvidenceHeader(
                task_id=h.task_id,
                kind=h.kind,
                file_name=h.file_name,
                captured_at=_optional_time(h, "captured_at"),
                position=_geo(h.position) if h.HasField("position") else None,
                device_id=h.device_id,
            ),
            chunks=chunks(),
            store=self._blobs(),
            max_bytes=self._config.evidence_max_bytes,
        )

    async def DownloadEvidence(
        self, request: fieldtask_pb2.DownloadEvidenceRequest, context: ServicerContext
    ) -> AsyncIterator[fieldtask_pb2.DownloadEvidenceResponse]:
        store = self._blobs()
        row = await service.open_evidence(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            evidence_id=request.evidence_id,
            store=store,
        )
        yield fieldtask_pb2.DownloadEvidenceResponse(evidence=evidence_to_proto(row))
        async for chunk in store.stream(row.sha256):
            yield fieldtask_pb2.DownloadEvidenceResponse(chunk=chunk)

    async def RecordExternalSignature(
        self, request: fieldtask_pb2.RecordExternalSignatureRequest, context: ServicerContext
    ) -> fieldtask_pb2.RecordExternalSignatureResponse:
        row, created = await service.record_external_signature(
            uow_factory=self._uow,
            caller=require_caller(),
            signature=service.ExternalSignature(
                task_id=request.task_id,
                provider=request.provider,
                external_ref=request.external_ref,
                signer_name=request.signer_name,
                signer_party_id=request.signer_party_id,
                signed_at=_optional_time(request, "signed_at"),
                content_hash=request.content_hash,
                image=request.image,
                document_ref=request.document_ref,
            ),
            store=self._blobs(),
        )
        return fieldtask_pb2.RecordExternalSignatureResponse(signature=signature_to_proto(row, True), created=created)

    async def CaptureSignature(
        self, request: fieldtask_pb2.CaptureSignatureRequest, context: ServicerContext
    ) -> fieldtask_pb2.CaptureSignatureResponse:
        row = await service.capture_signature(
            uow=self._uow(),
            caller=require_caller(),
            task_id=request.task_id,
            signer_name=request.signer_name,
            signer_party_id=request.signer_party_id,
            image=request.image,
            position=_geo(request.position) if request.HasField("position") else None,
            signed_at=_optional_time(request, "signed_at"),
            shown_hash=request.content_hash,
            store=self._blobs(),
        )
        return fieldtask_pb2.CaptureSignatureResponse(signature=signature_to_proto(row, True))

    async def VerifyFieldTaskSignature(
        self, request: fieldtask_pb2.VerifyFieldTaskSignatureRequest, context: ServicerContext
    ) -> fieldtask_pb2.VerifyFieldTaskSignatureResponse:
        signature, check = await service.verify_signature(
            uow=self._uow(), caller=require_caller(), task_id=request.task_id
        )
        if signature is None or check is None:
            return fieldtask_pb2.VerifyFieldTaskSignatureResponse(signed=False)
        return fieldtask_pb2.VerifyFieldTaskSignatureResponse(
            signed=True, valid=check.valid, signed_hash=check.signed_hash, current_hash=check.current_hash
        )

    async def SubmitFieldTask(
        self, request: fieldtask_pb2.SubmitFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.SubmitFieldTaskResponse:
        task = await service.submit_field_task(uow=self._uow(), caller=require_caller(), task_id=request.task_id)
        return fieldtask_pb2.SubmitFieldTaskResponse(task=task_to_proto(task))

    async def CompleteFieldTask(
        self, request: fieldtask_pb2.CompleteFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.CompleteFieldTaskResponse:
        task = await service.complete_field_task(
            uow=self._uow(), caller=require_caller(), task_id=request.task_id, comment=request.comment
        )
        return fieldtask_pb2.CompleteFieldTaskResponse(task=task_to_proto(task))

    async def ReturnFieldTask(
        self, request: fieldtask_pb2.ReturnFieldTaskRequest, context: ServicerContext
    ) -> fieldtask_pb2.ReturnFieldTaskResponse:
        task = await service.return_field_task(
            uow=self._uow(), caller=require_caller(), task_id=request.task_id, reason=request.reason
        )
        return fieldtask_pb2.ReturnFieldTaskResponse(task=task_to_proto(task))

    async def SyncFieldActions(
        self, request: fieldtask_pb2.SyncFieldActionsRequest, context: ServicerContext
    ) -> fieldtask_pb2.SyncFieldActionsResponse:
        items = [
            service.SyncItem(
                client_id=item.client_id,
                action=_SYNC_ACTIONS.get(item.action, ""),
                task_id=item.task_id,
                client_time=_optional_time(item, "client_time"),
                position=_geo(item.position) if item.HasField("position") else None,
                device_id=item.device_id,
                form_json=item.form_json,
            )
            for item in request.items
        ]
        results = await service.sync_field_actions(
            uow_factory=self._uow, caller=require_caller(), batch_id=request.batch_id, items=items, config=self._config
        )
        return fieldtask_pb2.SyncFieldActionsResponse(
            results=[
                fieldtask_pb2.SyncItemResult(
                    client_id=r.client_id,
                    outcome=_OUTCOMES[r.outcome],
                    first_outcome=_OUTCOMES[r.first_outcome],
                    reason=r.reason,
                    message=r.message,
                    task_status=service.STATUS_TO_PROTO[TaskStatus(r.task_status)] if r.task_status else 0,
                )
                for r in results
            ]
        )

    async def RecordTrajectory(
        self, request: fieldtask_pb2.RecordTrajectoryRequest, context: ServicerContext
    ) -> fieldtask_pb2.RecordTrajectoryResponse:
        stats = await service.record_trajectory(
            uow=self._uow(),
            caller=require_caller(),
            points=[
                service.PingInput(
                    recorded_at=_optional_time(p, "recorded_at"),
                    position=_geo(p.position) if p.HasField("position") else None,
                )
                for p in request.points
            ],
            config=self._config,
        )
        return fieldtask_pb2.RecordTrajectoryResponse(
            accepted=stats.accepted, outside_working_hours=stats.outside_working_hours, duplicates=stats.duplicates
        )

    async def GetTrajectory(
        self, request: fieldtask_pb2.GetTrajectoryRequest, context: ServicerContext
    ) -> fieldtask_pb2.GetTrajectoryResponse:
        track = await service.get_trajectory(
            uow=self._uow(),
            caller=require_caller(),
            officer_id=request.officer_id,
            day=request.day,
            config=self._config,
        )
        return fieldtask_pb2.GetTrajectoryResponse(
            officer_id=track.officer_id,
            day=track.day.isoformat(),
            points=[
                fieldtask_pb2.TrackPoint(
                    recorded_at=to_timestamp(p.recorded_at),
                    latitude=p.latitude,
                    longitude=p.longitude,
                    accuracy_m=p.accuracy_m,
                )
                for p in track.points
            ],
            distance_m=track.distance_m,
            visits=[check_in_to_proto(c) for c in track.visits],
        )

    async def PlanRoute(
        self, request: fieldtask_pb2.PlanRouteRequest, context: ServicerContext
    ) -> fieldtask_pb2.PlanRouteResponse:
        planned = await service.plan_officer_route(
            uow=self._uow(),
            caller=require_caller(),
            officer_id=request.officer_id,
            day=request.day,
            start=_geo(request.start) if request.HasField("start") else None,
            config=self._config,
        )
        legs = []
        for leg in planned.route.legs:
            task = planned.tasks[leg.stop_id]
            legs.append(
                fieldtask_pb2.RouteLeg(
                    task_id=leg.stop_id,
                    distance_m=leg.distance_m,
                    cumulative_m=leg.cumulative_m,
                    urgent=leg.urgent,
                    latitude=task.latitude or 0.0,
                    longitude=task.longitude or 0.0,
                )
            )
        return fieldtask_pb2.PlanRouteResponse(
            legs=legs, total_distance_m=planned.route.total_m, unplaced_task_ids=planned.unplaced
        )


def _ts(value: datetime | None) -> Timestamp | None:
    return to_timestamp(value) if value is not None else None


def task_to_proto(task: FieldTaskRow) -> fieldtask_pb2.FieldTask:
    has_location = task.latitude is not None and task.longitude is not None
    return fieldtask_pb2.FieldTask(
        id=task.id,
        task_type=service.TYPE_TO_PROTO[TaskType(task.task_type)],
        status=service.STATUS_TO_PROTO[TaskStatus(task.status)],
        party_id=task.party_id,
        assignee_id=task.assignee_id,
        branch_id=task.branch_id,
        priority=task.priority,
        due_at=to_timestamp(task.due_at),
        origin=task.origin,
        created_at=to_timestamp(task.created_at),
        title=task.title or "",
        subject_type=_SUBJECT_TO_PROTO.get(task.subject_type or "", 0),
        subject_id=task.subject_id or "",
        business_key=task.business_key or "",
        process_instance_id=task.process_instance_id or "",
        has_location=has_location,
        latitude=task.latitude or 0.0,
        longitude=task.longitude or 0.0,
        location_source=task.location_source or "",
        address=task.address or "",
        form_version=task.form_version or 1,
        created_by=task.created_by or "",
        submitted_at=_ts(task.submitted_at),
        completed_at=_ts(task.completed_at),
        check_in_flagged=bool(task.check_in_flagged),
        location_pending=bool(task.location_pending),
    )


def history_to_proto(row: TaskHistoryRow) -> fieldtask_pb2.TaskHistoryEntry:
    return fieldtask_pb2.TaskHistoryEntry(
        action=row.action,
        from_status=service.STATUS_TO_PROTO[TaskStatus(row.from_status)] if row.from_status else 0,
        to_status=service.STATUS_TO_PROTO[TaskStatus(row.to_status)],
        actor_id=row.actor_id,
        assignee_id=row.assignee_id,
        reason=row.reason,
        at=to_timestamp(row.at),
    )


def check_in_to_proto(row: CheckInRow) -> fieldtask_pb2.CheckIn:
    return fieldtask_pb2.CheckIn(
        id=row.id,
        task_id=row.task_id,
        kind=row.kind,
        officer_id=row.officer_id,
        latitude=row.latitude,
        longitude=row.longitude,
        accuracy_m=row.accuracy_m,
        source_system=row.source_system,
        has_distance=row.distance_m is not None,
        distance_m=row.distance_m or 0.0,
        radius_m=row.radius_m,
        flagged=row.flagged,
        flag_reason=row.flag_reason,
        device_id=row.device_id,
        client_time=_ts(row.client_time),
        server_time=to_timestamp(row.server_time),
    )


def evidence_to_proto(row: EvidenceRow) -> fieldtask_pb2.Evidence:
    return fieldtask_pb2.Evidence(
        id=row.id,
        task_id=row.task_id,
        kind=row.kind,
        media_type=row.media_type,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        file_name=row.file_name,
        captured_at=_ts(row.captured_at),
        has_position=row.latitude is not None,
        latitude=row.latitude or 0.0,
        longitude=row.longitude or 0.0,
        device_id=row.device_id,
        uploaded_by=row.uploaded_by,
        uploaded_at=to_timestamp(row.uploaded_at),
    )


def signature_to_proto(row: SignatureRow, valid: bool) -> fieldtask_pb2.Signature:
    return fieldtask_pb2.Signature(
        id=row.id,
        task_id=row.task_id,
        signer_name=row.signer_name,
        signer_party_id=row.signer_party_id,
        image_sha256=row.image_sha256,
        content_hash=row.content_hash,
        provider=row.provider,
        external_ref="" if row.provider == service.DEVICE_PROVIDER else row.external_ref,
        document_ref=row.document_ref or "",
        has_position=row.latitude is not None,
        latitude=row.latitude or 0.0,
        longitude=row.longitude or 0.0,
        officer_id=row.officer_id,
        signed_at=to_timestamp(row.signed_at),
        valid=valid,
    )
