"""Field work through the real gateway, customer (logins) and field task services."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from granary.v1 import customer_pb2, customer_pb2_grpc, events_pb2, fieldtask_pb2
from sqlalchemy import select

from services.common import messaging_schema
from services.common.grpc_client import ServiceChannels, call
from services.common.identity import ServiceIdentity, TokenSigner
from services.common.runtime import ServiceHost
from tests.integration.conftest import PASSWORD, Org, login, seed_org

MAX_BYTES = 64 * 1024
# A JPEG and a PNG as their magic bytes announce them (the rest need not be a picture).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + os.urandom(2000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500)
# The Beijing test vector of the public GCJ-02 reconstruction.
GCJ_BEIJING = (39.91334545536069, 116.38404722455657)
WGS_BEIJING = (39.911954, 116.377817)

SURVEY_FORM: dict[str, Any] = {
    "family": {"members": 4, "labourers": 2, "dependants": 2},
    "operations": {"business": "大棚蔬菜", "years": 6},
    "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
    "assets_verified": {"verified": True, "items": [{"kind": "greenhouse", "value": "120000"}]},
}


@dataclass
class FieldWorld:
    client: httpx.AsyncClient
    org: Org
    fieldtask: ServiceHost
    customer: ServiceHost
    officer: dict[str, str]
    officer2: dict[str, str]
    supervisor: dict[str, str]
    blob_dir: Path

    async def create_task(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "task_type": "pre_loan_survey",
            "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            "party_id": "party-1",
            "assignee_id": self.org.staff["officer1"],
            "business_key": "APP-2026-0001",
            "location": {"latitude": GCJ_BEIJING[0], "longitude": GCJ_BEIJING[1], "coordinate_system": "gcj02"},
        }
        body.update(overrides)
        reply = await self.client.post("/api/v1/field-tasks", json=body, headers=self.officer)
        assert reply.status_code == 201, reply.text
        return reply.json()  # type: ignore[no-any-return]

    async def check_in(self, task_id: str, lat: float, lon: float) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/field-tasks/{task_id}/check-in",
            json={"latitude": lat, "longitude": lon, "accuracy_m": 8, "device_id": "phone-1"},
            headers=self.officer,
        )

    async def upload(
        self,
        task_id: str,
        data: bytes,
        *,
        kind: str = "photo",
        name: str = "a.jpg",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/field-tasks/{task_id}/evidence",
            params={"kind": kind, "latitude": WGS_BEIJING[0], "longitude": WGS_BEIJING[1], "device_id": "phone-1"},
            files={"file": (name, data, "application/octet-stream")},
            headers=headers or self.officer,
        )

    def blobs(self) -> list[Path]:
        return sorted(p for p in self.blob_dir.rglob("*") if p.is_file())

    async def outbox(self, event_type: str) -> list[events_pb2.Event]:
        async with self.fieldtask.engine.connect() as conn:
            rows = await conn.execute(
                select(messaging_schema.outbox.c.payload)
                .where(messaging_schema.outbox.c.event_type == event_type)
                .order_by(messaging_schema.outbox.c.seq)
            )
            return [events_pb2.Event.FromString(r.payload) for r in rows]

    async def audit_actions(self, entity_id: str) -> list[str]:
        async with self.fieldtask.engine.connect() as conn:
            rows = await conn.execute(
                select(messaging_schema.audit_log.c.action)
                .where(messaging_schema.audit_log.c.entity_id == entity_id)
                .order_by(messaging_schema.audit_log.c.seq)
            )
            return [r.action for r in rows]


def completed_payload(event: events_pb2.Event) -> fieldtask_pb2.FieldTaskCompleted:
    data = fieldtask_pb2.FieldTaskCompleted()
    event.data.Unpack(data)
    return data


async def add_supervisor(customer: ServiceHost, branch_id: str) -> None:
    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=5, fallback_caller=ServiceIdentity(signer, "test-seed"))
    stub = channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
    try:
        await call(
            stub.CreateStaff,
            customer_pb2.CreateStaffRequest(
                username="supervisor1",
                display_name="supervisor1",
                password=PASSWORD,
                roles=["supervisor"],
                branch_id=branch_id,
            ),
        )
    finally:
        await channels.close()


@asynccontextmanager
async def open_world(
    start_service: Any,
    gateway: Any,
    monkeypatch: pytest.MonkeyPatch,
    blob_dir: Path,
    *,
    customer_reachable: bool = True,
) -> AsyncIterator[FieldWorld]:
    """Customer (logins, parties), field task service and gateway; with ``customer_reachable``
    False the field task service is given a customer address where nothing listens."""
    monkeypatch.setenv("GRANARY_FIELDTASK_BLOB_DIR", str(blob_dir))
    monkeypatch.setenv("GRANARY_FIELDTASK_EVIDENCE_MAX_BYTES", str(MAX_BYTES))
    monkeypatch.setenv("GRANARY_FIELDTASK_CHECKIN_RADIUS_M", "300")
    monkeypatch.setenv("GRANARY_FIELDTASK_WORKING_HOURS", "07:00-20:00")
    monkeypatch.setenv("GRANARY_FIELDTASK_TIMEZONE", "Asia/Shanghai")
    customer = await start_service("customer")
    org = await seed_org(customer)
    await add_supervisor(customer, org.branch_ids["B1"])
    if customer_reachable:
        fieldtask = await start_service("fieldtask")
    else:
        real = os.environ["GRANARY_CUSTOMER_ADDRESS"]
        monkeypatch.setenv("GRANARY_CUSTOMER_ADDRESS", f"127.0.0.1:{closed_port()}")
        fieldtask = await start_service("fieldtask")
        monkeypatch.setenv("GRANARY_CUSTOMER_ADDRESS", real)  # the gateway still reaches it
    async with gateway() as client:
        yield FieldWorld(
            client=client,
            org=org,
            fieldtask=fieldtask,
            customer=customer,
            officer=await login(client, "officer1"),
            officer2=await login(client, "officer2"),
            supervisor=await login(client, "supervisor1"),
            blob_dir=blob_dir,
        )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


@pytest.fixture
async def world(start_service, gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FieldWorld]:  # type: ignore[no-untyped-def]
    async with open_world(start_service, gateway, monkeypatch, tmp_path / "blobs") as opened:
        yield opened
