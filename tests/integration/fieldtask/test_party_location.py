"""A task without a location takes its party's address location from the real customer service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from granary.v1 import customer_pb2_grpc

from services.common.grpc_client import ServiceChannels
from services.common.identity import ServiceIdentity, TokenSigner
from services.fieldtask import service
from services.fieldtask.customer import CustomerPartyLocator
from services.fieldtask.service import FieldTaskUnitOfWork
from tests.integration.customer.support import resident_id
from tests.integration.fieldtask.conftest import WGS_BEIJING, FieldWorld, open_world

pytestmark = pytest.mark.integration
# A village of the demo county and its centroid, as customer's region table has it.
VILLAGE = ("330726101201", 29.4455, 119.9612)


async def _party(world: FieldWorld, name: str, id_number: str, region_code: str = "") -> str:
    reply = await world.client.post(
        "/api/v1/parties",
        json={"name": name, "id_number": id_number, "region_code": region_code},
        headers=world.officer,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def test_task_without_location_is_placed_at_the_party_address(world: FieldWorld) -> None:
    located = await _party(world, "王建国", resident_id("330726", "19720315", "101"), VILLAGE[0])
    task = await world.create_task(party_id=located, location=None)
    assert task["location"] == {"latitude": VILLAGE[1], "longitude": VILLAGE[2]}
    assert task["location_source"] == "party_address"
    assert task["location_pending"] is False
    # A check-in at the village is measured against it.
    checked = await world.check_in(task["id"], VILLAGE[1], VILLAGE[2] + 0.001)
    assert checked.json()["flagged"] is False and checked.json()["distance_m"] < 100

    # A given location wins over the address.
    given = await world.create_task(party_id=located)
    assert given["location_source"] == "gcj02"

    # A party without a located address: no location, nothing to wait for.
    nowhere = await _party(world, "赵四", resident_id("330726", "19700101", "414"))
    unplaced = await world.create_task(party_id=nowhere, location=None)
    assert (unplaced["location"], unplaced["location_source"], unplaced["location_pending"]) == (None, "", False)
    assert "fieldtask.task.created" in await world.audit_actions(task["id"])


@pytest.fixture
async def world_without_customer(  # type: ignore[no-untyped-def]
    start_service, gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[FieldWorld]:
    async with open_world(start_service, gateway, monkeypatch, tmp_path / "blobs", customer_reachable=False) as opened:
        yield opened


async def test_customer_unavailable_still_creates_the_task_pending_a_location(
    world_without_customer: FieldWorld,
) -> None:
    world = world_without_customer
    party = await _party(world, "王建国", resident_id("330726", "19720315", "101"), VILLAGE[0])
    task = await world.create_task(party_id=party, location=None)
    assert (task["status"], task["location"], task["location_pending"]) == ("assigned", None, True)
    listed = (await world.client.get("/api/v1/field-tasks", headers=world.supervisor)).json()["items"]
    assert [(t["id"], t["location_pending"]) for t in listed] == [(task["id"], True)]

    # The manager fills it in by hand ...
    moved = await world.client.put(
        f"/api/v1/field-tasks/{task['id']}/location",
        json={"location": {"latitude": WGS_BEIJING[0], "longitude": WGS_BEIJING[1]}, "address": "村口第三户"},
        headers=world.supervisor,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["location_pending"] is False and moved.json()["location_source"] == "wgs84"
    assert moved.json()["address"] == "村口第三户"
    assert "fieldtask.task.location_updated" in await world.audit_actions(task["id"])
    other_branch = await world.client.put(
        f"/api/v1/field-tasks/{task['id']}/location",
        json={"location": {"latitude": 1, "longitude": 1}},
        headers=world.officer2,
    )
    assert other_branch.status_code == 404

    # ... or the housekeeping round asks customer again once it answers.
    second = await world.create_task(party_id=party, location=None)
    assert second["location_pending"] is True
    signer = TokenSigner(world.fieldtask.settings.platform.require_jwt_secret())
    identity = ServiceIdentity(signer, "fieldtask")
    channels = ServiceChannels(default_timeout=5, fallback_caller=identity)
    locator = CustomerPartyLocator(
        channels.stub(f"127.0.0.1:{world.customer.port}", customer_pb2_grpc.CustomerServiceStub)
    )
    try:
        located = await service.retry_pending_locations(
            uow_factory=world.fieldtask.uow_factory(FieldTaskUnitOfWork), caller=identity(), locator=locator
        )
    finally:
        await channels.close()
    assert located == 1
    again = (await world.client.get(f"/api/v1/field-tasks/{second['id']}", headers=world.officer)).json()
    assert again["location"] == {"latitude": VILLAGE[1], "longitude": VILLAGE[2]}
    assert (again["location_source"], again["location_pending"]) == ("party_address", False)
