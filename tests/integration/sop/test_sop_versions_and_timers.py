"""A process owner changes the SOP without a release: a new DMN threshold, and seconds-long timers."""

from __future__ import annotations

import pytest
from granary.v1 import process_pb2
from sqlalchemy import select

from services.common import messaging_schema
from services.common.envelope import parse_event
from tests.integration.sop.support import World, build_world, model_file

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")


def lower_supervisor_limit(model: tuple[str, bytes]) -> tuple[str, bytes]:
    """approval_tiers with the supervisor's limit cut from 50,000 to 20,000 yuan."""
    name, content = model
    changes = [
        (b"? &lt; 50000", b"? &lt; 20000", 1),
        (b"50000 &lt;= ? &lt;= 500000", b"20000 &lt;= ? &lt;= 500000", 2),
    ]
    for old, new, count in changes:
        assert content.count(old) == count, old
        content = content.replace(old, new)
    return name, content


def timers_in_seconds(model: tuple[str, bytes]) -> tuple[str, bytes]:
    name, content = model
    assert content.count(b'"PT24H"') == 4 and content.count(b'"PT48H"') == 4
    return name, content.replace(b'"PT24H"', b'"PT1S"').replace(b'"PT48H"', b'"PT4S"')


async def outbox_events(world: World, event_type: str) -> list[process_pb2.ProcessTaskChanged]:
    async with world.process.engine.connect() as conn:
        rows = await conn.execute(
            select(messaging_schema.outbox.c.payload)
            .where(messaging_schema.outbox.c.event_type == event_type)
            .order_by(messaging_schema.outbox.c.seq)
        )
        found = []
        for row in rows:
            message = process_pb2.ProcessTaskChanged()
            parse_event(row.payload).data.Unpack(message)
            found.append(message)
        return found


async def test_a_new_threshold_applies_to_new_applications_while_a_running_one_keeps_its_version(
    start_service,
) -> None:
    world = await build_world(start_service)
    first = await world.deploy(SOP, TIERS)
    running_app = await world.application("30000")
    running = await world.start_sop(running_app.id)

    second = await world.deploy(SOP, lower_supervisor_limit(TIERS))
    assert (first.version.version, second.version.version, second.created) == (1, 2, True)
    new_app = await world.application("30000")
    new = await world.start_sop(new_app.id)
    assert (running.version, new.version) == (1, 2)

    # Both surveys come back only now: the running instance routes with the table it started with.
    await world.survey_done(running.id, running_app.id)
    await world.survey_done(new.id, new_app.id)
    [old_task] = await world.open_tasks(running.id)
    await world.decide(old_task, "supervisor")
    [sign] = await world.open_tasks(running.id)
    assert sign.node_id == "sign"
    assert (await world.variables(running.id))["tier"] == "supervisor"

    [new_task] = await world.open_tasks(new.id)
    await world.decide(new_task, "supervisor")
    [president] = await world.open_tasks(new.id)
    assert (president.node_id, president.candidate_role) == ("president_approval", "president")
    assert (await world.variables(new.id))["tier"] == "president"


async def test_reminder_fires_and_the_task_escalates_to_the_superior_role(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(timers_in_seconds(SOP), TIERS)
    app = await world.application("30000")
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id)
    [review] = await world.open_tasks(instance.id)
    assert (review.node_id, review.candidate_role) == ("initial_review", "supervisor")

    state = await world.until_node(instance.id, "initial_review_up")
    [escalated] = list(state.open_tasks)
    assert (escalated.node_id, escalated.candidate_role) == ("initial_review_up", "president")
    reminded = await outbox_events(world, "process.task.reminded")
    assert [(e.node_id, e.candidate_role, e.business_key) for e in reminded] == [
        ("initial_review", "supervisor", app.id)
    ]
    moved = await outbox_events(world, "process.task.escalated")
    assert [(e.node_id, e.candidate_role) for e in moved] == [("initial_review_up", "president")]
    actions = [(h.node_id, h.action) for h in state.history]
    assert ("initial_review", "task.reminded") in actions and ("initial_review", "task.escalated") in actions
    # The supervisor's inbox no longer holds it; the president decides in his place.
    inbox = await world.process_rpc("ListTasks", world.staff["supervisor"], view="claimable")
    assert review.id not in [t.id for t in inbox.tasks]
    with pytest.raises(Exception) as gone:
        await world.decide(review, "supervisor")
    assert getattr(gone.value, "status", "") == "FAILED_PRECONDITION"
    await world.decide(escalated, "president", comment="超时代为审批")
    [sign] = await world.open_tasks(instance.id)
    assert sign.node_id == "sign"
    assert await world.app_status(app.id) == "approved"
