"""/api/v1/field-tasks: officers' visits (check-in, form, evidence, signature, submission).

Officers see and work their own tasks; supervisors and presidents see their branch's and
assign, complete, return or cancel them; admins and auditors see all. Evidence is uploaded as
``multipart/form-data`` (one part named ``file``) and streamed to the field task service,
which checks size and type by the content's magic bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import fieldtask_pb2
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call
from services.common.grpc_errors import from_rpc_error
from services.common.identity import acting_as
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/field-tasks", tags=["field-tasks"])

TaskType = Literal[
    "pre_loan_survey", "post_loan_check", "overdue_follow_up", "visit", "collateral_verification", "village_survey"
]
TaskStatus = Literal["new", "assigned", "accepted", "checked_in", "submitted", "done", "cancelled", "expired"]
CoordinateSystem = Literal["wgs84", "gcj02"]
SubjectType = Literal["", "party", "application", "loan"]

_TYPE_TO_PROTO: dict[str, int] = {
    "pre_loan_survey": fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
    "post_loan_check": fieldtask_pb2.FIELD_TASK_TYPE_POST_LOAN_CHECK,
    "overdue_follow_up": fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP,
    "visit": fieldtask_pb2.FIELD_TASK_TYPE_VISIT,
    "collateral_verification": fieldtask_pb2.FIELD_TASK_TYPE_COLLATERAL_VERIFICATION,
    "village_survey": fieldtask_pb2.FIELD_TASK_TYPE_VILLAGE_SURVEY,
}
_TYPE_FROM_PROTO = {v: k for k, v in _TYPE_TO_PROTO.items()}
_STATUS_TO_PROTO: dict[str, int] = {
    "new": fieldtask_pb2.FIELD_TASK_STATUS_NEW,
    "assigned": fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED,
    "accepted": fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED,
    "checked_in": fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN,
    "submitted": fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED,
    "done": fieldtask_pb2.FIELD_TASK_STATUS_DONE,
    "cancelled": fieldtask_pb2.FIELD_TASK_STATUS_CANCELLED,
    "expired": fieldtask_pb2.FIELD_TASK_STATUS_EXPIRED,
}
_STATUS_FROM_PROTO = {v: k for k, v in _STATUS_TO_PROTO.items()}
_SUBJECT_TO_PROTO: dict[str, int] = {
    "": fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_UNSPECIFIED,
    "party": fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_PARTY,
    "application": fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_APPLICATION,
    "loan": fieldtask_pb2.FIELD_TASK_SUBJECT_TYPE_LOAN,
}
_SUBJECT_FROM_PROTO = {v: k for k, v in _SUBJECT_TO_PROTO.items()}
_SYSTEM_TO_PROTO: dict[str, int] = {
    "wgs84": fieldtask_pb2.COORDINATE_SYSTEM_WGS84,
    "gcj02": fieldtask_pb2.COORDINATE_SYSTEM_GCJ02,
}
MANAGERS = ("supervisor", "president", "admin")
UPLOAD_CHUNK = 64 * 1024
UPLOAD_TIMEOUT_SECONDS = 120.0


class GeoPointIn(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    coordinate_system: CoordinateSystem = Field("wgs84", description="gcj02 for AMap/Gaode or Tencent map SDKs")
    accuracy_m: float = Field(0.0, ge=0)

    def to_proto(self) -> fieldtask_pb2.GeoPoint:
        return fieldtask_pb2.GeoPoint(
            latitude=self.latitude,
            longitude=self.longitude,
            coordinate_system=_SYSTEM_TO_PROTO[self.coordinate_system],  # type: ignore[arg-type]
            accuracy_m=self.accuracy_m,
        )


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "times must carry a time zone")
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _iso(message: Any, name: str) -> str | None:
    return from_timestamp(getattr(message, name)).isoformat() if message.HasField(name) else None


class FieldTaskCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_type": "visit",
                    "due_at": "2025-03-05T17:00:00+08:00",
                    "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "assignee_id": "e1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
                    "priority": 2,
                    "title": "走访王秀英家庭农场",
                    "subject_type": "party",
                    "subject_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "address": "浙江省金华市婺城区白龙桥镇临江村12号",
                }
            ]
        }
    )
    task_type: TaskType
    due_at: datetime
    party_id: str = Field("", max_length=80)
    assignee_id: str = Field("", max_length=80)
    branch_id: str = Field("", description="Defaults to the user's branch")
    priority: int = Field(0, ge=0, le=5, description="1 highest … 5 lowest; 0 means 3")
    origin: str = Field("", max_length=120)
    title: str = Field("", max_length=200)
    subject_type: SubjectType = ""
    subject_id: str = Field("", max_length=80)
    business_key: str = Field("", max_length=120)
    process_instance_id: str = Field("", max_length=80)
    location: GeoPointIn | None = None
    address: str = Field("", max_length=300)


class FieldTaskRead(BaseModel):
    id: str
    task_type: str
    status: str
    title: str
    party_id: str
    subject_type: str
    subject_id: str
    assignee_id: str
    branch_id: str
    priority: int
    due_at: str
    origin: str
    business_key: str
    process_instance_id: str
    location: dict[str, float] | None
    location_source: str
    address: str
    form_version: int
    created_by: str
    created_at: str
    submitted_at: str | None
    completed_at: str | None
    check_in_flagged: bool
    location_pending: bool = Field(
        False, description="No location yet: the party's address could not be located when the task was created"
    )

    @classmethod
    def from_proto(cls, t: fieldtask_pb2.FieldTask) -> FieldTaskRead:
        return cls(
            id=t.id,
            task_type=_TYPE_FROM_PROTO[t.task_type],
            status=_STATUS_FROM_PROTO[t.status],
            title=t.title,
            party_id=t.party_id,
            subject_type=_SUBJECT_FROM_PROTO.get(t.subject_type, ""),
            subject_id=t.subject_id,
            assignee_id=t.assignee_id,
            branch_id=t.branch_id,
            priority=t.priority,
            due_at=from_timestamp(t.due_at).isoformat(),
            origin=t.origin,
            business_key=t.business_key,
            process_instance_id=t.process_instance_id,
            location={"latitude": t.latitude, "longitude": t.longitude} if t.has_location else None,
            location_source=t.location_source,
            address=t.address,
            form_version=t.form_version,
            created_by=t.created_by,
            created_at=from_timestamp(t.created_at).isoformat(),
            submitted_at=_iso(t, "submitted_at"),
            completed_at=_iso(t, "completed_at"),
            check_in_flagged=t.check_in_flagged,
            location_pending=t.location_pending,
        )


class FieldTaskPage(BaseModel):
    items: list[FieldTaskRead]
    next_cursor: str | None


class CheckInRead(BaseModel):
    id: str
    kind: str
    officer_id: str
    latitude: float
    longitude: float
    accuracy_m: float
    source_system: str
    distance_m: float | None
    radius_m: float
    flagged: bool
    flag_reason: str
    device_id: str
    client_time: str | None
    server_time: str

    @classmethod
    def from_proto(cls, c: fieldtask_pb2.CheckIn) -> CheckInRead:
        return cls(
            id=c.id,
            kind=c.kind,
            officer_id=c.officer_id,
            latitude=c.latitude,
            longitude=c.longitude,
            accuracy_m=c.accuracy_m,
            source_system=c.source_system,
            distance_m=c.distance_m if c.has_distance else None,
            radius_m=c.radius_m,
            flagged=c.flagged,
            flag_reason=c.flag_reason,
            device_id=c.device_id,
            client_time=_iso(c, "client_time"),
            server_time=from_timestamp(c.server_time).isoformat(),
        )


class EvidenceRead(BaseModel):
    id: str
    kind: str
    media_type: str
    sha256: str
    size_bytes: int
    file_name: str
    captured_at: str | None
    position: dict[str, float] | None
    device_id: str
    uploaded_by: str
    uploaded_at: str

    @classmethod
    def from_proto(cls, e: fieldtask_pb2.Evidence) -> EvidenceRead:
        return cls(
            id=e.id,
            kind=e.kind,
            media_type=e.media_type,
            sha256=e.sha256,
            size_bytes=e.size_bytes,
            file_name=e.file_name,
            captured_at=_iso(e, "captured_at"),
            position={"latitude": e.latitude, "longitude": e.longitude} if e.has_position else None,
            device_id=e.device_id,
            uploaded_by=e.uploaded_by,
            uploaded_at=from_timestamp(e.uploaded_at).isoformat(),
        )


class SignatureRead(BaseModel):
    id: str
    signer_name: str
    signer_party_id: str
    image_sha256: str
    content_hash: str
    provider: str
    external_ref: str = ""
    document_ref: str = ""
    officer_id: str
    signed_at: str
    position: dict[str, float] | None
    valid: bool

    @classmethod
    def from_proto(cls, s: fieldtask_pb2.Signature) -> SignatureRead:
        return cls(
            id=s.id,
            signer_name=s.signer_name,
            signer_party_id=s.signer_party_id,
            image_sha256=s.image_sha256,
            content_hash=s.content_hash,
            provider=s.provider,
            external_ref=s.external_ref,
            document_ref=s.document_ref,
            officer_id=s.officer_id,
            signed_at=from_timestamp(s.signed_at).isoformat(),
            position={"latitude": s.latitude, "longitude": s.longitude} if s.has_position else None,
            valid=s.valid,
        )


class HistoryRead(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor_id: str
    assignee_id: str
    reason: str
    at: str


class FieldTaskDetail(FieldTaskRead):
    form: dict[str, Any] | None
    history: list[HistoryRead]
    check_ins: list[CheckInRead]
    evidence: list[EvidenceRead]
    signatures: list[SignatureRead]


class AssignBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"assignee_id": "e1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8", "reason": "张明请假，改派给同村客户经理"}
            ]
        }
    )
    assignee_id: str = Field(min_length=1, max_length=80)
    reason: str = Field("", max_length=500, description="Required when reassigning")


class ReasonBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "客户外出务工，暂无法走访"}]})
    reason: str = Field(min_length=1, max_length=500)


class CompleteBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"comment": "核实无误"}]})
    comment: str = Field("", max_length=500)


class CheckInBody(GeoPointIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "latitude": 29.0799,
                    "longitude": 119.6474,
                    "coordinate_system": "wgs84",
                    "accuracy_m": 8.0,
                    "device_id": "phone-1",
                    "client_time": "2025-03-01T09:20:00+08:00",
                }
            ]
        }
    )
    device_id: str = Field("", max_length=80)
    client_time: datetime | None = None


class FormBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "form": {
                        "family": {"members": 4, "labourers": 2, "dependants": 2},
                        "operations": {"business": "大棚蔬菜", "years": 6},
                        "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
                    }
                }
            ]
        }
    )
    form: dict[str, Any]


class FormProblemRead(BaseModel):
    field: str
    message: str


class FormSaved(BaseModel):
    task: FieldTaskRead
    content_hash: str
    problems: list[FormProblemRead]


class FormSchemaRead(BaseModel):
    task_type: str
    version: int
    json_schema: dict[str, Any]
    required_evidence: dict[str, int]


class SignatureCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "signer_name": "王秀英",
                    "signer_party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "image_base64": (
                        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
                        "2mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
                    ),
                    "position": {
                        "latitude": 29.0799,
                        "longitude": 119.6474,
                        "coordinate_system": "wgs84",
                        "accuracy_m": 8.0,
                    },
                    "signed_at": "2025-03-01T10:05:00+08:00",
                    "content_hash": "9f2b5c1e7d4a3b6c8e0f1a2d3c4b5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
                }
            ]
        }
    )
    signer_name: str = Field(min_length=1, max_length=100)
    signer_party_id: str = Field("", max_length=80)
    image_base64: str = Field(description="PNG or JPEG of the handwritten signature, base64")
    position: GeoPointIn | None = None
    signed_at: datetime | None = None
    content_hash: str = Field("", description="The form hash the signer was shown; refused if it differs")


class ExternalSignatureCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "provider": "esign",
                    "external_ref": "ES202503010001",
                    "signer_name": "王秀英",
                    "signer_party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "signed_at": "2025-03-01T10:05:00+08:00",
                    "content_hash": "9f2b5c1e7d4a3b6c8e0f1a2d3c4b5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
                }
            ]
        }
    )
    provider: str = Field(min_length=1, max_length=40, description="The e-signature provider's name")
    external_ref: str = Field(min_length=1, max_length=120, description="The provider's id of the signing")
    signer_name: str = Field(min_length=1, max_length=100)
    signer_party_id: str = Field("", max_length=80)
    signed_at: datetime
    content_hash: str = Field(description="SHA-256 of the form content the provider had signed")
    image_base64: str = Field("", description="Signature image (PNG or JPEG), base64, if the provider gives one")
    document_ref: str = Field("", max_length=300, description="The provider's reference to the signed document")


class ExternalSignatureRead(SignatureRead):
    created: bool


class LocationUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "location": {
                        "latitude": 29.0799,
                        "longitude": 119.6474,
                        "coordinate_system": "wgs84",
                        "accuracy_m": 8.0,
                    },
                    "address": "浙江省金华市婺城区白龙桥镇临江村12号",
                }
            ]
        }
    )
    location: GeoPointIn
    address: str = Field("", max_length=300)


class SignatureCheckRead(BaseModel):
    signed: bool
    valid: bool
    signed_hash: str
    current_hash: str


def _backend(request: Request) -> Any:
    return request.app.state.backend.fieldtask


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FieldTaskRead,
    dependencies=[Depends(RequireRoles("officer", "supervisor", "president", "admin"))],
)
async def create_field_task(body: FieldTaskCreate, request: Request, user: CurrentUser) -> FieldTaskRead:
    message = fieldtask_pb2.CreateFieldTaskRequest(
        task_type=_TYPE_TO_PROTO[body.task_type],  # type: ignore[arg-type]
        party_id=body.party_id,
        assignee_id=body.assignee_id,
        branch_id=body.branch_id,
        priority=body.priority,
        due_at=timestamp(body.due_at),
        origin=body.origin,
        title=body.title,
        subject_type=_SUBJECT_TO_PROTO[body.subject_type],  # type: ignore[arg-type]
        subject_id=body.subject_id,
        business_key=body.business_key,
        process_instance_id=body.process_instance_id,
        address=body.address,
    )
    if body.location is not None:
        message.location.CopyFrom(body.location.to_proto())
    reply = await call(_backend(request).CreateFieldTask, message, caller=user)
    return FieldTaskRead.from_proto(reply.task)


@router.get("", response_model=FieldTaskPage)
async def list_field_tasks(
    request: Request,
    user: CurrentUser,
    view: Literal["", "mine"] = "",
    status_: Annotated[list[TaskStatus] | None, Query(alias="status")] = None,
    assignee_id: str = "",
    business_key: str = "",
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> FieldTaskPage:
    reply = await call(
        _backend(request).ListFieldTasks,
        fieldtask_pb2.ListFieldTasksRequest(
            view=view,
            statuses=[_STATUS_TO_PROTO[s] for s in status_ or []],  # type: ignore[misc]
            assignee_id=assignee_id,
            business_key=business_key,
            page_size=limit,
            page_token=cursor,
        ),
        caller=user,
    )
    return FieldTaskPage(
        items=[FieldTaskRead.from_proto(t) for t in reply.tasks], next_cursor=reply.next_page_token or None
    )


@router.get("/form-schemas/{task_type}", response_model=FormSchemaRead)
async def get_form_schema(task_type: TaskType, request: Request, user: CurrentUser, version: int = 0) -> FormSchemaRead:
    reply = await call(
        _backend(request).GetFormSchema,
        fieldtask_pb2.GetFormSchemaRequest(task_type=_TYPE_TO_PROTO[task_type], version=version),  # type: ignore[arg-type]
        caller=user,
    )
    return FormSchemaRead(
        task_type=task_type,
        version=reply.version,
        json_schema=json.loads(reply.schema_json),
        required_evidence=dict(reply.required_evidence),
    )


@router.get("/{task_id}", response_model=FieldTaskDetail)
async def get_field_task(task_id: str, request: Request, user: CurrentUser) -> FieldTaskDetail:
    reply = await call(_backend(request).GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=task_id), caller=user)
    base = FieldTaskRead.from_proto(reply.task).model_dump()
    return FieldTaskDetail(
        **base,
        form=json.loads(reply.form_json) if reply.form_json else None,
        history=[
            HistoryRead(
                action=h.action,
                from_status=_STATUS_FROM_PROTO.get(h.from_status),
                to_status=_STATUS_FROM_PROTO[h.to_status],
                actor_id=h.actor_id,
                assignee_id=h.assignee_id,
                reason=h.reason,
                at=from_timestamp(h.at).isoformat(),
            )
            for h in reply.history
        ],
        check_ins=[CheckInRead.from_proto(c) for c in reply.check_ins],
        evidence=[EvidenceRead.from_proto(e) for e in reply.evidence],
        signatures=[SignatureRead.from_proto(s) for s in reply.signatures],
    )


@router.post("/{task_id}/assign", response_model=FieldTaskRead, dependencies=[Depends(RequireRoles(*MANAGERS))])
async def assign_field_task(task_id: str, body: AssignBody, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).AssignFieldTask,
        fieldtask_pb2.AssignFieldTaskRequest(task_id=task_id, assignee_id=body.assignee_id, reason=body.reason),
        caller=user,
    )
    return FieldTaskRead.from_proto(reply.task)


@router.post("/{task_id}/accept", response_model=FieldTaskRead)
async def accept_field_task(task_id: str, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).AcceptFieldTask, fieldtask_pb2.AcceptFieldTaskRequest(task_id=task_id), caller=user
    )
    return FieldTaskRead.from_proto(reply.task)


@router.post("/{task_id}/cancel", response_model=FieldTaskRead, dependencies=[Depends(RequireRoles(*MANAGERS))])
async def cancel_field_task(task_id: str, body: ReasonBody, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).CancelFieldTask,
        fieldtask_pb2.CancelFieldTaskRequest(task_id=task_id, reason=body.reason),
        caller=user,
    )
    return FieldTaskRead.from_proto(reply.task)


@router.post("/{task_id}/check-in", status_code=status.HTTP_201_CREATED, response_model=CheckInRead)
async def check_in(task_id: str, body: CheckInBody, request: Request, user: CurrentUser) -> CheckInRead:
    reply = await call(
        _backend(request).RecordCheckIn,
        fieldtask_pb2.RecordCheckInRequest(
            task_id=task_id,
            position=body.to_proto(),
            device_id=body.device_id,
            client_time=timestamp(body.client_time),
        ),
        caller=user,
    )
    return CheckInRead.from_proto(reply.check_in)


@router.post("/{task_id}/check-out", status_code=status.HTTP_201_CREATED, response_model=CheckInRead)
async def check_out(task_id: str, body: CheckInBody, request: Request, user: CurrentUser) -> CheckInRead:
    reply = await call(
        _backend(request).RecordCheckOut,
        fieldtask_pb2.RecordCheckOutRequest(
            task_id=task_id,
            position=body.to_proto(),
            device_id=body.device_id,
            client_time=timestamp(body.client_time),
        ),
        caller=user,
    )
    return CheckInRead.from_proto(reply.check_out)


@router.put("/{task_id}/form", response_model=FormSaved)
async def save_form(task_id: str, body: FormBody, request: Request, user: CurrentUser) -> FormSaved:
    reply = await call(
        _backend(request).SaveFieldTaskForm,
        fieldtask_pb2.SaveFieldTaskFormRequest(task_id=task_id, form_json=json.dumps(body.form, ensure_ascii=False)),
        caller=user,
    )
    return FormSaved(
        task=FieldTaskRead.from_proto(reply.task),
        content_hash=reply.content_hash,
        problems=[FormProblemRead(field=p.field, message=p.message) for p in reply.problems],
    )


class _FilePart:
    """Feeds a multipart body through a push parser and collects the bytes of the ``file`` part."""

    def __init__(self, boundary: bytes) -> None:
        self.pending: list[bytes] = []
        self.file_name = ""
        self.files = 0
        self._in_file = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._field,
                "on_header_value": self._value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._in_file = options.get(b"name") == b"file"
        if self._in_file:
            self.files += 1
            self.file_name = options.get(b"filename", b"").decode("utf-8", "replace")[:200]

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and self.files == 1:
            self.pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        self._in_file = False


@router.post("/{task_id}/evidence", status_code=status.HTTP_201_CREATED, response_model=EvidenceRead)
async def upload_evidence(
    task_id: str,
    request: Request,
    user: CurrentUser,
    kind: Literal["photo", "audio", "document"] = Query(description="What the file is; checked against its content"),
    captured_at: datetime | None = None,
    latitude: float | None = Query(None, ge=-90, le=90),
    longitude: float | None = Query(None, ge=-180, le=180),
    coordinate_system: CoordinateSystem = "wgs84",
    accuracy_m: float = Query(0.0, ge=0),
    device_id: str = Query("", max_length=80),
) -> EvidenceRead:
    """Upload one file as ``multipart/form-data`` with a part named ``file``; streamed, never buffered whole."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send multipart/form-data with a part named file")
    parts = _FilePart(boundary)
    header = fieldtask_pb2.EvidenceHeader(task_id=task_id, kind=kind, device_id=device_id)
    if captured_at is not None:
        header.captured_at.CopyFrom(timestamp(captured_at))
    if latitude is not None and longitude is not None:
        header.position.CopyFrom(
            GeoPointIn(
                latitude=latitude, longitude=longitude, coordinate_system=coordinate_system, accuracy_m=accuracy_m
            ).to_proto()
        )

    async def messages() -> AsyncIterator[fieldtask_pb2.UploadEvidenceRequest]:
        sent_header = False
        async for body_chunk in request.stream():
            parts.parser.write(body_chunk)
            if not sent_header and parts.files:
                header.file_name = parts.file_name
                sent_header = True
                yield fieldtask_pb2.UploadEvidenceRequest(header=header)
            while parts.pending:
                data = parts.pending.pop(0)
                for offset in range(0, len(data), UPLOAD_CHUNK):
                    yield fieldtask_pb2.UploadEvidenceRequest(chunk=data[offset : offset + UPLOAD_CHUNK])
        parts.parser.finalize()
        if not sent_header:
            yield fieldtask_pb2.UploadEvidenceRequest(header=header)

    reply = await call(
        lambda stream: _backend(request).UploadEvidence(stream, timeout=UPLOAD_TIMEOUT_SECONDS), messages(), caller=user
    )
    return EvidenceRead.from_proto(reply.evidence)


