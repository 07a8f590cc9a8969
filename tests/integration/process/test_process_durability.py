"""`granary serve process` killed with SIGKILL between and during steps, then restarted.

The instance continues where it was: every acknowledged step is kept, none is done twice,
the events of the outbox match the history one for one, and a timer that fell due while
the service was down fires once after the restart. The model is deployed with the real
`granary bpmn deploy` command against the served process.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from granary.v1 import process_pb2 as pb
from sqlalchemy import select

from services.common.db import create_engine
from services.common.envelope import parse_event
from services.common.messaging_schema import outbox
from tests.integration.process.conftest import ServedProcess
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

SUPERVISOR = ("sup1", ["supervisor"])
PRESIDENT = ("pres1", ["president"])
ADMIN = ("admin1", ["admin"])

DURABLE = d.bpmn(
    "durable",
    [
        d.start(),
        d.user("review", "初审"),
        d.user("approve", "审批"),
        d.timer_catch("cooling", '"PT3S"'),
        d.user("sign", "签约"),
        d.end(),
    ],
    d.chain("start", "review", "approve", "cooling", "sign", "end"),
    {"supervisor": ["review"], "president": ["approve"], "officer": ["sign"]},
)


async def outbox_events(url: str) -> list[tuple[str, str]]:
    """(event type, instance id) of every event the service committed, published or not."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
    finally:
        await engine.dispose()
    return [(row.event_type, parse_event(row.payload).subject) for row in rows]


async def state(service: ServedProcess, instance_id: str) -> pb.ProcessInstance:
    reply = await service.rpc(
        "GetProcessInstance", pb.GetProcessInstanceRequest(instance_id=instance_id), service.user(*ADMIN)
    )
    return reply.instance


async def complete(service: ServedProcess, task_id: str, user: tuple[str, list[str]]) -> pb.InboxTask:
    reply = await service.rpc(
        "CompleteTask", pb.CompleteTaskRequest(task_id=task_id, decision="approve"), service.user(*user)
    )
    return reply.task


def actions(instance: pb.ProcessInstance, action: str, node_id: str = "") -> int:
    return sum(1 for h in instance.history if h.action == action and (not node_id or h.node_id == node_id))


async def test_kill_9_between_and_during_steps_loses_nothing_and_duplicates_nothing(
    served_process, tmp_path: Path
) -> None:
    service: ServedProcess = await served_process()
    await service.start()

    # The deploy command against the live service: a bad file is refused with its problems.
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(d.bpmn("bad", [d.start(), d.script("s", "import os"), d.end()], d.chain("start", "s", "end")))
    refused = await service.cli("bpmn", "deploy", str(bad))
    assert refused.returncode == 1
    assert "bad.bpmn#s" in refused.stderr and "import" in refused.stderr
    model = tmp_path / "durable.bpmn"
    model.write_bytes(DURABLE)
    deployed = await service.cli("bpmn", "deploy", str(model))
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.strip() == "durable version 1: deployed"
    again = await service.cli("bpmn", "deploy", str(model))
    assert again.stdout.strip() == "durable version 1: unchanged (identical content)"

    officer = service.user("officer1", ["officer"])
    started = [
        (
            await service.rpc(
                "StartProcessInstance",
                pb.StartProcessInstanceRequest(process_key="durable", business_key=f"APP-K{n}"),
                officer,
            )
        ).instance
        for n in range(21)
    ]
    first, burst = started[0], started[1:]

    # 1. Killed between two steps: the completed review stays completed.
    await complete(service, first.open_tasks[0].id, SUPERVISOR)
    await service.kill()
    await service.start()
    after = await state(service, first.id)
    assert [t.node_id for t in after.open_tasks] == ["approve"]
    assert actions(after, "task.completed") == 1 and actions(after, "task.created") == 2

    # 2. Killed while twenty completions are in flight: each is all or nothing.
    acknowledged: set[str] = set()

    async def complete_one(instance: pb.ProcessInstance) -> None:
        await complete(service, instance.open_tasks[0].id, SUPERVISOR)
        acknowledged.add(instance.id)

    calls = [asyncio.ensure_future(complete_one(i)) for i in burst]

    async def some_acknowledged() -> bool:
        return len(acknowledged) >= 3

    await eventually(some_acknowledged, timeout=30, every=0.01)
    await service.kill()
    await asyncio.gather(*calls, return_exceptions=True)
    await service.start()
    done = 0
    for instance in burst:
        now = await state(service, instance.id)
        completed = actions(now, "task.completed", "review")
        assert completed in (0, 1), "a completion was applied twice"
        if instance.id in acknowledged:
            assert completed == 1, "an acknowledged completion was lost"
        expected_open = ["approve"] if completed else ["review"]
        assert [t.node_id for t in now.open_tasks] == expected_open
        assert actions(now, "task.created") == 1 + completed
        done += completed
    assert done >= len(acknowledged) >= 3
    # The rest can be completed after the restart, exactly once each.
    for instance in burst:
        now = await state(service, instance.id)
        if now.open_tasks[0].node_id == "review":
            await complete(service, now.open_tasks[0].id, SUPERVISOR)

    # 3. Killed with a timer pending; it falls due while nothing runs and fires after the restart.
    await complete(service, after.open_tasks[0].id, PRESIDENT)
    waiting = await state(service, first.id)
    assert [t.node_id for t in waiting.timers] == ["cooling"]
    due = waiting.timers[0].due_at.ToDatetime(tzinfo=UTC)
    await service.kill()
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)  # downtime past the due time
    await service.start()

    async def signing() -> bool:
        return [t.node_id for t in (await state(service, first.id)).open_tasks] == ["sign"]

    await eventually(signing, timeout=20)
    await complete(service, (await state(service, first.id)).open_tasks[0].id, ("officer2", ["officer"]))
    final = await state(service, first.id)
    assert final.status == "completed"
    assert actions(final, "timer.fired") == 1
    assert [h.node_id for h in final.history if h.action == "task.completed"] == ["review", "approve", "sign"]

    # The outbox holds one event per step, as the history does: nothing lost, nothing twice.
    events = await outbox_events(service.env["GRANARY_PROCESS_DATABASE_URL"])
    per_first = Counter(t for t, subject in events if subject == first.id)
    assert per_first == Counter(
        {
            "process.instance.started": 1,
            "process.task.created": 3,
            "process.task.completed": 3,
            "process.instance.completed": 1,
        }
    )
    for instance in burst:
        now = await state(service, instance.id)
        mine = Counter(t for t, subject in events if subject == instance.id)
        assert mine["process.task.completed"] == actions(now, "task.completed") == 1
        assert mine["process.task.created"] == actions(now, "task.created") == 2
        assert json.loads(now.variables_json)["business_key"] == instance.business_key
