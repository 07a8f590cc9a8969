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
        # A second running instance of the same process for the same business key is refused.
        twice = await client.post(
            "/api/v1/process-instances",
            headers=officer,
            json={"process_key": "seq_approval", "business_key": "APP-R1", "variables": {"amount": "30000"}},
        )
        assert twice.status_code == 409, twice.text
        assert (twice.json()["reason"], twice.json()["instance_id"]) == ("INSTANCE_RUNNING", started.json()["id"])
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
        # Once it no longer runs, the business key may start again.
        again = await client.post(
            "/api/v1/process-instances",
            headers=officer,
            json={"process_key": "seq_approval", "business_key": "APP-R1", "variables": {"amount": "30000"}},
        )
        assert again.status_code == 201 and again.json()["id"] != started.json()["id"]


async def test_incidents_page_through_a_cursor_over_rest(process_env, gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.process.test_process_guards import LOOP

    env = await process_env()
    monkeypatch.setenv("GRANARY_PROCESS_ADDRESS", f"127.0.0.1:{env.host.port}")
    owner = bearer(env, "owner1", ["process_owner"])
    officer = bearer(env, "officer1", ["officer"])
    admin = bearer(env, "admin1", ["admin"])
    async with gateway() as client:
        deployed = await client.post("/api/v1/process-models", headers=owner, files=[("files", ("loop.bpmn", LOOP))])
        assert deployed.status_code == 201, deployed.text
        stopped = []
        for n in range(5):
            reply = await client.post(
                "/api/v1/process-instances",
                headers=officer,
                json={"process_key": "endless", "business_key": f"APP-P{n}", "variables": {"n": 0}},
            )
            assert reply.status_code == 201 and reply.json()["status"] == "incident", reply.text
            stopped.append(reply.json()["id"])

        seen: list[str] = []
        pages = 0
        cursor = ""
        while True:
            page = await client.get(
                "/api/v1/process-incidents",
                headers=admin,
                params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            )
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 2
            seen += [i["instance_id"] for i in body["items"]]
            pages += 1
            if not body["next_cursor"]:
                break
            cursor = body["next_cursor"]
        # Every incident exactly once, newest first, over three pages of at most two.
        assert pages == 3
        assert seen == list(reversed(stopped))
        everything = (await client.get("/api/v1/process-incidents", headers=admin)).json()
        assert [i["instance_id"] for i in everything["items"]] == seen and everything["next_cursor"] is None
        bad = await client.get("/api/v1/process-incidents", headers=admin, params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422
