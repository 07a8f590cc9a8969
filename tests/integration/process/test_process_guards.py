"""The engine's known limits end in a visible incident through the API, never in a silent "completed"."""

from __future__ import annotations

import pytest
from granary.v1 import process_pb2 as pb

from tests.integration.process.test_process_engine import deploy, instance, start
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

LOOP = d.bpmn(
    "endless",
    [d.start(), d.script("inc", "n = n + 1"), d.xor("gw", default="f_back"), d.end()],
    [*d.chain("start", "inc", "gw"), d.flow("gw", "end", "n < 0"), d.flow("gw", "inc", flow_id="f_back")],
)
VOTERS = d.bpmn(
    "voters",
    [d.start(), d.user("vote", "会签", multi=d.multi_instance("len(members)", "False")), d.end()],
    d.chain("start", "vote", "end"),
    {"committee_member": ["vote"]},
)


async def incidents(env, instance_id: str) -> list[pb.Incident]:  # type: ignore[no-untyped-def]
    reply = await env.rpc(
        "ListIncidents", pb.ListIncidentsRequest(instance_id=instance_id), env.user("admin1", ["admin"])
    )
    return list(reply.incidents)


async def test_loop_cap_raises_a_guard_incident(process_env) -> None:
    env = await process_env()
    await deploy(env, ("loop.bpmn", LOOP))
    started = await start(env, "endless", "APP-G1", n=0)
    assert started.status == "incident"
    [incident] = await incidents(env, started.id)
    assert (incident.kind, incident.node_id, incident.status) == ("guard", "inc", "open")
    assert "node inc was entered 101 times (limit 100)" in incident.error
    state = await instance(env, started.id)
    assert state.status == "incident" and "incident.raised" in [h.action for h in state.history]


async def test_multi_instance_cardinality_cap_raises_a_guard_incident_and_creates_no_tasks(process_env) -> None:
    env = await process_env()
    await deploy(env, ("voters.bpmn", VOTERS))
    fine = await start(env, "voters", "APP-G2", members=["m1", "m2"])
    assert fine.status == "running" and len(fine.open_tasks) == 2
    too_many = await start(env, "voters", "APP-G3", members=[f"m{n}" for n in range(150)])
    assert too_many.status == "incident" and list(too_many.open_tasks) == []
    [incident] = await incidents(env, too_many.id)
    assert incident.kind == "guard" and incident.node_id == "vote"
    assert "multi-instance cardinality 150 of vote is outside 0..100" in incident.error
    claimable = await env.rpc("ListTasks", pb.ListTasksRequest(view="claimable"), env.user("m9", ["committee_member"]))
    assert {t.instance_id for t in claimable.tasks} == {fine.id}