@router.post("/{task_id}/signature", status_code=status.HTTP_201_CREATED, response_model=SignatureRead)
async def capture_signature(task_id: str, body: SignatureCreate, request: Request, user: CurrentUser) -> SignatureRead:
    try:
        image = base64.b64decode(body.image_base64, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "image_base64 is not base64") from None
    message = fieldtask_pb2.CaptureSignatureRequest(
        task_id=task_id,
        signer_name=body.signer_name,
        signer_party_id=body.signer_party_id,
        image=image,
        signed_at=timestamp(body.signed_at),
        content_hash=body.content_hash,
    )
    if body.position is not None:
        message.position.CopyFrom(body.position.to_proto())
    reply = await call(_backend(request).CaptureSignature, message, caller=user)
    return SignatureRead.from_proto(reply.signature)


@router.post("/{task_id}/external-signatures", response_model=ExternalSignatureRead)
async def record_external_signature(
    task_id: str, body: ExternalSignatureCreate, request: Request, user: CurrentUser, response: Response
) -> ExternalSignatureRead:
    """A signing done at an external e-signature provider; 201 when new, 200 when already recorded."""
    try:
        image = base64.b64decode(body.image_base64, validate=True) if body.image_base64 else b""
    except (binascii.Error, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "image_base64 is not base64") from None
    reply = await call(
        _backend(request).RecordExternalSignature,
        fieldtask_pb2.RecordExternalSignatureRequest(
            task_id=task_id,
            provider=body.provider,
            external_ref=body.external_ref,
            signer_name=body.signer_name,
            signer_party_id=body.signer_party_id,
            signed_at=timestamp(body.signed_at),
            content_hash=body.content_hash,
            image=image,
            document_ref=body.document_ref,
        ),
        caller=user,
    )
    response.status_code = status.HTTP_201_CREATED if reply.created else status.HTTP_200_OK
    return ExternalSignatureRead(**SignatureRead.from_proto(reply.signature).model_dump(), created=reply.created)


