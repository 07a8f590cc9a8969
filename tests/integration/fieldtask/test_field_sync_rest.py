"""Offline batches, location tracks and route plans through REST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.common.clock import utcnow
from services.fieldtask import service
from services.fieldtask.models import SyncItemRow, TrajectoryPointRow
from services.fieldtask.service import FieldTaskUnitOfWork
from tests.integration.conftest import caller_for
from tests.integration.fieldtask.conftest import WGS_BEIJING, FieldWorld

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _item(client_id: str, action: str, task_id: str, **extra: object) -> dict[str, object]:
    return {"client_id": client_id, "action": action, "task_id": task_id, **extra}


async def _sync(world: FieldWorld, items: list[dict[str, object]]) -> list[dict[str, object]]:
    reply = await world.client.post(
        "/api/v1/field-sync", json={"batch_id": "b-1", "items": items}, headers=world.officer
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["results"]  # type: ignore[no-any-return]


async def test_offline_batch_replayed_twice_applies_once(world: FieldWorld) -> None:
    task = await world.create_task(task_type="visit")
    task_id = task["id"]
    position = {"latitude": WGS_BEIJING[0], "longitude": WGS_BEIJING[1], "accuracy_m": 12}
    batch = [
        _item("c-1", "accept", task_id, client_time="2026-03-02T09:00:00+08:00"),
        _item("c-2", "check_in", task_id, position=position, client_time="2026-03-02T09:05:00+08:00"),
        _item("c-3", "save_form", task_id, form={"purpose": "回访", "notes": "在家"}),
        _item("c-4", "submit", task_id),
    ]
    first = await _sync(world, batch)
    assert [(r["client_id"], r["outcome"]) for r in first] == [
        ("c-1", "applied"),
        ("c-2", "applied"),
        ("c-3", "applied"),
        ("c-4", "applied"),
    ]
    assert first[-1]["task_status"] == "submitted"
    second = await _sync(world, batch)
    assert [(r["outcome"], r["first_outcome"]) for r in second] == [("duplicate", "applied")] * 4

    detail = (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.officer)).json()
    assert [h["action"] for h in detail["history"]] == ["create", "accept", "check_in", "submit"]
    assert len(detail["check_ins"]) == 1
    assert detail["check_ins"][0]["client_time"].startswith("2026-03-02T01:05:00")
    assert len(await world.outbox("fieldtask.task.submitted")) == 1
    async with world.fieldtask.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SyncItemRow)) == 4


async def test_batch_hitting_a_cancelled_task_reports_the_conflict_and_applies_the_rest(world: FieldWorld) -> None:
    cancelled = await world.create_task(task_type="visit")
    other = await world.create_task(task_type="visit")
    reassigned = await world.create_task(task_type="visit")
    # Meanwhile at the branch: one task cancelled, one handed to a colleague.
    cancel = await world.client.post(
        f"/api/v1/field-tasks/{cancelled['id']}/cancel", json={"reason": "客户已还清"}, headers=world.supervisor
    )
    assert cancel.json()["status"] == "cancelled"
    no_reason = await world.client.post(
        f"/api/v1/field-tasks/{reassigned['id']}/assign", json={"assignee_id": "officer-9"}, headers=world.supervisor
    )
    assert no_reason.status_code == 422
    moved = await world.client.post(
        f"/api/v1/field-tasks/{reassigned['id']}/assign",
        json={"assignee_id": "officer-9", "reason": "请假"},
        headers=world.supervisor,
    )
    assert moved.json()["assignee_id"] == "officer-9"

    form = {"purpose": "催收回访"}
    results = await _sync(
        world,
        [
            _item("k-1", "save_form", cancelled["id"], form=form),
            _item("k-2", "accept", other["id"]),
            _item("k-3", "save_form", reassigned["id"], form=form),
            _item("k-4", "save_form", other["id"], form=form),
            _item("k-5", "save_form", other["id"], form=None),
        ],
    )
    outcomes = {r["client_id"]: (r["outcome"], r["reason"]) for r in results}
    assert outcomes["k-1"] == ("conflict", "FIELD_TASK_STATE_CONFLICT")
    assert results[0]["task_status"] == "cancelled"
    assert outcomes["k-2"] == ("applied", "")
    assert outcomes["k-3"] == ("conflict", "FIELD_TASK_NOT_ASSIGNEE")
    assert outcomes["k-4"] == ("applied", "")
    assert outcomes["k-5"][0] == "applied"  # an empty draft is still a draft

    other_detail = (await world.client.get(f"/api/v1/field-tasks/{other['id']}", headers=world.officer)).json()
    assert other_detail["status"] == "accepted"
    # Nothing lost: what the officer captured for the cancelled task is kept with the conflict.
    async with world.fieldtask.sessions() as session:
        kept = (await session.scalars(select(SyncItemRow).where(SyncItemRow.client_id == "k-1"))).one()
    assert kept.outcome == "conflict"
    assert kept.payload["form_json"] == '{"purpose": "催收回访"}'
    # Replaying the batch reports the same outcomes as duplicates, without applying anything.
    again = await _sync(world, [_item("k-1", "save_form", cancelled["id"], form=form)])
    assert (again[0]["outcome"], again[0]["first_outcome"]) == ("duplicate", "conflict")


async def test_trajectory_keeps_working_hours_only_and_old_pings_are_purged(world: FieldWorld) -> None:
    day = (utcnow().astimezone(SHANGHAI) - timedelta(days=1)).date()

    def at(hour: int, minute: int = 0) -> str:
        return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).isoformat()

    lat, lon = WGS_BEIJING
    points = [
        {"recorded_at": at(6, 30), "latitude": lat, "longitude": lon, "accuracy_m": 5},  # before work
        {"recorded_at": at(9), "latitude": lat, "longitude": lon, "accuracy_m": 5},
        {"recorded_at": at(9, 30), "latitude": lat + 0.01, "longitude": lon, "accuracy_m": 5},
        {"recorded_at": at(10), "latitude": lat + 0.02, "longitude": lon, "accuracy_m": 5},
        {"recorded_at": at(21), "latitude": lat, "longitude": lon, "accuracy_m": 5},  # after work
    ]
    recorded = await world.client.post("/api/v1/field-trajectories", json={"points": points}, headers=world.officer)
    assert recorded.json() == {"accepted": 3, "outside_working_hours": 2, "duplicates": 0}
    again = await world.client.post("/api/v1/field-trajectories", json={"points": points}, headers=world.officer)
    assert again.json() == {"accepted": 0, "outside_working_hours": 2, "duplicates": 3}

    officer_id = world.org.staff["officer1"]
    track = await world.client.get(
        f"/api/v1/field-trajectories/{officer_id}", params={"day": day.isoformat()}, headers=world.supervisor
    )
    assert track.status_code == 200
    assert [p["latitude"] for p in track.json()["points"]] == [lat, lat + 0.01, lat + 0.02]
    assert track.json()["distance_m"] == pytest.approx(2 * 1111.95, abs=1.0)
    # Another branch's officer may not look at it.
    denied = await world.client.get(f"/api/v1/field-trajectories/{officer_id}", headers=world.officer2)
    assert denied.status_code == 403

    # Pings older than the retention period go with the purge job; recent ones stay.
    old = (utcnow() - timedelta(days=200)).astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    await world.client.post(
        "/api/v1/field-trajectories",
        json={"points": [{"recorded_at": old.isoformat(), "latitude": lat, "longitude": lon}]},
        headers=world.officer,
    )
    uow = world.fieldtask.uow_factory(FieldTaskUnitOfWork)
    assert await service.purge_trajectory(uow=uow(), now=utcnow(), retention_days=180) == 1
    async with world.fieldtask.sessions() as session:
        times = (await session.scalars(select(TrajectoryPointRow.recorded_at))).all()
    assert len(times) == 3 and min(times) > datetime.now(UTC) - timedelta(days=3)


async def test_route_plan_and_expiry(world: FieldWorld) -> None:
    lat, lon = WGS_BEIJING
    east = await world.create_task(task_type="visit", location={"latitude": lat, "longitude": lon + 0.02})
    near = await world.create_task(task_type="visit", location={"latitude": lat, "longitude": lon + 0.01})
    nowhere = await world.create_task(task_type="visit", location=None)
    plan = await world.client.post(
        "/api/v1/field-routes", json={"start": {"latitude": lat, "longitude": lon}}, headers=world.officer
    )
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert [leg["task_id"] for leg in body["legs"]] == [near["id"], east["id"]]
    assert body["unplaced_task_ids"] == [nowhere["id"]]
    assert body["total_distance_m"] == pytest.approx(2 * 853.4, abs=2.0)

    # The deadline passes: the housekeeping job expires open tasks and says so on the bus.
    uow = world.fieldtask.uow_factory(FieldTaskUnitOfWork)
    system = caller_for(world.fieldtask.signer, "service:fieldtask", ["system"], "")
    expired = await service.expire_overdue_tasks(uow=uow(), caller=system, now=utcnow() + timedelta(days=3))
    assert expired == 3
    assert len(await world.outbox("fieldtask.task.expired")) == 3
    detail = (await world.client.get(f"/api/v1/field-tasks/{near['id']}", headers=world.officer)).json()
    assert detail["status"] == "expired"
