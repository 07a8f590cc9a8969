"""Two process-service replicas on one PostgreSQL database, and timers across downtime.

* Both replicas take completions of the same instances at once and both run the timer
  scheduler: every vote counts once (no lost update), a task completed on both replicas at
  once is refused on one of them, and every timer fires exactly once.
* A timer that fell due while no replica ran fires after the restart, and a reminder cycle
  whose repetitions were all missed during the downtime fires once, not once per repetition.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from sqlalchemy import select

from services.common.envelope import parse_event
from services.common.grpc_errors import RemoteError
from services.common.messaging_schema import outbox
from services.process.models import ServiceJobRow
from tests.integration.process.conftest import ProcessEnv
from tests.integration.process.test_process_engine import complete, deploy, instance, start
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

VOTE_THEN_WAIT = d.bpmn(
    "vote_then_wait",
    [
        d.start(),
        d.user("vote", "会签", multi=d.multi_instance("3", 'decision == "reject"')),
        d.timer_catch("cooling", '"PT1S"'),
        d.user("sign", "签约"),
        d.end(),
    ],
    d.chain("start", "vote", "cooling", "sign", "end"),
    {"committee_member": ["vote"], "officer": ["sign"]},
)
MEMBERS = [(f"m{n}", ["committee_member"]) for n in range(3)]


async def outbox_counts(env: ProcessEnv) -> Counter[tuple[str, str]]:
    async with env.host.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload))).all()
    return Counter((row.event_type, parse_event(row.payload).subject) for row in rows)


async def test_two_replicas_complete_and_fire_timers_without_double_fire_or_lost_update(process_env) -> None:
    env_a = await process_env()
    env_b = await process_env(same_database=True)
    replicas = [env_a, env_b]
    await deploy(env_a, ("vote.bpmn", VOTE_THEN_WAIT))
    instances = [await start(replicas[n % 2], "vote_then_wait", f"APP-R{n}") for n in range(8)]
    assert all(len(i.open_tasks) == 3 for i in instances)

    refused: list[RemoteError] = []

    async def vote(env: ProcessEnv, task_id: str, member: tuple[str, list[str]]) -> None:
        # A conflict is a refusal the caller sees and may retry; it never loses the vote silently.
        for _ in range(10):
            try:
                await complete(env, task_id, member)
                return
            except RemoteError as exc:
                if exc.status != "ABORTED":
                    raise
                await asyncio.sleep(0.05)
        pytest.fail(f"the vote on {task_id} kept conflicting")

    async def twice(task_id: str, member: tuple[str, list[str]]) -> None:
        # The same task completed on both replicas at the same moment: one wins.
        results = await asyncio.gather(
            complete(env_a, task_id, member), complete(env_b, task_id, member), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1, results
        assert isinstance(errors[0], RemoteError) and errors[0].status in ("FAILED_PRECONDITION", "ABORTED")
        refused.append(errors[0])

    calls = []
    for n, started in enumerate(instances):
        tasks = list(started.open_tasks)
        calls.append(twice(tasks[0].id, MEMBERS[0]))
        # The other two votes of the instance go to different replicas at the same time.
        calls.append(vote(replicas[n % 2], tasks[1].id, MEMBERS[1]))
        calls.append(vote(replicas[(n + 1) % 2], tasks[2].id, MEMBERS[2]))
    await asyncio.gather(*calls)
    assert len(refused) == len(instances)

    async def all_signing() -> bool:
        states = [await instance(env_a, i.id) for i in instances]
        return all([t.node_id for t in s.open_tasks] == ["sign"] for s in states)

    await eventually(all_signing, timeout=30)
    # Both schedulers kept running a while after the timers fired: still one fire each.
    await asyncio.sleep(1)
    events = await outbox_counts(env_a)
    for started in instances:
        state = await instance(env_b, started.id)
        votes = [(h.actor_id, h.decision) for h in state.history if h.action == "task.completed"]
        assert sorted(votes) == [("m0", "approve"), ("m1", "approve"), ("m2", "approve")]
        assert json.loads(state.variables_json)["votes"] == ["approve", "approve", "approve"]
        assert [h.action for h in state.history].count("timer.fired") == 1
        assert [(h.action, h.node_id) for h in state.history].count(("task.created", "sign")) == 1
        assert events[("process.task.completed", started.id)] == 3
        assert events[("process.task.created", started.id)] == 4


REMINDED = d.bpmn(
    "reminded",
    [
        d.start(),
        d.user("review", "初审"),
        d.timer_boundary("remind", "review", '"R3/PT2S"', interrupting=False, cycle=True),
        d.service(
            "notify", "notification.notify", {"recipient_id": ("str", "initiator_id"), "title": ("str", '"请尽快审批"')}
        ),
        d.end(),
        d.end("e_remind"),
    ],
    [*d.chain("start", "review", "end"), *d.chain("remind", "notify", "e_remind")],
    {"supervisor": ["review"]},
)
WAITING = d.bpmn(
    "waiting",
    [d.start(), d.timer_catch("t", '"PT1S"'), d.user("after", "到期后"), d.end()],
    d.chain("start", "t", "after", "end"),
    {"officer": ["after"]},
)


async def test_timers_due_during_downtime_fire_after_restart_and_missed_reminders_collapse(process_env) -> None:
    first = await process_env()
    await deploy(first, ("reminded.bpmn", REMINDED), ("waiting.bpmn", WAITING))
    await deploy(first, ("waiting.bpmn", WAITING))
    reminded = await start(first, "reminded", "APP-D1")
    waiting = await start(first, "waiting", "APP-D2")
    await first.host.stop()  # no replica runs while every timer falls due
    # Three reminder repetitions (after 2, 4 and 6 s) and the 1 s timer all fall due meanwhile.
    await asyncio.sleep(7)

    second = await process_env(same_database=True)

    async def caught_up() -> bool:
        a, b = await instance(second, reminded.id), await instance(second, waiting.id)
        return "task.reminded" in [h.action for h in a.history] and [t.node_id for t in b.open_tasks] == ["after"]

    await eventually(caught_up, timeout=15)
    state = await instance(second, reminded.id)
    # The cycle has no repetition left: nothing more can fire, and it fired once.
    assert [t.node_id for t in state.timers] == []
    assert [h.action for h in state.history].count("task.reminded") == 1
    assert [t.node_id for t in state.open_tasks] == ["review"]
    events = await outbox_counts(second)
    assert events[("process.task.reminded", reminded.id)] == 1
    # The reminder's path ran once: one notice sent, not one per missed repetition.
    async with second.host.sessions() as session:
        jobs = (await session.scalars(select(ServiceJobRow).where(ServiceJobRow.instance_id == reminded.id))).all()
    assert [job.node_id for job in jobs] == ["notify"]
    assert [h.comment for h in state.history if h.action == "timer.collapsed"] == ["2 missed"]

    async def notified() -> bool:
        history = (await instance(second, reminded.id)).history
        return [(h.action, h.node_id) for h in history].count(("service.completed", "notify")) == 1

    await eventually(notified)
    after = await instance(second, waiting.id)
    assert [h.action for h in after.history].count("timer.fired") == 1
