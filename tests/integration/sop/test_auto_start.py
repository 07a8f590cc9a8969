"""A submitted application starts the credit SOP by itself, once, over real NATS.

The process service consumes ``credit.application.submitted`` and starts the latest deployed
``credit_sop`` with business key = the application id, in the application's branch, initiated
by its managing officer. A redelivered event (the same envelope again) is dropped by the
consumer's inbox; another ``submitted`` event for the same application (a resubmission) finds
the running instance and starts nothing.
"""

from __future__ import annotations

import uuid

import pytest
from granary.v1 import credit_pb2

from services.common.envelope import build_event
from tests.integration.sop.support import DONE, World, build_world, model_file
from tests.support import eventually

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")
DURABLE = "process-start-credit-application-submitted"
SUBMITTED = "credit.application.submitted"


async def settled(world: World, deliveries: int) -> None:
    """Waits until the start consumer has received and acknowledged ``deliveries`` messages."""
    bus = world.process.bus

    async def done() -> bool:
        info = await bus.js.consumer_info(bus.stream, DURABLE)
        return info.delivered.consumer_seq >= deliveries and info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(done, timeout=30)


async def publish(world: World, payload: bytes) -> None:
    bus = world.process.bus
    # A fresh Nats-Msg-Id so JetStream's own de-duplication does not hide the redelivery.
    await bus.publish(bus.subject_for(SUBMITTED), payload, {"Nats-Msg-Id": uuid.uuid4().hex})


async def test_a_submitted_application_starts_the_latest_sop_once(start_service) -> None:
    world = await build_world(start_service)

    # Before any SOP is deployed a submission starts nothing and does not block the consumer.
    early = await world.application("30000")
    await settled(world, 1)
    assert await world.instances_of(early.id) == []

    await world.deploy(SOP, TIERS)
    app = await world.application("30000")
    instance = await world.started(app.id)
    assert (instance.process_key, instance.version, instance.business_key) == ("credit_sop", 1, app.id)
    assert instance.branch_id == world.branches["CG"]
    assert instance.initiator_id == world.staff["officer"].user_id

    async def surveying() -> bool:
        return list((await world.instance(instance.id)).waiting_messages) == [DONE]

    await eventually(surveying, timeout=30)
    assert len(await world.field_tasks(app.id)) == 1
    await settled(world, 2)

    # The same envelope delivered twice more (the inbox drops it), and a new submitted event
    # for the same application (the running instance handles a resubmission itself).
    same = build_event(
        event_type=SUBMITTED,
        source="credit",
        subject=app.id,
        data=credit_pb2.ApplicationChanged(
            application_id=app.id,
            party_id=app.party_id,
            product_id=app.product_id,
            amount=app.amount,
            managing_officer_id=app.managing_officer_id,
            branch_id=app.branch_id,
            status="submitted",
        ),
    ).to_bytes()
    await publish(world, same)
    await publish(world, same)
    await settled(world, 4)
    assert [i.id for i in await world.instances_of(app.id)] == [instance.id]
    assert len(await world.field_tasks(app.id)) == 1, "the survey was dispatched once"
    assert await world.app_status(app.id) == "submitted"

    # A second application gets its own instance.
    other = await world.application("80000")
    assert (await world.started(other.id)).id != instance.id


async def test_an_application_decided_before_the_sop_was_deployed_starts_nothing(start_service) -> None:
    """Demo data: applications submitted (and some decided) before any model exists.

    Their ``submitted`` events are consumed again once the SOP is deployed; only an application
    still ``submitted`` starts an instance, the one withdrawn since starts none (no incident).
    """
    world = await build_world(start_service)
    waiting = await world.application("30000")
    withdrawn = await world.application("40000")
    officer = world.staff["officer"]
    await world.credit_rpc("TransitionApplication", officer, application_id=withdrawn.id, action="withdraw")
    assert await world.app_status(withdrawn.id) == "withdrawn"
    await settled(world, 2)
    await world.deploy(SOP, TIERS)

    for app in (withdrawn, waiting):
        envelope = build_event(
            event_type=SUBMITTED,
            source="credit",
            subject=app.id,
            data=credit_pb2.ApplicationChanged(
                application_id=app.id,
                party_id=app.party_id,
                product_id=app.product_id,
                amount=app.amount,
                managing_officer_id=app.managing_officer_id,
                branch_id=app.branch_id,
                status="submitted",
            ),
        ).to_bytes()
        await publish(world, envelope)
    await settled(world, 4)
    assert await world.instances_of(withdrawn.id) == []
    started = await world.started(waiting.id)
    assert started.status == "running"
    assert await world.app_status(withdrawn.id) == "withdrawn"
