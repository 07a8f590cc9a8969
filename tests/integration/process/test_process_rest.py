"""The process endpoints through the real gateway: upload, 422 problem lists, inbox, 409s."""

from __future__ import annotations

import pytest

from tests.unit.process import diagrams as d


def bearer(env, user_id: str, roles: list[str], branch: str = "B1") -> dict[str, str]:  # type: ignore[no-untyped-def]
    token = env.signer.issue(user_id=user_id, username=user_id, roles=roles, branch_id=branch)
    return {"Authorization": f"Bearer {token}"}


async def test_upload_inbox_and_conflicts_over_rest(process_env, gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    env = await process_env()
    monkeypatch.setenv("GRANARY_PROCESS_ADDRESS", f"127.0.0.1:{env.host.port}")
    owner = bearer(env, "owner1", ["process_owner"])
    async with gateway() as client:
        bad = d.bpmn(
            "bad", [d.start(), d.script("s", "open('x')"), d.end()], d.chain("start", "s", "end"), {"nobody": ["s"]}
        )
        reply = await client.post(
            "/api/v1/process-models",
            headers=owner,
            files=[("files", ("bad.bpmn", bad)), ("files", ("x.dmn", b"<oops"))],
        )
        assert reply.status_code == 422, reply.text
        fields = {e["field"] for e in reply.json()["errors"]}
        assert {"bad.bpmn#s", "bad.bpmn#lane_0", "x.dmn"} <= fields
        assert (await client.get("/api/v1/process-models", headers=owner)).json()["items"] == []

        officer = bearer(env, "officer1", ["officer"])
        assert (
            await client.post("/api/v1/process-models", headers=officer, files=[("files", ("seq.bpmn", d.SEQUENTIAL))])
        ).status_code == 403
        reply = await client.post(
            "/api/v1/process-models", headers=owner, files=[("files", ("seq.bpmn", d.SEQUENTIAL))]
        )
        assert reply.status_code == 201 and reply.json()["version"]["version"] == 1
        again = await client.post(
            "/api/v1/process-models", headers=owner, files=[("files", ("seq.bpmn", d.SEQUENTIAL))]
        )
        assert again.status_code == 200 and again.json()["created"] is False
        download = await client.get("/api/v1/process-models/seq_approval/versions/1/files/seq.bpmn", headers=owner)
        assert download.content == d.SEQUENTIAL

        started = await client.post(
            "/api/v1/process-instances",
            headers=officer,
            json={"process_key": "seq_approval", "business_key": "APP-R1", "variables": {"amount": "30000"}},
        )
        assert started.status_code == 201, started.text
        supervisor = bearer(env, "sup1", ["supervisor"])
        inbox = (await client.get("/api/v1/tasks?view=claimable", headers=supervisor)).json()["items"]
        assert [t["business_key"] for t in inbox] == ["APP-R1"]
        task_id = inbox[0]["id"]
        assert (await client.post(f"/api/v1/tasks/{task_id}/claim", headers=supervisor)).status_code == 200
        other = bearer(env, "sup2", ["supervisor"])
        assert (await client.post(f"/api/v1/tasks/{task_id}/claim", headers=other)).status_code == 409
        done = await client.post(
            f"/api/v1/tasks/{task_id}/complete", headers=supervisor, json={"decision": "approve", "comment": "资料齐全"}
        )
        assert done.status_code == 200 and done.json()["status"] == "completed"
        repeat = await client.post(
            f"/api/v1/tasks/{task_id}/complete", headers=supervisor, json={"decision": "approve"}
        )
        assert repeat.status_code == 409
        state = (await client.get(f"/api/v1/process-instances/{started.json()['id']}", headers=officer)).json()
        assert [t["candidate_role"] for t in state["open_tasks"]] == ["president"]
        cancelled = await client.post(
            f"/api/v1/process-instances/{state['id']}/cancel", headers=officer, json={"reason": "客户撤回申请"}
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["open_tasks"] == []
