"""The other models of bpmn/ on the same engine, each deployed and driven once on the real services."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from granary.v1 import fieldtask_pb2

from tests.integration.sop.support import World, build_world, model_file
from tests.support import eventually

pytestmark = pytest.mark.integration


def faster(model: tuple[str, bytes], *durations: str) -> tuple[str, bytes]:
    name, content = model
    for duration in durations:
        quoted = f'"{duration}"'.encode()
        assert quoted in content, duration
        content = content.replace(quoted, b'"PT1S"')
    return name, content


async def start(world: World, key: str, business_key: str, who: str = "officer", **variables: Any) -> Any:
    reply = await world.process_rpc(
        "StartProcessInstance",
        world.staff[who],
        process_key=key,
        business_key=business_key,
        variables_json=json.dumps(variables),
    )
    return reply.instance


async def completed(world: World, instance_id: str) -> Any:
    async def done() -> bool:
        state = await world.instance(instance_id)
        assert state.status != "incident", [h.comment for h in state.history]
        return state.status == "completed"

    await eventually(done, timeout=30)
    return await world.instance(instance_id)


async def test_key_data_change_is_applied_after_approval(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(model_file("customer_change.bpmn"))
    party_id = await world.party()
    change = (
        await world.customer_rpc(
            "RequestPartyChange",
            world.staff["officer"],
            party_id=party_id,
            field="mobile",
            new_value="13905719999",
            reason="客户更换手机号",
        )
    ).change
    instance = await start(world, "customer_change", change.id)
    [review] = await world.open_tasks(instance.id)
    assert (review.node_id, review.candidate_role) == ("review", "supervisor")
    await world.decide(review, "supervisor", comment="已核对身份证与新号码")
    state = await completed(world, instance.id)
    assert json.loads(state.variables_json)["change"]["status"] == "applied"
    changes = (await world.customer_rpc("ListPartyChanges", world.system, party_id=party_id)).changes
    assert [(c.id, c.status) for c in changes] == [(change.id, "applied")]


async def test_complaint_is_dispatched_handled_confirmed_and_called_back(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(faster(model_file("complaint_handling.bpmn"), "P3D"))
    instance = await start(world, "complaint_handling", "TS-2026-0001", summary="放款延迟")
    steps = [
        ("dispatch", "supervisor", "supervisor", "submit", {}),
        ("handle", "officer", "officer_b", "submit", {"resolution": "已说明放款时间并致歉"}),
        ("confirm", "officer", "officer_b", "return", {}),  # the customer is not satisfied yet
        ("handle", "officer", "officer_b", "submit", {"resolution": "当日完成放款"}),
        ("confirm", "officer", "officer_b", "approve", {}),
        ("callback", "officer", "officer_b", "submit", {"satisfaction": "5"}),
    ]
    for node, role, who, decision, data in steps:
        [task] = await world.open_tasks(instance.id)
        assert (task.node_id, task.candidate_role) == (node, role)
        await world.decide(task, who, decision, **data)
    state = await completed(world, instance.id)
    variables = json.loads(state.variables_json)
    assert (variables["resolution"], variables["satisfaction"]) == ("当日完成放款", "5")
    assert [h.node_id for h in state.history if h.action == "timer.fired"] == ["wait_callback"]


async def disbursed_loan(world: World) -> Any:
    app = await world.application("20000")
    system = world.system
    for action in ("start_review", "approve"):
        await world.credit_rpc("TransitionApplication", system, application_id=app.id, action=action, node="n1")
    contract = (
        await world.credit_rpc("GenerateContract", system, application_id=app.id, template_code="LOAN_STANDARD")
    ).contract
    await world.credit_rpc(
        "SignContract",
        system,
        contract_id=contract.id,
        method="manual",
        evidence_ref="scan-1",
        content_hash=contract.content_hash,
    )
    reply = await world.credit_rpc("DisburseLoan", system, application_id=app.id, external_ref=f"T-{uuid.uuid4().hex}")
    return reply.loan


async def test_overdue_follow_up_with_a_kept_promise_ends_without_collections(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(faster(model_file("overdue_follow_up.bpmn"), "P7D"))
    loan = await disbursed_loan(world)
    instance = await start(world, "overdue_follow_up", loan.id, who="supervisor")

    async def waiting() -> bool:
        return list((await world.instance(instance.id)).waiting_messages) == ["fieldtask.task.completed"]

    await eventually(waiting, timeout=30)
    [visit] = await world.field_tasks(loan.id)
    assert visit.assignee_id == world.staff["officer"].user_id
    # The officer met the borrower, who promised to pay within the week (and did: the loan is current).
    await world.survey_done(
        instance.id,
        loan.id,
        task_type=fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP,
        results={"promise_to_pay": "true", "promise_date": "2026-07-01"},
    )
    state = await completed(world, instance.id)
    nodes = [h.node_id for h in state.history]
    assert "wait_promise" in nodes and "collections" not in nodes
    variables = json.loads(state.variables_json)
    assert variables["loan_now"].get("dpd", 0) == 0 and variables["loan_now"]["id"] == loan.id
    assert json.loads(state.variables_json)["loan"]["id"] == loan.id


async def test_credit_line_adjustment_grants_the_new_limit_after_approval(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(model_file("credit_line_adjustment.bpmn"))
    party_id = await world.party()
    instance = await start(
        world,
        "credit_line_adjustment",
        f"ADJ-{party_id}",
        party_id=party_id,
        new_limit="150000",
        valid_until="2029-12-31",
        reason="扩大种植面积",
    )
    [task] = await world.open_tasks(instance.id)
    assert (task.node_id, task.candidate_role) == ("supervisor_review", "supervisor")
    await world.decide(task, "supervisor", comment="同意调整")
    state = await completed(world, instance.id)
    line = json.loads(state.variables_json)["credit_line"]
    lines = (await world.credit_rpc("ListCreditLines", world.system, party_id=party_id)).credit_lines
    assert [(entry.id, entry.limit) for entry in lines] == [(line["id"], "150000.00")]


async def test_overdue_follow_up_without_a_promise_goes_to_collections(start_service) -> None:
    world = await build_world(start_service)
    await world.deploy(model_file("overdue_follow_up.bpmn"))
    loan = await disbursed_loan(world)
    instance = await start(world, "overdue_follow_up", loan.id, who="supervisor")
    await world.survey_done(
        instance.id, loan.id, task_type=fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP, results={"refused": "true"}
    )
    [task] = await world.open_tasks(instance.id)
    assert (task.node_id, task.candidate_role) == ("collections", "supervisor")
    await world.decide(task, "supervisor", "submit", comment="移交法务催收")
    state = await completed(world, instance.id)
    assert "wait_promise" not in [h.node_id for h in state.history]
