"""The credit SOP as shipped in bpmn/, driven on the real services.

Three applications hit the three approval tiers and land in the right inboxes, are approved,
contracted, disbursed and get their post-loan check task; a reject; a return and resubmit.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.grpc_client import call
from tests.integration.sop.support import World, build_world, model_file
from tests.support import eventually

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")


def fast_first_check(model: tuple[str, bytes]) -> tuple[str, bytes]:
    """The SOP with its first post-loan check due after 1 s instead of 30 days (nothing else changed)."""
    name, content = model
    assert content.count(b'"P30D"') == 1
    return name, content.replace(b'"P30D"', b'"PT1S"')


async def survey_and_route(world: World, amount: str, rating: str = "B") -> tuple[str, str]:
    app = await world.application(amount)
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id, rating)
    return app.id, instance.id


async def sign_and_disburse(world: World, instance_id: str, application_id: str) -> None:
    [sign] = await world.open_tasks(instance_id)
    assert (sign.node_id, sign.candidate_role) == ("sign", "officer")
    assert await world.app_status(application_id) == "approved"
    await world.decide(sign, "officer", "submit", evidence_ref=f"scan-{application_id}")


async def test_three_tiers_reach_the_right_inboxes_and_each_loan_gets_its_post_loan_check(start_service) -> None:
    world = await build_world(start_service)
    deployed = await world.deploy(fast_first_check(SOP), TIERS)
    assert deployed.created and deployed.version.process_key == "credit_sop"

    # (amount, the inboxes it passes through in order)
    cases = [
        ("30000", [("initial_review", "supervisor", "supervisor")]),
        ("80000", [("initial_review", "supervisor", "supervisor"), ("president_approval", "president", "president")]),
        (
            "600000",
            [
                ("initial_review", "supervisor", "supervisor"),
                ("president_approval", "president", "president"),
                ("risk_approval", "risk_director", "risk"),
            ],
        ),
    ]
    started = []
    for amount, path in cases:
        app_id, instance_id = await survey_and_route(world, amount)
        started.append((app_id, instance_id, path))

    for app_id, instance_id, path in started:
        for node, role, who in path:
            [task] = await world.open_tasks(instance_id)
            assert (task.node_id, task.candidate_role, task.branch_id) == (node, role, world.branches["CG"])
            assert task.due_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(hours=47)
            # The role's inbox shows it; another branch's holder of the role does not see it.
            inbox = await world.process_rpc("ListTasks", world.staff[who], view="claimable")
            assert task.id in [t.id for t in inbox.tasks]
            if role == "supervisor":
                elsewhere = await world.process_rpc("ListTasks", world.staff["supervisor_hx"], view="claimable")
                assert task.id not in [t.id for t in elsewhere.tasks]
            assert await world.app_status(app_id) == "in_review"
            await world.decide(task, who, "approve", comment=f"{node} 同意")
        await sign_and_disburse(world, instance_id, app_id)

    for app_id, instance_id, path in started:

        async def checked(app_id: str = app_id) -> bool:
            return len(await world.field_tasks(f"{app_id}/post-loan/1")) == 1

        await eventually(checked, timeout=30)
        assert await world.app_status(app_id) == "disbursed"
        variables = await world.variables(instance_id)
        assert variables["loan"]["application_id"] == app_id and variables["loan"]["status"] == "active"
        assert variables["tier"] == path[-1][1] and variables["checks_planned"] == 12
        [check] = await world.field_tasks(f"{app_id}/post-loan/1")
        assert check.assignee_id == world.staff["officer"].user_id
        # The next check waits for the product's frequency (monthly).
        state = await world.until_node(instance_id, "next_check_wait")
        [timer] = [t for t in state.timers if t.node_id == "next_check_wait"]
        assert timer.due_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(days=27)
        opinions = (await world.credit_rpc("GetApplication", world.system, application_id=app_id)).application.opinions
        # One opinion per decision, in order, each naming the approver who decided (not the
        # process service) and the role they decided in.
        assert [(o.node, o.decision, o.actor_id, o.role, o.comment) for o in opinions] == [
            (node, "approve", world.staff[who].user_id, role, f"{node} 同意") for node, role, who in path
        ]


async def test_rating_a_skips_the_initial_review_and_the_committee_countersigns(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    _, instance_id = await survey_and_route(world, "80000", rating="A")
    [task] = await world.open_tasks(instance_id)
    assert (task.node_id, task.candidate_role) == ("president_approval", "president")

    big_app, big = await survey_and_route(world, "1200000")
    for node, who in [("initial_review", "supervisor"), ("president_approval", "president")]:
        [task] = await world.open_tasks(big)
        assert task.node_id == node
        await world.decide(task, who)
    votes = await world.open_tasks(big, count=3)
    assert len(votes) == 3
    assert {(v.node_id, v.candidate_role) for v in votes} == {("committee_vote", "committee_member")}
    for vote, member in zip(votes, ["member1", "member2", "member3"], strict=True):
        await world.decide(vote, member, comment="会签同意")
    await sign_and_disburse(world, big, big_app)
    # As shipped, the first post-loan check waits 30 days after disbursement.
    state = await world.until_node(big, "first_check_wait")
    [timer] = [t for t in state.timers if t.node_id == "first_check_wait"]
    assert timer.due_at.ToDatetime(UTC) > datetime.now(UTC) + timedelta(days=29)
    assert await world.app_status(big_app) == "disbursed"
    opinions = (await world.credit_rpc("GetApplication", world.system, application_id=big_app)).application.opinions
    # The supervisor's and the president's approvals are on record before the committee's; each
    # member's ballot is an opinion of its own, then the committee's decision.
    members = ["member1", "member2", "member3"]
    assert [(o.node, o.decision, o.actor_id, o.role) for o in opinions] == [
        ("initial_review", "approve", world.staff["supervisor"].user_id, "supervisor"),
        ("president_approval", "approve", world.staff["president"].user_id, "president"),
        *[
            (f"committee_vote/{n}", "approve", world.staff[m].user_id, "committee_member")
            for n, m in enumerate(members, start=1)
        ],
        ("committee_vote", "approve", world.staff["member3"].user_id, "committee_member"),
    ]


async def test_reject_tells_the_officer_and_return_goes_back_then_resubmission_re_enters_review(
    start_service,
) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)

    rejected_app, rejected = await survey_and_route(world, "30000")
    [task] = await world.open_tasks(rejected)
    await world.decide(task, "supervisor", "reject", comment="经营流水不足")

    async def ended() -> bool:
        return (await world.instance(rejected)).status == "completed"

    await eventually(ended, timeout=30)
    assert await world.app_status(rejected_app) == "rejected"
    variables = await world.variables(rejected)
    # The officer reads the reason in the app.
    officer = world.staff["officer"]
    inbox = world.channels.stub(
        os.environ["GRANARY_NOTIFICATION_ADDRESS"], notification_pb2_grpc.NotificationServiceStub
    )
    listed = await call(inbox.ListNotifications, notification_pb2.ListNotificationsRequest(), caller=officer)
    notices = listed.notifications
    assert [(n.title, n.body) for n in notices if n.source_event_type == "process.notice"] == [
        (f"贷款申请未通过 · {rejected_app}", "经营流水不足")
    ]
    assert variables["officer_notice"]["notification"]["recipient_id"] == officer.user_id
    assert variables["rejected"]["status"] == "rejected"
    application = (await world.credit_rpc("GetApplication", world.system, application_id=rejected_app)).application
    assert [(o.node, o.decision, o.comment, o.actor_id, o.role) for o in application.opinions] == [
        ("initial_review", "reject", "经营流水不足", world.staff["supervisor"].user_id, "supervisor")
    ]

    returned_app, returned = await survey_and_route(world, "80000")
    [task] = await world.open_tasks(returned)
    await world.decide(task, "supervisor", "approve")
    [task] = await world.open_tasks(returned)
    assert task.node_id == "president_approval"
    await world.decide(task, "president", "return", comment="补充担保人资料")
    [revise] = await world.open_tasks(returned)
    assert (revise.node_id, revise.candidate_role) == ("revise", "officer")
    assert await world.app_status(returned_app) == "returned"
    state = await world.instance(returned)
    assert json_comment(state) == "补充担保人资料"
    await world.decide(revise, "officer", "submit", comment="已补充")
    # Resubmitted: review starts again from the tier routing.
    [task] = await world.open_tasks(returned)
    assert (task.node_id, task.candidate_role) == ("initial_review", "supervisor")
    assert await world.app_status(returned_app) == "in_review"
    await world.decide(task, "supervisor")
    [task] = await world.open_tasks(returned)
    await world.decide(task, "president", comment="同意")
    await sign_and_disburse(world, returned, returned_app)
    await world.until_node(returned, "first_check_wait")
    assert await world.app_status(returned_app) == "disbursed"
    history = (await world.instance(returned)).history
    decisions = [(h.node_id, h.decision) for h in history if h.action == "task.completed"]
    assert decisions == [
        ("initial_review", "approve"),
        ("president_approval", "return"),
        ("revise", "submit"),
        ("initial_review", "approve"),
        ("president_approval", "approve"),
        ("sign", "submit"),
    ]


def json_comment(state: object) -> str:
    import json

    return str(json.loads(state.variables_json)["comment"])  # type: ignore[attr-defined]