@router.put("/{task_id}/location", response_model=FieldTaskRead)
async def update_location(task_id: str, body: LocationUpdate, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).UpdateFieldTaskLocation,
        fieldtask_pb2.UpdateFieldTaskLocationRequest(
            task_id=task_id, location=body.location.to_proto(), address=body.address
        ),
        caller=user,
    )
    return FieldTaskRead.from_proto(reply.task)


@router.get(
    "/{task_id}/evidence/{evidence_id}",
    response_class=StreamingResponse,
    responses={200: {"description": "The stored bytes, with the stored media type"}},
)
async def download_evidence(task_id: str, evidence_id: str, request: Request, user: CurrentUser) -> StreamingResponse:
    """The stored file, streamed; only the task's officer and the branch's managers (audited)."""
    with acting_as(user):
        stream = _backend(request).DownloadEvidence(
            fieldtask_pb2.DownloadEvidenceRequest(task_id=task_id, evidence_id=evidence_id),
            timeout=UPLOAD_TIMEOUT_SECONDS,
        )
    try:
        first = await stream.read()
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from None
    if first is grpc.aio.EOF or first.WhichOneof("part") != "evidence":
        stream.cancel()
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the field task service sent no file description")
    evidence = first.evidence

    async def body() -> AsyncIterator[bytes]:
        try:
            while (message := await stream.read()) is not grpc.aio.EOF:
                yield message.chunk
        finally:
            stream.cancel()

    name = evidence.file_name or f"{evidence.kind}-{evidence.id}"
    return StreamingResponse(
        body(),
        media_type=evidence.media_type,
        headers={
            "Content-Length": str(evidence.size_bytes),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "ETag": f'"{evidence.sha256}"',
            "X-Content-SHA256": evidence.sha256,
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/{task_id}/signature/verification", response_model=SignatureCheckRead)
async def verify_signature(task_id: str, request: Request, user: CurrentUser) -> SignatureCheckRead:
    reply = await call(
        _backend(request).VerifyFieldTaskSignature,
        fieldtask_pb2.VerifyFieldTaskSignatureRequest(task_id=task_id),
        caller=user,
    )
    return SignatureCheckRead(
        signed=reply.signed, valid=reply.valid, signed_hash=reply.signed_hash, current_hash=reply.current_hash
    )


@router.post("/{task_id}/submit", response_model=FieldTaskRead)
async def submit_field_task(task_id: str, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).SubmitFieldTask, fieldtask_pb2.SubmitFieldTaskRequest(task_id=task_id), caller=user
    )
    return FieldTaskRead.from_proto(reply.task)


@router.post("/{task_id}/complete", response_model=FieldTaskRead, dependencies=[Depends(RequireRoles(*MANAGERS))])
async def complete_field_task(
    task_id: str, request: Request, user: CurrentUser, body: CompleteBody | None = None
) -> FieldTaskRead:
    reply = await call(
        _backend(request).CompleteFieldTask,
        fieldtask_pb2.CompleteFieldTaskRequest(task_id=task_id, comment=body.comment if body else ""),
        caller=user,
    )
    return FieldTaskRead.from_proto(reply.task)


@router.post("/{task_id}/return", response_model=FieldTaskRead, dependencies=[Depends(RequireRoles(*MANAGERS))])
async def return_field_task(task_id: str, body: ReasonBody, request: Request, user: CurrentUser) -> FieldTaskRead:
    reply = await call(
        _backend(request).ReturnFieldTask,
        fieldtask_pb2.ReturnFieldTaskRequest(task_id=task_id, reason=body.reason),
        caller=user,
    )
    return FieldTaskRead.from_proto(reply.task)
