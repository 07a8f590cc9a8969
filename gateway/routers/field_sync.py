"""/api/v1/field-sync, /api/v1/field-trajectories, /api/v1/field-routes: the officer's app offline and on the move."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from granary.v1 import fieldtask_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser
from gateway.routers import field_tasks
from gateway.routers.field_tasks import CheckInRead, GeoPointIn, timestamp
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(tags=["field-sync"])

SyncAction = Literal["accept", "check_in", "check_out", "save_form", "submit"]
_ACTIONS: dict[str, int] = {
    "accept": fieldtask_pb2.SYNC_ACTION_ACCEPT,
    "check_in": fieldtask_pb2.SYNC_ACTION_CHECK_IN,
    "check_out": fieldtask_pb2.SYNC_ACTION_CHECK_OUT,
    "save_form": fieldtask_pb2.SYNC_ACTION_SAVE_FORM,
    "submit": fieldtask_pb2.SYNC_ACTION_SUBMIT,
}
_OUTCOMES = {
    fieldtask_pb2.SYNC_OUTCOME_UNSPECIFIED: None,
    fieldtask_pb2.SYNC_OUTCOME_APPLIED: "applied",
    fieldtask_pb2.SYNC_OUTCOME_DUPLICATE: "duplicate",
    fieldtask_pb2.SYNC_OUTCOME_CONFLICT: "conflict",
    fieldtask_pb2.SYNC_OUTCOME_REJECTED: "rejected",
}
_STATUS = {
    fieldtask_pb2.FIELD_TASK_STATUS_UNSPECIFIED: None,
    fieldtask_pb2.FIELD_TASK_STATUS_NEW: "new",
    fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED: "assigned",
    fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED: "accepted",
    fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN: "checked_in",
    fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED: "submitted",
    fieldtask_pb2.FIELD_TASK_STATUS_DONE: "done",
    fieldtask_pb2.FIELD_TASK_STATUS_CANCELLED: "cancelled",
    fieldtask_pb2.FIELD_TASK_STATUS_EXPIRED: "expired",
}


class SyncItemIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=80, description="Generated on the device; unique per officer")
    action: SyncAction
    task_id: str = Field(max_length=36)
    client_time: datetime | None = None
    position: GeoPointIn | None = None
    device_id: str = Field("", max_length=80)
    form: dict[str, Any] | None = None


class SyncBatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "phone-1-20250301-001",
                    "items": [
                        {
                            "client_id": "phone-1-0001",
                            "action": "check_in",
                            "task_id": "8c7b6a59-4837-4261-9504-f3e2d1c0b9a8",
                            "client_time": "2025-03-01T09:20:00+08:00",
                            "position": {
                                "latitude": 29.0799,
                                "longitude": 119.6474,
                                "coordinate_system": "wgs84",
                                "accuracy_m": 8.0,
                            },
                            "device_id": "phone-1",
                        },
                        {
                            "client_id": "phone-1-0002",
                            "action": "save_form",
                            "task_id": "8c7b6a59-4837-4261-9504-f3e2d1c0b9a8",
                            "client_time": "2025-03-01T09:40:00+08:00",
                            "device_id": "phone-1",
                            "form": {"family": {"members": 4, "labourers": 2, "dependants": 2}},
                        },
                    ],
                }
            ]
        }
    )
    batch_id: str = Field("", max_length=80)
    items: list[SyncItemIn] = Field(max_length=500)


class SyncItemResultRead(BaseModel):
    client_id: str
    outcome: str
    first_outcome: str | None
    reason: str
    message: str
    task_status: str | None


class SyncBatchResult(BaseModel):
    results: list[SyncItemResultRead]


@router.post("/field-sync", response_model=SyncBatchResult)
async def sync_field_actions(body: SyncBatch, request: Request, user: CurrentUser) -> SyncBatchResult:
    items = []
    for item in body.items:
        message = fieldtask_pb2.SyncItem(
            client_id=item.client_id,
            action=_ACTIONS[item.action],  # type: ignore[arg-type]
            task_id=item.task_id,
            client_time=timestamp(item.client_time),
            device_id=item.device_id,
            form_json=json.dumps(item.form, ensure_ascii=False) if item.form is not None else "",
        )
        if item.position is not None:
            message.position.CopyFrom(item.position.to_proto())
        items.append(message)
    reply = await call(
        request.app.state.backend.fieldtask.SyncFieldActions,
        fieldtask_pb2.SyncFieldActionsRequest(batch_id=body.batch_id, items=items),
        caller=user,
    )
    return SyncBatchResult(
        results=[
            SyncItemResultRead(
                client_id=r.client_id,
                outcome=_OUTCOMES[r.outcome] or "",
                first_outcome=_OUTCOMES[r.first_outcome],
                reason=r.reason,
                message=r.message,
                task_status=_STATUS[r.task_status],
            )
            for r in reply.results
        ]
    )


class PingIn(GeoPointIn):
    recorded_at: datetime


class PingBatch(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "points": [
                        {
                            "latitude": 29.0799,
                            "longitude": 119.6474,
                            "coordinate_system": "wgs84",
                            "accuracy_m": 8.0,
                            "recorded_at": "2025-03-01T09:15:00+08:00",
                        },
                        {
                            "latitude": 29.0812,
                            "longitude": 119.6474,
                            "coordinate_system": "wgs84",
                            "accuracy_m": 8.0,
                            "recorded_at": "2025-03-01T09:16:00+08:00",
                        },
                    ]
                }
            ]
        }
    )
    points: list[PingIn] = Field(max_length=2000)


class PingBatchResult(BaseModel):
    accepted: int
    outside_working_hours: int
    duplicates: int


@router.post("/field-trajectories", response_model=PingBatchResult)
async def record_trajectory(body: PingBatch, request: Request, user: CurrentUser) -> PingBatchResult:
    reply = await call(
        request.app.state.backend.fieldtask.RecordTrajectory,
        fieldtask_pb2.RecordTrajectoryRequest(
            points=[
                fieldtask_pb2.TrajectoryPoint(recorded_at=timestamp(p.recorded_at), position=p.to_proto())
                for p in body.points
            ]
        ),
        caller=user,
    )
    return PingBatchResult(
        accepted=reply.accepted, outside_working_hours=reply.outside_working_hours, duplicates=reply.duplicates
    )


class TrackPointRead(BaseModel):
    recorded_at: str
    latitude: float
    longitude: float
    accuracy_m: float


class DayTrackRead(BaseModel):
    officer_id: str
    day: str
    distance_m: float
    points: list[TrackPointRead]
    visits: list[CheckInRead]


@router.get("/field-trajectories/{officer_id}", response_model=DayTrackRead)
async def get_trajectory(officer_id: str, request: Request, user: CurrentUser, day: str = "") -> DayTrackRead:
    """An officer's day (``day=YYYY-MM-DD``, local): the track, distance travelled, visits. ``me`` for oneself."""
    reply = await call(
        request.app.state.backend.fieldtask.GetTrajectory,
        fieldtask_pb2.GetTrajectoryRequest(officer_id="" if officer_id == "me" else officer_id, day=day),
        caller=user,
    )
    return DayTrackRead(
        officer_id=reply.officer_id,
        day=reply.day,
        distance_m=reply.distance_m,
        points=[
            TrackPointRead(
                recorded_at=from_timestamp(p.recorded_at).isoformat(),
                latitude=p.latitude,
                longitude=p.longitude,
                accuracy_m=p.accuracy_m,
            )
            for p in reply.points
        ],
        visits=[CheckInRead.from_proto(c) for c in reply.visits],
    )


class RoutePlanRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "officer_id": "e1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
                    "day": "2025-03-03",
                    "start": {
                        "latitude": 29.0799,
                        "longitude": 119.6474,
                        "coordinate_system": "wgs84",
                        "accuracy_m": 8.0,
                    },
                }
            ]
        }
    )
    officer_id: str = Field("", description="Empty: the user")
    day: str = Field("", description="YYYY-MM-DD, local; empty: today")
    start: GeoPointIn


class RouteLegRead(BaseModel):
    task_id: str
    distance_m: float
    cumulative_m: float
    urgent: bool
    latitude: float
    longitude: float


class RoutePlanRead(BaseModel):
    legs: list[RouteLegRead]
    total_distance_m: float
    unplaced_task_ids: list[str]


@router.post("/field-routes", response_model=RoutePlanRead)
async def plan_route(body: RoutePlanRequest, request: Request, user: CurrentUser) -> RoutePlanRead:
    reply = await call(
        request.app.state.backend.fieldtask.PlanRoute,
        fieldtask_pb2.PlanRouteRequest(officer_id=body.officer_id, day=body.day, start=body.start.to_proto()),
        caller=user,
    )
    return RoutePlanRead(
        legs=[
            RouteLegRead(
                task_id=leg.task_id,
                distance_m=leg.distance_m,
                cumulative_m=leg.cumulative_m,
                urgent=leg.urgent,
                latitude=leg.latitude,
                longitude=leg.longitude,
            )
            for leg in reply.legs
        ],
        total_distance_m=reply.total_distance_m,
        unplaced_task_ids=list(reply.unplaced_task_ids),
    )


# The field-work API as one router for the application: visits, then sync, tracks and routes.
field_api = APIRouter()
field_api.include_router(field_tasks.router)
field_api.include_router(router)
