"""Node durations are branch-scoped: branch staff see their branch's figures, head office all."""

from __future__ import annotations

import json

import pytest
from granary.v1 import process_pb2 as pb

from tests.integration.process.test_process_engine import deploy
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration


async def test_node_durations_show_a_branch_its_own_figures_and_head_office_every_branch(process_env) -> None:
    env = await process_env()
    await deploy(env, ("seq.bpmn", d.SEQUENTIAL))

    async def run(branch: str, business_key: str, *, to_the_end: bool) -> None:
        started = await env.rpc(
            "StartProcessInstance",
            pb.StartProcessInstanceRequest(
                process_key="seq_approval", business_key=business_key, variables_json=json.dumps({"amount": "30000"})
            ),
            env.user(f"officer-{branch}", ["officer"], branch),
        )
        [review] = started.instance.open_tasks
        done = await env.rpc(
            "CompleteTask",
            pb.CompleteTaskRequest(task_id=review.id, decision="approve"),
            env.user(f"sup-{branch}", ["supervisor"], branch),
        )
        assert done.task.status == "completed"
        if to_the_end:
            state = await env.rpc(
                "GetProcessInstance",
                pb.GetProcessInstanceRequest(instance_id=started.instance.id),
                env.user("admin1", ["admin"]),
            )
            [approve] = state.instance.open_tasks
            await env.rpc(
                "CompleteTask",
                pb.CompleteTaskRequest(task_id=approve.id, decision="approve"),
                env.user(f"pres-{branch}", ["president"], branch),
            )

    await run("B1", "APP-D1", to_the_end=True)
    await run("B1", "APP-D2", to_the_end=False)
    await run("B2", "APP-D3", to_the_end=False)

    async def counts(user_id: str, roles: list[str], branch: str) -> dict[str, int]:
        reply = await env.rpc(
            "GetNodeDurations", pb.GetNodeDurationsRequest(process_key="seq_approval"), env.user(user_id, roles, branch)
        )
        return {n.node_id: n.count for n in reply.nodes}

    assert await counts("sup-B1", ["supervisor"], "B1") == {"review": 2, "approve": 1}
    assert await counts("pres-B2", ["president"], "B2") == {"review": 1}
    assert await counts("officer-B3", ["officer"], "B3") == {}
    for role in ("admin", "auditor", "risk_director"):
        assert await counts(f"{role}1", [role], "HQ") == {"review": 3, "approve": 1}, role
