"""Message correlation over real NATS: `fieldtask.task.completed` reaches the waiting instance.

The events are published on the bus exactly as the field-task service's outbox relay does
(envelope, typed FieldTaskCompleted payload, Nats-Msg-Id), and the process service's durable
consumer correlates them by business key. An early message (published before the instance
waits) is kept and delivered when the instance starts waiting; one that matches nobody is
kept, not dropped.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from granary.v1 import fieldtask_pb2
from granary.v1 import process_pb2 as pb
from sqlalchemy import select

from services.common.bus import EventBus
from services.common.envelope import build_event
from services.common.settings import Settings
from services.process import service
from services.process.models import PendingMessageRow
from services.process.service import ProcessUnitOfWork, SpecCache
from tests.integration.process.conftest import ProcessEnv
from tests.integration.process.test_process_engine import complete, deploy, instance, start
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

DONE = "fieldtask.task.completed"

# Waits for the field visit right away.
WAIT_VISIT = d.bpmn(
    "wait_visit",
    [d.start(), d.message_catch("visited", "m_done"), d.user("review", "审查调查结果"), d.end()],
    d.chain("start", "visited", "review", "end"),
    {"supervisor": ["review"]},
    messages=[d.message("m_done", DONE, "visit")],
)
# Asks for the visit in a user task first, then waits for it: the report may come early.
ASK_THEN_WAIT = d.bpmn(
    "ask_then_wait",
    [
        d.start(),
        d.user("ask", "派发调查"),
        d.message_catch("visited", "m_done"),
        d.user("review", "审查调查结果"),
        d.end(),
    ],
    d.chain("start", "ask", "visited", "review", "end"),
    {"officer": ["ask"], "supervisor": ["review"]},
    messages=[d.message("m_done", DONE, "visit")],
)


async def publish_completed(business_key: str, task_id: str, **results: str) -> None:
    bus = EventBus.from_settings(Settings().platform, "test-fieldtask")
    await bus.connect()
    try:
        event = build_event(
            event_type=DONE,
            source="fieldtask",
            subject=task_id,
            data=fieldtask_pb2.FieldTaskCompleted(
                task_id=task_id,
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
                origin="process",
                business_key=business_key,
                party_id="P-1",
                results=results,
                assignee_id="officer7",
                branch_id="B1",
            ),
        )
        await bus.publish(bus.subject_for(DONE), event.to_bytes(), {"Nats-Msg-Id": event.id})
    finally:
        await bus.close()


async def pending(env: ProcessEnv, business_key: str) -> list[PendingMessageRow]:
    async with env.host.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(PendingMessageRow).where(
                        PendingMessageRow.correlation_key == business_key,
                        PendingMessageRow.consumed_at.is_(None),
                    )
                )
            ).all()
        )


async def test_completed_field_task_is_correlated_by_business_key(process_env) -> None:
    env = await process_env()
    await deploy(env, ("wait.bpmn", WAIT_VISIT))
    target = await start(env, "wait_visit", "APP-M1")
    bystander = await start(env, "wait_visit", "APP-M2")
    assert list(target.waiting_messages) == [DONE] and list(target.open_tasks) == []

    await publish_completed("APP-M1", "FT-1", income="8000", house="砖混")

    async def reviewed() -> bool:
        return [t.node_id for t in (await instance(env, target.id)).open_tasks] == ["review"]

    await eventually(reviewed, timeout=15)
    state = await instance(env, target.id)
    visit = json.loads(state.variables_json)["visit"]
    assert visit["task_id"] == "FT-1" and visit["results"] == {"income": "8000", "house": "砖混"}
    assert visit["task_type"] == "FIELD_TASK_TYPE_PRE_LOAN_SURVEY"
    assert [h.comment for h in state.history if h.action == "message.received"] == [DONE]
    # The other instance waits for its own application's report, untouched.
    other = await instance(env, bystander.id)
    assert list(other.waiting_messages) == [DONE] and list(other.open_tasks) == []
    assert not any(h.action == "message.received" for h in other.history)


async def test_early_message_is_kept_until_the_instance_waits(process_env) -> None:
    env = await process_env()
    await deploy(env, ("ask.bpmn", ASK_THEN_WAIT))
    started = await start(env, "ask_then_wait", "APP-E1")
    assert [t.node_id for t in started.open_tasks] == ["ask"]

    # The field officer is faster than the office: the report arrives before the instance waits.
    await publish_completed("APP-E1", "FT-E", verdict="属实")

    async def kept() -> bool:
        return len(await pending(env, "APP-E1")) == 1

    await eventually(kept, timeout=15)
    assert [t.node_id for t in (await instance(env, started.id)).open_tasks] == ["ask"]

    await complete(env, started.open_tasks[0].id, ("officer2", ["officer"]), decision="submit")
    state = await instance(env, started.id)
    assert [t.node_id for t in state.open_tasks] == ["review"]
    assert json.loads(state.variables_json)["visit"]["results"] == {"verdict": "属实"}
    assert list(state.waiting_messages) == []
    assert await pending(env, "APP-E1") == []


async def test_unmatched_message_is_kept_not_dropped(process_env) -> None:
    env = await process_env()
    await deploy(env, ("wait.bpmn", WAIT_VISIT))
    await publish_completed("APP-NOBODY", "FT-N", note="无人等待")

    async def kept() -> bool:
        return len(await pending(env, "APP-NOBODY")) == 1

    await eventually(kept, timeout=15)
    [row] = await pending(env, "APP-NOBODY")
    assert row.message_name == DONE and row.payload["results"] == {"note": "无人等待"}
    assert row.expires_at > row.received_at
    listed = await env.rpc("ListProcessInstances", pb.ListProcessInstancesRequest(), env.user("admin1", ["admin"]))
    assert list(listed.instances) == []

    # An instance started for that business key later still gets it.
    late = await start(env, "wait_visit", "APP-NOBODY")
    assert [t.node_id for t in late.open_tasks] == ["review"]
    assert json.loads(late.variables_json)["visit"]["task_id"] == "FT-N"


async def test_a_message_arriving_while_the_instance_starts_waiting_is_delivered(process_env) -> None:
    """The instance starts waiting in one transaction while the message arrives in another.

    Without serialisation each transaction misses the other's uncommitted row: the message is
    kept as pending, the instance waits for ever (seen after a restart, when a survey's report
    came in while the instance was still recording that the survey had been dispatched).
    """
    env = await process_env()
    await deploy(env, ("ask.bpmn", ASK_THEN_WAIT))
    started = await start(env, "ask_then_wait", "APP-RACE")
    [ask] = started.open_tasks

    at_commit, go_on = asyncio.Event(), asyncio.Event()

    class HeldAtCommit(ProcessUnitOfWork):
        async def commit(self) -> None:
            at_commit.set()
            await go_on.wait()
            await super().commit()

    async def officer_submits() -> None:
        await service.complete_task(
            uow=env.host.uow_factory(HeldAtCommit)(),
            specs_cache=SpecCache(),
            caller=env.user("officer2", ["officer"]),
            task_id=ask.id,
            decision="submit",
        )

    async def report_arrives() -> None:
        uow = env.host.uow_factory(ProcessUnitOfWork)()
        async with uow:
            await service.receive_message(
                uow=uow,
                specs_cache=SpecCache(),
                name=DONE,
                correlation_key="APP-RACE",
                payload={"business_key": "APP-RACE", "task_id": "FT-R", "results": {"verdict": "属实"}},
            )
            await uow.commit()

    submitting = asyncio.create_task(officer_submits())
    await at_commit.wait()  # the instance waits for the report, not yet committed
    arriving = asyncio.create_task(report_arrives())
    # Room for an unserialised delivery to finish first, as it did before the fix.
    await asyncio.wait({arriving}, timeout=1.0)
    go_on.set()
    await asyncio.gather(submitting, arriving)

    state = await instance(env, started.id)
    assert [t.node_id for t in state.open_tasks] == ["review"]
    assert json.loads(state.variables_json)["visit"]["task_id"] == "FT-R"
    assert list(state.waiting_messages) == []
    assert await pending(env, "APP-RACE") == []
