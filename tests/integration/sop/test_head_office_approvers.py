"""Head-office approvers take their tasks from every branch; branch roles stay in their branch.

The risk director and the committee members sit in the head office, while the applications
and their tasks belong to a branch (城关). They see and decide their own role's tasks of any
branch; a supervisor or president of another branch neither sees nor acts on them; an auditor
reads everything and decides nothing; four-eyes still holds for a head-office approver.
"""

from __future__ import annotations

import pytest

from services.common.grpc_errors import RemoteError
from tests.integration.sop.support import World, build_world, model_file
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")


async def claimable(world: World, who: str) -> list[str]:
    reply = await world.process_rpc("ListTasks", world.staff[who], view="claimable")
    return [t.id for t in reply.tasks]


async def refused(world: World, rpc: str, who: str, **fields: object) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        await world.process_rpc(rpc, world.staff[who], **fields)
    return caught.value


async def test_head_office_risk_director_and_committee_decide_branch_tasks_others_stay_in_their_branch(
    start_service,
) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    app = await world.application("1200000")
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id)

    [review] = await world.open_tasks(instance.id)
    assert (review.node_id, review.branch_id) == ("initial_review", world.branches["CG"])
    # Branch roles of another branch: not in their inbox, not visible, not actionable.
    assert review.id not in await claimable(world, "supervisor_hx")
    for rpc in ("GetTask", "ClaimTask"):
        assert (await refused(world, rpc, "supervisor_hx", task_id=review.id)).status == "NOT_FOUND"
    error = await refused(world, "CompleteTask", "supervisor_hx", task_id=review.id, decision="approve")
    assert error.status == "NOT_FOUND"
    # A head-office role does not take tasks of a branch role.
    assert review.id not in await claimable(world, "risk")
    error = await refused(world, "CompleteTask", "risk", task_id=review.id, decision="approve")
    assert error.status == "NOT_FOUND"
    # The auditor reads the task and the instance from the head office, and decides nothing.
    assert (await world.process_rpc("GetTask", world.staff["auditor"], task_id=review.id)).task.id == review.id
    assert (await world.process_rpc("GetProcessInstance", world.staff["auditor"], instance_id=instance.id)).instance
    error = await refused(world, "CompleteTask", "auditor", task_id=review.id, decision="approve")
    assert error.status == "PERMISSION_DENIED"
    await world.decide(review, "supervisor")

    [president] = await world.open_tasks(instance.id)
    assert president.node_id == "president_approval"
    assert president.id not in await claimable(world, "president_hx")
    error = await refused(world, "CompleteTask", "president_hx", task_id=president.id, decision="approve")
    assert error.status == "NOT_FOUND"
    await world.decide(president, "president")

    votes = await world.open_tasks(instance.id, count=3)
    assert {(v.node_id, v.branch_id) for v in votes} == {("committee_vote", world.branches["CG"])}
    # Committee members of the head office see the branch's votes and the instance.
    for member in ("member1", "member2", "member3"):
        assert {v.id for v in votes} <= set(await claimable(world, member))
    seen = await world.process_rpc("GetProcessInstance", world.staff["member1"], instance_id=instance.id)
    assert seen.instance.business_key == app.id
    assert not set(await claimable(world, "supervisor_hx")) & {v.id for v in votes}
    for vote, member in zip(votes, ["member1", "member2", "member3"], strict=True):
        await world.decide(vote, member, comment="会签同意")
    [sign] = await world.open_tasks(instance.id)
    assert sign.node_id == "sign"
    assert await world.app_status(app.id) == "approved"


FOUR_EYES_MODEL = d.bpmn(
    "ho_four_eyes",
    [d.start(), d.user("risk_review", "风控审批"), d.end()],
    [*d.chain("start", "risk_review", "end")],
    {"risk_director": ["risk_review"]},
)


async def test_four_eyes_holds_for_a_head_office_approver(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(("ho.bpmn", FOUR_EYES_MODEL))
    risk = world.staff["risk"]
    started = (
        await world.process_rpc(
            "StartProcessInstance",
            risk,
            process_key="ho_four_eyes",
            business_key="HO-1",
            branch_id=world.branches["CG"],
        )
    ).instance
    [task] = list(started.open_tasks)
    assert (task.candidate_role, task.branch_id) == ("risk_director", world.branches["CG"])
    error = await refused(world, "CompleteTask", "risk", task_id=task.id, decision="approve")
    assert error.reason == "FOUR_EYES"
    assert task.id in await claimable(world, "risk"), "still waiting for another risk director"
    state = await world.instance(started.id)
    assert [t.status for t in state.open_tasks] == ["open"]
