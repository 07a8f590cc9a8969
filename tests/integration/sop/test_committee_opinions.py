"""Every ballot of the loan committee's countersign (会签) is an approval opinion in credit.

An application over 1,000,000 goes to the committee: each ballot cast is recorded as an opinion
of its own (node ``committee_vote/<n>``, in the order the members voted, in the member's name and
role), then the committee's decision as before (node ``committee_vote``). The process service
restarted between two ballots, and killed right after credit recorded a ballot but before it
noted the reply, loses no opinion and records none twice. A model may record a call on behalf
of someone only if that person decided a task of the same instance.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.runtime import ServiceHost
from services.process.operators import grpc_operators
from tests.integration.sop.support import World, build_world, model_file, restart_process
from tests.support import SimulatedCrash, eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")
MEMBER = "committee_member"


@pytest.fixture
async def restarted() -> AsyncIterator[list[ServiceHost]]:
    """Process services a test started again; the last one still runs at the end and is stopped."""
    hosts: list[ServiceHost] = []
    yield hosts
    if hosts:
        await hosts[-1].stop()


async def opinions(world: World, application_id: str) -> list[tuple[str, str, str, str, str]]:
    application = (await world.credit_rpc("GetApplication", world.system, application_id=application_id)).application
    return [(o.node, o.decision, o.actor_id, o.role, o.comment) for o in application.opinions]


async def to_countersign(world: World) -> tuple[str, str, list[Any]]:
    """An application of 1,200,000 approved by the supervisor and the president: three open ballots."""
    app = await world.application("1200000")
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id)
    steps = [("initial_review", "supervisor", "初审同意"), ("president_approval", "president", "行长同意")]
    for node, who, comment in steps:
        [task] = await world.open_tasks(instance.id)
        assert task.node_id == node
        await world.decide(task, who, comment=comment)
    votes = await world.open_tasks(instance.id, count=3)
    assert [(v.node_id, v.candidate_role) for v in votes] == [("committee_vote", MEMBER)] * 3
    return app.id, instance.id, votes


def lower_tiers(world: World) -> list[tuple[str, str, str, str, str]]:
    return [
        ("initial_review", "approve", world.staff["supervisor"].user_id, "supervisor", "初审同意"),
        ("president_approval", "approve", world.staff["president"].user_id, "president", "行长同意"),
    ]


async def test_each_ballot_is_an_opinion_in_voting_order_then_the_committee_decision(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    app_id, instance_id, votes = await to_countersign(world)
    # The members vote in another order than the inbox lists the ballots.
    cast = [
        (votes[2], "member3", "经营稳定，同意"),
        (votes[0], "member1", "抵押充足，同意"),
        (votes[1], "member2", "同意"),
    ]
    for ballot, member, comment in cast:
        await world.decide(ballot, member, comment=comment)
    [sign] = await world.open_tasks(instance_id)
    assert sign.node_id == "sign"
    assert await world.app_status(app_id) == "approved"
    member = world.staff
    assert await opinions(world, app_id) == [
        *lower_tiers(world),
        ("committee_vote/1", "approve", member["member3"].user_id, MEMBER, "经营稳定，同意"),
        ("committee_vote/2", "approve", member["member1"].user_id, MEMBER, "抵押充足，同意"),
        ("committee_vote/3", "approve", member["member2"].user_id, MEMBER, "同意"),
        # The committee's decision, as before: the closing ballot's member and comment.
        ("committee_vote", "approve", member["member2"].user_id, MEMBER, "同意"),
    ]
    state = await world.instance(instance_id)
    recorded = [h for h in state.history if h.action == "service.completed" and h.node_id == "committee_vote_opinions"]
    assert len(recorded) == 3
    assert [v["decided_by"] for v in json.loads(state.variables_json)["committee_votes"]] == [
        member[m].user_id for m in ("member3", "member1", "member2")
    ]


async def test_restart_between_ballots_and_a_kill_after_credit_recorded_one_lose_and_double_nothing(
    start_service, monkeypatch: pytest.MonkeyPatch, restarted: list[ServiceHost]
) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    app_id, instance_id, votes = await to_countersign(world)
    member = world.staff

    await world.decide(votes[1], "member2", comment="同意")
    restarted.append(await restart_process(world, monkeypatch))
    # After the restart the cast ballot is kept and the other two still wait.
    left = await world.open_tasks(instance_id, count=2)
    assert sorted(t.id for t in left) == sorted([votes[0].id, votes[2].id])
    await world.decide(votes[0], "member1", comment="担保充足，同意")

    # The closing ballot (a reject) starts the opinion calls. The service dies right after credit
    # answered the second one, before it noted the reply: that call is made again after the restart.
    worker = world.process.process_worker  # type: ignore[attr-defined]
    worker.settings.lease_seconds = 1  # the restarted service takes the unfinished call over soon
    real = grpc_operators(world.process.channels, world.process.address_of)
    killed_after: list[str] = []

    async def recorded_then_killed(params: dict[str, Any], key: str) -> Any:
        reply = await real.call("credit.add_opinion", params, key)
        if params["node"] == "committee_vote/2" and not killed_after:
            killed_after.append(key)
            raise SimulatedCrash
        return reply

    worker.operators.replace("credit.add_opinion", recorded_then_killed)
    await world.decide(votes[2], "member3", "reject", comment="还款来源不足")

    async def killed() -> bool:
        return bool(killed_after)

    await eventually(killed, timeout=30)
    assert [o[0] for o in await opinions(world, app_id)][-1] == "committee_vote/2", "credit recorded it"
    restarted.append(await restart_process(world, monkeypatch))

    async def ended() -> bool:
        return (await world.instance(instance_id)).status == "completed"

    await eventually(ended, timeout=60)
    assert await world.app_status(app_id) == "rejected"
    assert await opinions(world, app_id) == [
        *lower_tiers(world),
        ("committee_vote/1", "approve", member["member2"].user_id, MEMBER, "同意"),
        ("committee_vote/2", "approve", member["member1"].user_id, MEMBER, "担保充足，同意"),
        ("committee_vote/3", "reject", member["member3"].user_id, MEMBER, "还款来源不足"),
        ("committee_vote", "reject", member["member3"].user_id, MEMBER, "还款来源不足"),
    ]


def opinion_model(process_id: str, on_behalf_of: str) -> bytes:
    """A supervisor's review, a president's sign-off, then one opinion named by ``on_behalf_of``."""
    review = (
        '<bpmn:userTask id="review" name="初审"><bpmn:extensionElements>'
        "<spiffworkflow:postScript>reviewer = decided_by</spiffworkflow:postScript>"
        "</bpmn:extensionElements></bpmn:userTask>"
    )
    note = d.service(
        "note",
        "credit.add_opinion",
        {
            "application_id": ("str", "business_key"),
            "node": ("str", '"review"'),
            "decision": ("str", '"approve"'),
            "comment": ("str", '"初审意见补录"'),
            "on_behalf_of": ("str", on_behalf_of),
        },
    )
    return d.bpmn(
        process_id,
        [d.start(), review, d.user("sign_off", "行长签阅"), note, d.end()],
        d.chain("start", "review", "sign_off", "note", "end"),
        {"supervisor": ["review"], "president": ["sign_off"]},
    )


async def run_opinion_model(world: World, process_id: str, variables: dict[str, str]) -> tuple[str, Any]:
    app = await world.application("30000")
    started = (
        await world.process_rpc(
            "StartProcessInstance",
            world.staff["officer"],
            process_key=process_id,
            business_key=app.id,
            variables_json=json.dumps(variables),
        )
    ).instance
    [review] = started.open_tasks
    await world.decide(review, "supervisor")
    [sign_off] = await world.open_tasks(started.id)
    await world.decide(sign_off, "president")

    async def settled() -> bool:
        return (await world.instance(started.id)).status in ("completed", "incident")

    await eventually(settled, timeout=30)
    return app.id, await world.instance(started.id)


async def test_a_call_names_only_someone_who_decided_in_the_instance(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(("named.bpmn", opinion_model("named_opinion", "reviewer")))
    await world.deploy(("forged.bpmn", opinion_model("forged_opinion", "named")))
    # Made after the president's step, the opinion is still the supervisor's: the model names them.
    app_id, state = await run_opinion_model(world, "named_opinion", {})
    assert state.status == "completed"
    supervisor = world.staff["supervisor"].user_id
    assert await opinions(world, app_id) == [("review", "approve", supervisor, "supervisor", "初审意见补录")]

    # Someone who decided nothing in this instance cannot be named: an incident, nothing recorded.
    outsider = world.staff["risk"].user_id
    app_id, state = await run_opinion_model(world, "forged_opinion", {"named": outsider})
    assert state.status == "incident"
    [raised] = [h for h in state.history if h.action == "incident.raised"]
    assert raised.node_id == "note" and "on_behalf_of" in raised.comment and outsider in raised.comment
    assert await opinions(world, app_id) == []
