"""Officers' visits end to end through REST: gateway → field task service → PostgreSQL (+ outbox)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select, update

from services.fieldtask.models import EvidenceRow, FieldTaskRow
from tests.integration.fieldtask.conftest import (
    GCJ_BEIJING,
    JPEG,
    MAX_BYTES,
    PNG,
    SURVEY_FORM,
    WGS_BEIJING,
    FieldWorld,
    completed_payload,
)

pytestmark = pytest.mark.integration


async def _sign(world: FieldWorld, task_id: str, content_hash: str = "") -> Any:
    return await world.client.post(
        f"/api/v1/field-tasks/{task_id}/signature",
        json={
            "signer_name": "王建国",
            "signer_party_id": "party-1",
            "image_base64": base64.b64encode(PNG).decode(),
            "position": {"latitude": WGS_BEIJING[0], "longitude": WGS_BEIJING[1]},
            "content_hash": content_hash,
        },
        headers=world.officer,
    )


async def test_survey_task_full_life_through_rest(world: FieldWorld) -> None:
    client = world.client
    task = await world.create_task(title="贷前调查 王建国")
    task_id = task["id"]
    assert task["status"] == "assigned"
    # Given in GCJ-02 (a Chinese map SDK), stored in WGS-84.
    assert task["location_source"] == "gcj02"
    assert task["location"]["latitude"] == pytest.approx(WGS_BEIJING[0], abs=1e-6)
    assert task["location"]["longitude"] == pytest.approx(WGS_BEIJING[1], abs=1e-6)

    # Scope: another branch's officer cannot see it; the branch supervisor can, in the list too.
    assert (await client.get(f"/api/v1/field-tasks/{task_id}", headers=world.officer2)).status_code == 404
    listed = await client.get("/api/v1/field-tasks", headers=world.supervisor)
    assert [t["id"] for t in listed.json()["items"]] == [task_id]
    assert (await client.get("/api/v1/field-tasks", headers=world.officer2)).json()["items"] == []

    schema = await client.get("/api/v1/field-tasks/form-schemas/pre_loan_survey", headers=world.officer)
    assert schema.status_code == 200
    assert schema.json()["required_evidence"] == {"photo": 1, "signature": 1}
    assert "family" in schema.json()["json_schema"]["required"]

    assert (await client.post(f"/api/v1/field-tasks/{task_id}/accept", headers=world.officer)).json()[
        "status"
    ] == "accepted"
    # About 85 m east of the task location: inside the 300 m radius.
    checked = await world.check_in(task_id, WGS_BEIJING[0], WGS_BEIJING[1] + 0.001)
    assert checked.status_code == 201, checked.text
    assert checked.json()["flagged"] is False
    assert 80 < checked.json()["distance_m"] < 90

    draft = await client.put(
        f"/api/v1/field-tasks/{task_id}/form", json={"form": {"family": {"members": 4}}}, headers=world.officer
    )
    assert draft.status_code == 200
    assert "form.family.labourers" in [p["field"] for p in draft.json()["problems"]]

    photo = await world.upload(task_id, JPEG, name="house.jpg")
    assert photo.status_code == 201, photo.text
    assert photo.json()["media_type"] == "image/jpeg"
    saved = await client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer)
    assert saved.json()["problems"] == []
    signature = await _sign(world, task_id, saved.json()["content_hash"])
    assert signature.status_code == 201, signature.text
    assert signature.json()["content_hash"] == saved.json()["content_hash"]

    submitted = await client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    # Only managers complete; the officer cannot.
    assert (await client.post(f"/api/v1/field-tasks/{task_id}/complete", headers=world.officer)).status_code == 403
    done = await client.post(
        f"/api/v1/field-tasks/{task_id}/complete", json={"comment": "核实无误"}, headers=world.supervisor
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"

    detail = (await client.get(f"/api/v1/field-tasks/{task_id}", headers=world.supervisor)).json()
    assert [h["action"] for h in detail["history"]] == ["create", "accept", "check_in", "submit", "complete"]
    assert sorted(e["kind"] for e in detail["evidence"]) == ["photo", "signature"]
    assert detail["signatures"][0]["valid"] is True
    assert detail["form"] == SURVEY_FORM

    [event] = await world.outbox("fieldtask.task.completed")
    payload = completed_payload(event)
    assert (payload.task_id, payload.business_key, payload.party_id) == (task_id, "APP-2026-0001", "party-1")
    assert payload.results["income.annual_income"] == "86000.00"
    assert payload.results["signed"] == "true"
    assert payload.results["check_in_flagged"] == "false"
    actions = await world.audit_actions(task_id)
    for expected in (
        "fieldtask.task.created",
        "fieldtask.task.check_in",
        "fieldtask.evidence.added",
        "fieldtask.signature.captured",
        "fieldtask.task.complete",
    ):
        assert expected in actions
    # Both files are on disk once, under their SHA-256.
    assert sorted(p.name for p in world.blobs()) == sorted(e["sha256"] for e in detail["evidence"])


async def test_far_check_in_is_accepted_but_flagged_for_managers(world: FieldWorld) -> None:
    task = await world.create_task()
    # About 5.5 km north of the task.
    far = await world.check_in(task["id"], WGS_BEIJING[0] + 0.05, WGS_BEIJING[1])
    assert far.status_code == 201
    assert far.json()["flagged"] is True
    assert far.json()["flag_reason"] == "beyond_radius"
    assert 5500 < far.json()["distance_m"] < 5600
    listed = (await world.client.get("/api/v1/field-tasks", headers=world.supervisor)).json()["items"]
    assert [(t["id"], t["check_in_flagged"], t["status"]) for t in listed] == [(task["id"], True, "checked_in")]
    detail = (await world.client.get(f"/api/v1/field-tasks/{task['id']}", headers=world.supervisor)).json()
    assert detail["check_ins"][0]["distance_m"] == pytest.approx(far.json()["distance_m"])

    # A check-in given in GCJ-02 at the task's own GCJ-02 position is converted and lands on it.
    task2 = await world.create_task()
    near = await world.client.post(
        f"/api/v1/field-tasks/{task2['id']}/check-in",
        json={"latitude": GCJ_BEIJING[0], "longitude": GCJ_BEIJING[1], "coordinate_system": "gcj02"},
        headers=world.officer,
    )
    assert near.json()["flagged"] is False
    assert near.json()["distance_m"] < 0.01


async def test_missing_required_evidence_or_field_is_refused_naming_it(world: FieldWorld) -> None:
    task = await world.create_task()
    task_id = task["id"]
    await world.check_in(task_id, *WGS_BEIJING)
    incomplete = {**SURVEY_FORM, "income": {"annual_income": "86000.00"}}
    del incomplete["family"]
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": incomplete}, headers=world.officer)
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "SUBMISSION_INCOMPLETE"
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"form.family", "form.income.annual_expenses", "evidence.photo", "evidence.signature"}

    # A wrongly typed value is named with its path as well.
    bad = {**SURVEY_FORM, "income": {"annual_income": "很多", "annual_expenses": "1"}}
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": bad}, headers=world.officer)
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert "form.income.annual_income" in {e["field"] for e in refused.json()["errors"]}

    # With the form right but the photo still missing, only the evidence is named.
    saved = await world.client.put(
        f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer
    )
    await _sign(world, task_id, saved.json()["content_hash"])
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert [e["field"] for e in refused.json()["errors"]] == ["evidence.photo"]
    detail = (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.officer)).json()
    assert detail["status"] == "checked_in"


async def test_tampering_with_signed_content_is_detected(world: FieldWorld) -> None:
    task = await world.create_task()
    task_id = task["id"]
    await world.check_in(task_id, *WGS_BEIJING)
    await world.upload(task_id, JPEG)
    saved = await world.client.put(
        f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer
    )
    signed_hash = saved.json()["content_hash"]
    assert (await _sign(world, task_id, signed_hash)).status_code == 201
    # The device showed the signer other content than what is stored: refused.
    stale = await _sign(world, task_id, "0" * 64)
    assert stale.status_code == 422
    assert stale.json()["errors"][0]["field"] == "content_hash"

    # One figure changed after signing, through the API.
    changed = {**SURVEY_FORM, "income": {"annual_income": "96000.00", "annual_expenses": "41000.00"}}
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": changed}, headers=world.officer)
    check = (
        await world.client.get(f"/api/v1/field-tasks/{task_id}/signature/verification", headers=world.officer)
    ).json()
    assert check["signed"] is True and check["valid"] is False
    assert check["signed_hash"] == signed_hash != check["current_hash"]
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "SIGNED_CONTENT_CHANGED"

    # Restored, it verifies again and goes through; then someone edits the row in the database.
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer)
    assert (await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)).status_code == 200
    tampered = {**SURVEY_FORM, "assets_verified": {"verified": False}}
    async with world.fieldtask.sessions() as session:
        await session.execute(update(FieldTaskRow).where(FieldTaskRow.id == task_id).values(form_data=tampered))
        await session.commit()
    detail = (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.supervisor)).json()
    assert detail["signatures"][0]["valid"] is False
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/complete", headers=world.supervisor)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "SIGNED_CONTENT_CHANGED"
    assert await world.outbox("fieldtask.task.completed") == []


async def test_oversized_or_mismatched_upload_is_refused_and_stores_nothing(world: FieldWorld) -> None:
    task = await world.create_task()
    await world.check_in(task["id"], *WGS_BEIJING)

    too_big = JPEG[:16] + b"\x00" * (MAX_BYTES + 1)
    refused = await world.upload(task["id"], too_big)
    assert refused.status_code == 422
    assert refused.json()["reason"] == "EVIDENCE_TOO_LARGE"
    assert refused.json()["errors"][0]["field"] == "file"

    # A PDF named like a photo: the bytes decide, not the name.
    pdf = b"%PDF-1.7\n" + b"x" * 200
    mismatched = await world.upload(task["id"], pdf, name="photo.jpg")
    assert mismatched.status_code == 422
    assert mismatched.json()["reason"] == "EVIDENCE_TYPE_REFUSED"
    # A text file claiming to be audio.
    assert (await world.upload(task["id"], b"hello " * 20, kind="audio", name="a.m4a")).status_code == 422

    assert world.blobs() == []
    async with world.fieldtask.sessions() as session:
        assert (await session.scalars(select(EvidenceRow))).all() == []

    # The same PDF as a document is fine, stored once even when sent twice.
    first = await world.upload(task["id"], pdf, kind="document", name="contract.pdf")
    again = await world.upload(task["id"], pdf, kind="document", name="contract.pdf")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["media_type"] == "application/pdf"
    assert len(world.blobs()) == 1

    # Another branch's officer cannot upload to it (and learns nothing about it).
    other = await world.upload(task["id"], JPEG, headers=world.officer2)
    assert other.status_code == 404
    assert len(world.blobs()) == 1
