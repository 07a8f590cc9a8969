"""GET /api/v1/applications/{id}/timeline: where application X is, over REST.

Nodes passed and pending, who holds the open one and since when, the time each node took,
the whole process trail and credit's opinions; another branch's officer gets 404.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.integration.conftest import login
from tests.integration.sop.support import build_world, model_file

pytestmark = pytest.mark.integration

SOP = model_file("credit_sop.bpmn")
TIERS = model_file("approval_tiers.dmn")


async def test_the_timeline_shows_nodes_passed_and_pending_holders_durations_and_opinions(
    start_service, gateway
) -> None:
    world = await build_world(start_service)
    await world.deploy(SOP, TIERS)
    app = await world.application("80000")
    instance = await world.start_sop(app.id)
    await world.survey_done(instance.id, app.id)
    [review] = await world.open_tasks(instance.id)

    async with gateway() as client:
        officer = await login(client, "officer")
        supervisor = await login(client, "supervisor")
        president = await login(client, "president")
        elsewhere = await login(client, "officer_hx")
        url = f"/api/v1/applications/{app.id}/timeline"

        done = await client.post(
            f"/api/v1/tasks/{review.id}/complete",
            json={"decision": "approve", "comment": "初审同意"},
            headers=supervisor,
        )
        assert done.status_code == 200, done.text
        [pending] = await world.open_tasks(instance.id)
        assert pending.node_id == "president_approval"

        reply = await client.get(url, headers=officer)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert (body["application_id"], body["status"]) == (app.id, "in_review")
        [process] = body["processes"]
        assert (process["instance_id"], process["process_key"], process["status"]) == (
            instance.id,
            "credit_sop",
            "running",
        )
        assert "president_approval" in process["active_nodes"]
        passed, waiting = body["steps"]
        assert (passed["node_id"], passed["status"], passed["decision"], passed["comment"]) == (
            "initial_review",
            "completed",
            "approve",
            "初审同意",
        )
        assert passed["holder_id"] == world.staff["supervisor"].user_id
        took = datetime.fromisoformat(passed["ended_at"]) - datetime.fromisoformat(passed["started_at"])
        assert passed["duration_seconds"] == pytest.approx(took.total_seconds(), abs=0.01)
        assert (waiting["node_id"], waiting["status"], waiting["candidate_role"], waiting["holder_id"]) == (
            "president_approval",
            "open",
            "president",
            None,
        )
        assert waiting["ended_at"] is None and waiting["due_at"] is not None
        assert body["current"] == [waiting]
        actions = [e["action"] for e in body["events"]]
        assert actions[0] == "instance.started" and "message.received" in actions
        assert ("initial_review", "task.completed", world.staff["supervisor"].user_id) in [
            (e["node_id"], e["action"], e["actor_id"]) for e in body["events"]
        ]
        # The supervisor's approval is on record before the president decides.
        assert [(o["node"], o["decision"], o["actor_id"], o["role"], o["comment"]) for o in body["opinions"]] == [
            ("initial_review", "approve", world.staff["supervisor"].user_id, "supervisor", "初审同意")
        ]

        # The president claims it: the timeline names the holder, since the task was created.
        claimed = await client.post(f"/api/v1/tasks/{pending.id}/claim", headers=president)
        assert claimed.status_code == 200, claimed.text
        [now_open] = (await client.get(url, headers=officer)).json()["current"]
        assert (now_open["holder_id"], now_open["started_at"]) == (
            world.staff["president"].user_id,
            waiting["started_at"],
        )

        # Another branch's officer neither sees it nor learns that it exists.
        hidden = await client.get(url, headers=elsewhere)
        missing = await client.get("/api/v1/applications/NO-SUCH-APPLICATION/timeline", headers=officer)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.headers["content-type"].startswith("application/problem+json")

        decided = await client.post(
            f"/api/v1/tasks/{pending.id}/complete",
            json={"decision": "approve", "comment": "同意放款"},
            headers=president,
        )
        assert decided.status_code == 200, decided.text
        [sign] = await world.open_tasks(instance.id)
        assert sign.node_id == "sign"
        body = (await client.get(url, headers=officer)).json()
        assert body["status"] == "approved"
        assert [(s["node_id"], s["status"]) for s in body["steps"]] == [
            ("initial_review", "completed"),
            ("president_approval", "completed"),
            ("sign", "open"),
        ]
        assert [(o["node"], o["decision"], o["actor_id"], o["role"], o["comment"]) for o in body["opinions"]] == [
            ("initial_review", "approve", world.staff["supervisor"].user_id, "supervisor", "初审同意"),
            ("president_approval", "approve", world.staff["president"].user_id, "president", "同意放款"),
        ]
