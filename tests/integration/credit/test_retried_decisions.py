"""A decision retried after its answer was lost is recorded once.

The process engine calls credit with its job's Idempotency-Key. If credit commits an opinion
and dies before storing the answer, the stored answer is missing and the retry runs the use
case again: here the stored answer is removed to stand for that crash.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from services.common import messaging_schema
from services.common.idempotency import idempotency_key
from tests.integration.credit.support import Credit


async def forget_answers(credit: Credit) -> None:
    async with credit.host.engine.begin() as conn:
        await conn.execute(delete(messaging_schema.idempotency_keys))


async def test_a_retried_opinion_and_decision_after_a_lost_answer_are_recorded_once(credit: Credit) -> None:
    product = await credit.product()
    app = await credit.application(product, amount="80000")
    await credit.rpc("TransitionApplication", credit.supervisor, application_id=app.id, action="start_review")
    supervisor_id = credit.supervisor.user_id
    opinion = {"application_id": app.id, "node": "initial_review", "decision": "approve", "comment": "同意"}
    behalf = {"actor_id": supervisor_id, "actor_role": "supervisor"}

    job = f"process:{uuid.uuid4()}:initial_opinion"
    with idempotency_key(job):
        first = await credit.rpc("AddApprovalOpinion", credit.system, **opinion, **behalf)
    await forget_answers(credit)
    with idempotency_key(job):
        again = await credit.rpc("AddApprovalOpinion", credit.system, **opinion, **behalf)
    assert again.opinion.id == first.opinion.id

    decision = f"process:{uuid.uuid4()}:approve"
    president = {"actor_id": "president-7", "actor_role": "president"}
    approve = {"application_id": app.id, "action": "approve", "node": "president_approval", "comment": "同意"}
    with idempotency_key(decision):
        await credit.rpc("TransitionApplication", credit.system, **approve, **president)
    await forget_answers(credit)
    with idempotency_key(decision):
        retried = await credit.rpc("TransitionApplication", credit.system, **approve, **president)
    assert retried.application.status == "approved"

    # A new request (another key) is a new opinion, refused now that the application is decided.
    with idempotency_key(f"process:{uuid.uuid4()}:late"):
        refused = await credit.refused("AddApprovalOpinion", credit.system, **opinion, **behalf)
    assert refused.status == "FAILED_PRECONDITION"

    application = (await credit.rpc("GetApplication", credit.officer, application_id=app.id)).application
    assert [(o.node, o.decision, o.actor_id) for o in application.opinions] == [
        ("initial_review", "approve", supervisor_id),
        ("president_approval", "approve", "president-7"),
    ]
    assert [e.status for e in await credit.events("credit.application.approved")] == ["approved"]
