"""The opinion credit records for a decision names the user who decided, not the engine.

The process service passes the acting user with the service call that follows a decision;
credit accepts that only from a service identity.
"""

from __future__ import annotations

import pytest

from services.common.grpc_errors import RemoteError
from tests.integration.sop.support import build_world, model_file

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")


async def test_a_return_by_the_president_is_recorded_as_the_presidents_opinion(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    app = await world.application("80000")
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id)
    [task] = await world.open_tasks(instance.id)
    await world.decide(task, "supervisor", comment="初审同意")
    [task] = await world.open_tasks(instance.id)
    await world.decide(task, "president", "return", comment="补充担保人资料")
    [revise] = await world.open_tasks(instance.id)
    assert revise.node_id == "revise"
    opinions = (await world.credit_rpc("GetApplication", world.system, application_id=app.id)).application.opinions
    assert [(o.node, o.decision, o.actor_id, o.role, o.comment) for o in opinions] == [
        ("initial_review", "approve", world.staff["supervisor"].user_id, "supervisor", "初审同意"),
        ("president_approval", "return", world.staff["president"].user_id, "president", "补充担保人资料"),
    ]


async def test_only_a_service_may_record_an_opinion_on_behalf_of_someone_else(start_service) -> None:
    world = await build_world(start_service)
    app = await world.application("30000")
    president = world.staff["president"].user_id
    with pytest.raises(RemoteError) as forged:
        await world.credit_rpc(
            "AddApprovalOpinion",
            world.staff["supervisor"],
            application_id=app.id,
            node="initial_review",
            decision="comment",
            comment="代行长签",
            actor_id=president,
            actor_role="president",
        )
    assert forged.value.status == "PERMISSION_DENIED"
    with pytest.raises(RemoteError) as bad_role:
        await world.credit_rpc(
            "TransitionApplication",
            world.system,
            application_id=app.id,
            action="start_review",
            actor_id=president,
            actor_role="janitor",
        )
    assert bad_role.value.status == "INVALID_ARGUMENT"
    assert [v.field for v in bad_role.value.violations] == ["actor_role"]  # type: ignore[attr-defined]
    assert await world.app_status(app.id) == "submitted", "a refused call changes nothing"

    opinion = (
        await world.credit_rpc(
            "AddApprovalOpinion",
            world.system,
            application_id=app.id,
            node="initial_review",
            decision="comment",
            comment="请补充流水",
            actor_id=president,
            actor_role="president",
        )
    ).opinion
    assert (opinion.actor_id, opinion.role, opinion.comment) == (president, "president", "请补充流水")
    # Without an on-behalf user the caller is named, as before.
    own = (
        await world.credit_rpc(
            "AddApprovalOpinion",
            world.staff["supervisor"],
            application_id=app.id,
            node="initial_review",
            decision="comment",
            comment="已阅",
        )
    ).opinion
    assert (own.actor_id, own.role) == (world.staff["supervisor"].user_id, "supervisor")
