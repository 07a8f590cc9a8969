"""Evidence downloads (through the NATS object store), external e-signatures, and the streaming
calls' caller check, through the real gateway and services."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import nats
import pytest
from google.rpc import error_details_pb2
from granary.v1 import fieldtask_pb2, fieldtask_pb2_grpc
from grpc_status import rpc_status
from nats.js.errors import NotFoundError

from tests.integration.fieldtask.conftest import JPEG, PNG, SURVEY_FORM, WGS_BEIJING, FieldWorld, completed_payload

pytestmark = pytest.mark.integration


@pytest.fixture
async def nats_bucket(monkeypatch: pytest.MonkeyPatch, nats_url: str) -> AsyncIterator[str]:
    """Evidence kept in a NATS object store bucket of its own (set before the service starts)."""
    bucket = f"granary-test-evidence-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_STORE", "nats")
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_NATS_BUCKET", bucket)
    yield bucket
    nc = await nats.connect(nats_url)
    with contextlib.suppress(NotFoundError):
        await nc.jetstream().delete_object_store(bucket)
    await nc.close()


async def _ready_task(world: FieldWorld) -> str:
    task = await world.create_task()
    checked = await world.check_in(task["id"], *WGS_BEIJING)
    assert checked.status_code == 201, checked.text
    return str(task["id"])


async def test_evidence_download_streams_the_stored_bytes_to_the_officer_and_managers_only(
    nats_bucket: str, world: FieldWorld, nats_url: str
) -> None:
    task_id = await _ready_task(world)
    photo = await world.upload(task_id, JPEG, name="房屋.jpg")
    assert photo.status_code == 201, photo.text
    evidence = photo.json()
    # The bytes went to the configured NATS object store, not to the local directory.
    assert world.blobs() == []
    nc = await nats.connect(nats_url)
    try:
        stored = await (await nc.jetstream().object_store(nats_bucket)).get(evidence["sha256"])
        assert stored.data == JPEG
    finally:
        await nc.close()

    url = f"/api/v1/field-tasks/{task_id}/evidence/{evidence['id']}"
    mine = await world.client.get(url, headers=world.officer)
    assert mine.status_code == 200, mine.text
    assert mine.content == JPEG
    assert mine.headers["content-type"] == "image/jpeg"
    assert mine.headers["x-content-sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert int(mine.headers["content-length"]) == len(JPEG)
    assert "filename*=UTF-8''%E6%88%BF%E5%B1%8B.jpg" in mine.headers["content-disposition"]
    managed = await world.client.get(url, headers=world.supervisor)
    assert managed.status_code == 200 and managed.content == JPEG

    # Another branch's officer: as if it did not exist.
    assert (await world.client.get(url, headers=world.officer2)).status_code == 404
    unknown = await world.client.get(f"/api/v1/field-tasks/{task_id}/evidence/nope", headers=world.officer)
    assert unknown.status_code == 404
    assert unknown.json()["reason"] == "EVIDENCE_NOT_FOUND"

    # Handed to a colleague: the creator still sees the task but may no longer download its files.
    moved = await world.client.post(
        f"/api/v1/field-tasks/{task_id}/assign",
        json={"assignee_id": "officer-9", "reason": "请假"},
        headers=world.supervisor,
    )
    assert moved.status_code == 200, moved.text
    refused = await world.client.get(url, headers=world.officer)
    assert refused.status_code == 403
    assert (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.officer)).status_code == 200

    actions = await world.audit_actions(task_id)
    assert actions.count("fieldtask.evidence.downloaded") == 2


async def _external(world: FieldWorld, task_id: str, **overrides: object) -> object:
    body: dict[str, object] = {
        "provider": "fadada",
        "external_ref": "FDD-2026-000123",
        "signer_name": "王建国",
        "signer_party_id": "party-1",
        "signed_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "content_hash": "0" * 64,
        "document_ref": "fdd://contracts/000123",
    }
    body.update(overrides)
    return await world.client.post(
        f"/api/v1/field-tasks/{task_id}/external-signatures", json=body, headers=world.officer
    )


async def test_external_signature_must_cover_the_saved_form_and_is_recorded_once(world: FieldWorld) -> None:
    task_id = await _ready_task(world)
    assert (await world.upload(task_id, JPEG)).status_code == 201
    saved = await world.client.put(
        f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer
    )
    form_hash = saved.json()["content_hash"]

    # The provider signed something else: refused, nothing recorded.
    other = await _external(world, task_id, content_hash=hashlib.sha256(b"another contract").hexdigest())
    assert other.status_code == 422  # type: ignore[attr-defined]
    assert other.json()["reason"] == "SIGNED_CONTENT_MISMATCH"  # type: ignore[attr-defined]
    assert [e["field"] for e in other.json()["errors"]] == ["content_hash"]  # type: ignore[attr-defined]
    # Neither an image nor a document reference: nothing proves the signing.
    bare = await _external(world, task_id, content_hash=form_hash, document_ref="")
    assert bare.status_code == 422  # type: ignore[attr-defined]
    assert "document_ref" in [e["field"] for e in bare.json()["errors"]]  # type: ignore[attr-defined]
    assert (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.officer)).json()["signatures"] == []

    first = await _external(world, task_id, content_hash=form_hash, image_base64=base64.b64encode(PNG).decode())
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    recorded = first.json()  # type: ignore[attr-defined]
    assert (recorded["provider"], recorded["external_ref"], recorded["created"]) == ("fadada", "FDD-2026-000123", True)
    assert recorded["content_hash"] == form_hash and recorded["document_ref"] == "fdd://contracts/000123"
    again = await _external(world, task_id, content_hash=form_hash, image_base64=base64.b64encode(PNG).decode())
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.json()["id"] == recorded["id"] and again.json()["created"] is False  # type: ignore[attr-defined]

    detail = (await world.client.get(f"/api/v1/field-tasks/{task_id}", headers=world.supervisor)).json()
    assert [(s["provider"], s["valid"]) for s in detail["signatures"]] == [("fadada", True)]
    assert sorted(e["kind"] for e in detail["evidence"]) == ["photo", "signature"]

    # A change after the provider's signing is detected exactly like a device signature's.
    changed = {**SURVEY_FORM, "income": {"annual_income": "99000.00", "annual_expenses": "41000.00"}}
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": changed}, headers=world.officer)
    refused = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert refused.status_code == 409 and refused.json()["reason"] == "SIGNED_CONTENT_CHANGED"
    await world.client.put(f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer)
    assert (await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)).status_code == 200
    done = await world.client.post(f"/api/v1/field-tasks/{task_id}/complete", headers=world.supervisor)
    assert done.status_code == 200, done.text
    [event] = await world.outbox("fieldtask.task.completed")
    assert completed_payload(event).results["signed"] == "true"
    assert "fieldtask.signature.external_recorded" in await world.audit_actions(task_id)


async def test_a_document_reference_alone_satisfies_the_required_signature(world: FieldWorld) -> None:
    task_id = await _ready_task(world)
    await world.upload(task_id, JPEG)
    saved = await world.client.put(
        f"/api/v1/field-tasks/{task_id}/form", json={"form": SURVEY_FORM}, headers=world.officer
    )
    signed = await _external(world, task_id, content_hash=saved.json()["content_hash"], external_ref="ESIGN-9")
    assert signed.status_code == 201  # type: ignore[attr-defined]
    submitted = await world.client.post(f"/api/v1/field-tasks/{task_id}/submit", headers=world.officer)
    assert submitted.status_code == 200, submitted.text
    # The same provider reference cannot be claimed by another task.
    other = await _ready_task(world)
    await world.client.put(f"/api/v1/field-tasks/{other}/form", json={"form": SURVEY_FORM}, headers=world.officer)
    clash = await _external(world, other, content_hash=saved.json()["content_hash"], external_ref="ESIGN-9")
    assert clash.status_code == 409  # type: ignore[attr-defined]


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def test_streaming_calls_need_a_caller_and_map_domain_errors(world: FieldWorld) -> None:
    task_id = await _ready_task(world)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{world.fieldtask.port}") as channel:
        stub = fieldtask_pb2_grpc.FieldTaskServiceStub(channel)

        async def upload() -> AsyncIterator[fieldtask_pb2.UploadEvidenceRequest]:
            yield fieldtask_pb2.UploadEvidenceRequest(
                header=fieldtask_pb2.EvidenceHeader(task_id=task_id, kind="photo")
            )
            yield fieldtask_pb2.UploadEvidenceRequest(chunk=JPEG)

        with pytest.raises(grpc.aio.AioRpcError) as anonymous_upload:
            await stub.UploadEvidence(upload(), timeout=5)
        assert anonymous_upload.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _reason(anonymous_upload.value) == "CALLER_MISSING"

        download = stub.DownloadEvidence(
            fieldtask_pb2.DownloadEvidenceRequest(task_id=task_id, evidence_id="x"), timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as anonymous_download:
            await download.read()
        assert anonymous_download.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert world.blobs() == []

    # With a caller (the gateway's channel attaches it), a domain error keeps its status and reason.
    missing = await world.client.get(f"/api/v1/field-tasks/{task_id}/evidence/none", headers=world.officer)
    assert missing.status_code == 404 and missing.json()["reason"] == "EVIDENCE_NOT_FOUND"
    wrong_kind = await world.client.post(
        f"/api/v1/field-tasks/{task_id}/evidence",
        params={"kind": "audio"},
        files={"file": ("a.m4a", JPEG, "application/octet-stream")},
        headers=world.officer,
    )
    assert wrong_kind.status_code == 422 and wrong_kind.json()["reason"] == "EVIDENCE_TYPE_REFUSED"
