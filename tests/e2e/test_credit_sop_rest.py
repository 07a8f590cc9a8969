"""One loan's whole life through REST only, every service a `granary serve` process.

PostgreSQL and an external NATS (a stream and prefix of this test's own). Demo data is seeded
as `granary up` seeds it; a process owner then deploys the credit SOP with its first post-loan
check due after one second. Applications are submitted, surveyed in the field (accept,
check-in, photo, form, signature, submit, a supervisor completes), approved by the right
inboxes, contracted, disbursed and get their post-loan check; a reject; a return and
resubmission; the process service is SIGKILLed mid-approval and restarted; another branch's
staff neither see nor act.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.migrations import upgrade_async
from services.common.settings import SERVICE_NAMES, Settings
from services.demo import DEMO_PASSWORD, seed_demo_data
from tests.e2e.support import Stack, stack_env
from tests.integration.sop.support import resident_id
from tests.support import eventually

pytestmark = pytest.mark.e2e

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + os.urandom(2000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500)
SURVEY_FORM: dict[str, Any] = {
    "family": {"members": 4, "labourers": 2, "dependants": 2},
    "operations": {"business": "大棚蔬菜", "years": 6},
    "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
    "assets_verified": {"verified": True, "items": [{"kind": "greenhouse", "value": "120000"}]},
}
HERE = (29.0799, 119.6474)  # any point: a far check-in is accepted (and flagged for managers)


class Rest:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, dict[str, str]] = {}
        self.applicants = 0  # numbers this test's applicants: distinct ID numbers and phones

    async def login(self, *usernames: str) -> None:
        for username in usernames:
            reply = await self.client.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
            assert reply.status_code == 200, reply.text
            self.headers[username] = {"Authorization": f"Bearer {reply.json()['access_token']}"}

    async def do(self, method: str, url: str, who: str, expect: int = 200, **kwargs: Any) -> Any:
        reply = await self.client.request(method, url, headers=self.headers[who], **kwargs)
        assert reply.status_code == expect, f"{method} {url} as {who}: {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    async def status(self, method: str, url: str, who: str, **kwargs: Any) -> int:
        return (await self.client.request(method, url, headers=self.headers[who], **kwargs)).status_code

    # ---------------------------------------------------------------- the business
    async def apply(self, product_id: str, amount: str) -> str:
        self.applicants += 1
        n = 500 + self.applicants
        party = await self.do(
            "POST",
            "/api/v1/parties",
            "officer",
            201,
            json={"kind": "person", "name": f"端到端{n}", "id_number": resident_id(n), "mobile": f"1390571{n:04d}"},
        )
        app = await self.do(
            "POST",
            "/api/v1/applications",
            "officer",
            201,
            json={
                "party_id": party["id"],
                "product_id": product_id,
                "amount": amount,
                "term_months": 12,
                "purpose": "大棚扩建",
                "guarantee_method": "信用",
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        return str(app["id"])

    async def field_tasks(self, business_key: str) -> list[dict[str, Any]]:
        page = await self.do("GET", "/api/v1/field-tasks", "officer", params={"business_key": business_key})
        return list(page["items"])

    async def survey(self, app_id: str) -> None:
        """The officer's visit, as the field app does it, then the supervisor's acceptance."""
        tasks: list[dict[str, Any]] = []

        async def dispatched() -> bool:
            nonlocal tasks
            tasks = await self.field_tasks(app_id)
            return bool(tasks)

        await eventually(dispatched, timeout=60)
        [task] = tasks
        assert task["task_type"] == "pre_loan_survey"
        base = f"/api/v1/field-tasks/{task['id']}"
        await self.do("POST", f"{base}/accept", "officer")
        await self.do(
            "POST",
            f"{base}/check-in",
            "officer",
            201,
            json={"latitude": HERE[0], "longitude": HERE[1], "accuracy_m": 8, "device_id": "phone-1"},
        )
        await self.do(
            "POST",
            f"{base}/evidence",
            "officer",
            201,
            params={"kind": "photo", "latitude": HERE[0], "longitude": HERE[1], "device_id": "phone-1"},
            files={"file": ("house.jpg", JPEG, "application/octet-stream")},
        )
        saved = await self.do("PUT", f"{base}/form", "officer", json={"form": SURVEY_FORM})
        assert saved["problems"] == []
        await self.do(
            "POST",
            f"{base}/signature",
            "officer",
            201,
            json={
                "signer_name": "申请人",
                "image_base64": base64.b64encode(PNG).decode(),
                "position": {"latitude": HERE[0], "longitude": HERE[1]},
                "content_hash": saved["content_hash"],
            },
        )
        await self.do("POST", f"{base}/submit", "officer")
        await self.do("POST", f"{base}/complete", "supervisor", json={"comment": "核实无误"})

    async def inbox_task(self, who: str, app_id: str, node: str) -> dict[str, Any]:
        """Waits until ``who`` finds the application's task at ``node`` among the claimable ones."""
        found: list[dict[str, Any]] = []

        async def there() -> bool:
            nonlocal found
            page = await self.do("GET", "/api/v1/tasks", who, params={"view": "claimable", "limit": 200})
            found = [t for t in page["items"] if t["business_key"] == app_id]
            return bool(found)

        # Generous: on a loaded CI machine a restarted process service first works off its backlog.
        await eventually(there, timeout=180)
        assert [t["node_id"] for t in found] == [node], found
        return found[0]

    async def decide(self, who: str, task: dict[str, Any], decision: str = "approve", **body: Any) -> None:
        await self.do("POST", f"/api/v1/tasks/{task['id']}/complete", who, json={"decision": decision, **body})

    async def app_status(self, app_id: str) -> str:
        return str((await self.do("GET", f"/api/v1/applications/{app_id}", "officer"))["status"])

    async def until_status(self, app_id: str, status: str) -> None:
        async def reached() -> bool:
            return await self.app_status(app_id) == status

        await eventually(reached, timeout=60)

    async def sign(self, app_id: str) -> None:
        task = await self.inbox_task("officer", app_id, "sign")
        await self.until_status(app_id, "approved")
        await self.decide("officer", task, "submit", data={"evidence_ref": f"scan-{app_id}"})

    async def post_loan_check(self, app_id: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def created() -> bool:
            nonlocal found
            found = await self.field_tasks(f"{app_id}/post-loan/1")
            return bool(found)

        await eventually(created, timeout=60)
        [check] = found
        assert check["task_type"] == "post_loan_check"
        return check


def fast_first_check() -> bytes:
    content = (BPMN / "credit_sop.bpmn").read_bytes()
    assert content.count(b'"P30D"') == 1
    return content.replace(b'"P30D"', b'"PT1S"')


async def test_loans_live_their_whole_life_through_rest_with_every_service_a_process(
    tmp_path: Path,
    new_database,
    platform_env,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    databases = {name: await new_database() for name in SERVICE_NAMES}
    for name, url in databases.items():
        await upgrade_async(name, url)
    env = stack_env(tmp_path, databases)
    for key, value in env.items():
        if key.startswith("GRANARY_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "logs").mkdir()
    stack = Stack(env, tmp_path / "logs")
    for name in [*SERVICE_NAMES, "gateway"]:
        stack.start(name)
    try:
        await eventually(stack.ready, timeout=120)
        await seed_demo_data(Settings())
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            await scenario(Rest(client), stack)
    except BaseException:
        print("\n".join(f"--- {n}\n{stack.log(n)}" for n in [*SERVICE_NAMES, "gateway"]))
        raise
    finally:
        stack.stop_all()


async def scenario(rest: Rest, stack: Stack) -> None:
    await rest.login("admin", "owner", "officer", "supervisor", "president", "risk", "officer.hx", "supervisor.hx")
    deployed = await rest.do(
        "POST",
        "/api/v1/process-models",
        "owner",
        201,
        files=[
            ("files", ("credit_sop.bpmn", fast_first_check(), "application/xml")),
            ("files", ("approval_tiers.dmn", (BPMN / "approval_tiers.dmn").read_bytes(), "application/xml")),
        ],
    )
    assert deployed["version"]["process_key"] == "credit_sop"
    product = await rest.do(
        "POST",
        "/api/v1/products",
        "admin",
        201,
        json={
            "code": "E2E_LOAN",
            "name": "端到端经营贷",
            "min_amount": "1000",
            "max_amount": "3000000",
            "min_term_months": 3,
            "max_term_months": 36,
            "annual_rate": "0.0720",
            "repayment_method": "equal_installment",
            "guarantee_types": ["信用", "保证"],
        },
    )

    # Three tiers: the supervisor alone; then the president; then the head-office risk director.
    tiers = [
        ("30000", [("supervisor", "initial_review")]),
        ("80000", [("supervisor", "initial_review"), ("president", "president_approval")]),
        (
            "600000",
            [("supervisor", "initial_review"), ("president", "president_approval"), ("risk", "risk_approval")],
        ),
    ]
    apps = []
    for amount, path in tiers:
        app_id = await rest.apply(product["id"], amount)
        if len(path) == 3:
            # Killed while the submission's event may be in flight: one instance, one survey.
            stack.kill("process")
            stack.start("process")
            await eventually(stack.ready, timeout=60)
        await rest.survey(app_id)
        apps.append((app_id, path))

    killed_once = False
    for app_id, path in apps:
        for step, (who, node) in enumerate(path):
            task = await rest.inbox_task(who, app_id, node)
            if who == "supervisor":
                # Another branch's staff: not in their inbox, not visible, not actionable.
                assert await rest.status("GET", f"/api/v1/tasks/{task['id']}", "supervisor.hx") == 404
                refused = await rest.status(
                    "POST", f"/api/v1/tasks/{task['id']}/complete", "supervisor.hx", json={"decision": "approve"}
                )
                assert refused == 404
            await rest.decide(who, task, comment=f"{node} 同意")
            if len(path) == 3 and step == 0 and not killed_once:
                # Mid-approval: the process service dies without a goodbye, then comes back.
                stack.kill("process")
                stack.start("process")
                await eventually(stack.ready, timeout=60)
                killed_once = True
        await rest.sign(app_id)
    assert killed_once

    for app_id, path in apps:
        check = await rest.post_loan_check(app_id)
        [survey] = await rest.field_tasks(app_id)
        assert check["assignee_id"] == survey["assignee_id"] != ""
        await rest.until_status(app_id, "disbursed")
        loans = await rest.do("GET", "/api/v1/loans", "officer", params={"limit": 200})
        assert len([loan for loan in loans["items"] if loan.get("application_id") == app_id]) == 1
        timeline = await rest.do("GET", f"/api/v1/applications/{app_id}/timeline", "officer")
        [process] = timeline["processes"]
        decided = [(s["node_id"], s["status"]) for s in timeline["steps"]]
        # Nothing lost and nothing twice: each node once, in order, then the signature.
        assert decided == [(node, "completed") for _, node in path] + [("sign", "completed")]
        # Every approver's decision is an opinion in credit, in order, with the role acted in.
        assert [(o["node"], o["decision"], o["role"]) for o in timeline["opinions"]] == [
            (node, "approve", who if who != "risk" else "risk_director") for who, node in path
        ]
        assert process["status"] == "running"  # waiting for the next post-loan check

    # Another branch's officer can neither see nor act on the application.
    app_id = apps[0][0]
    for url in (f"/api/v1/applications/{app_id}", f"/api/v1/applications/{app_id}/timeline"):
        assert await rest.status("GET", url, "officer.hx") == 404
    refused = await rest.status(
        "POST",
        f"/api/v1/applications/{app_id}/transitions",
        "officer.hx",
        json={"action": "withdraw"},
    )
    assert refused == 404

    # A reject: the supervisor refuses; the application is rejected with the reason.
    rejected = await rest.apply(product["id"], "30000")
    await rest.survey(rejected)
    task = await rest.inbox_task("supervisor", rejected, "initial_review")
    await rest.decide("supervisor", task, "reject", comment="经营流水不足")
    await rest.until_status(rejected, "rejected")
    application = await rest.do("GET", f"/api/v1/applications/{rejected}", "officer")
    assert [(o["node"], o["decision"], o["comment"]) for o in application["opinions"]] == [
        ("initial_review", "reject", "经营流水不足")
    ]
    # The reason reaches the officer in the app; the applicant gets an SMS (held in quiet hours).
    notices: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    seen: dict[str, Any] = {}

    async def told() -> bool:
        nonlocal notices, texts
        inbox = await rest.do("GET", "/api/v1/notifications", "officer", params={"limit": 200})
        seen["inbox"] = inbox["items"]
        notices = [n for n in inbox["items"] if rejected in n["title"]]
        log = await rest.do(
            "GET",
            "/api/v1/messages",
            "supervisor",
            params={"template_code": "application.rejected.customer", "recipient_id": application["party_id"]},
        )
        seen["sms"] = log["items"]
        # Dispatched: sent, or held for quiet hours (the phone number is then known, masked).
        texts = [m for m in log["items"] if m["channel"] == "sms" and m["status"] != "queued"]
        return bool(notices) and bool(texts)

    try:
        await eventually(told, timeout=60)
    except BaseException:
        print("officer's notifications:", seen.get("inbox"), "\nrejection SMS:", seen.get("sms"))
        raise
    assert [n["body"] for n in notices] == ["经营流水不足"]
    [sms] = texts
    assert sms["status"] in ("held", "sent", "delivered") and sms["recipient_masked"].startswith("139")

    # A return and resubmission: the president returns it, the officer revises, review restarts.
    returned = await rest.apply(product["id"], "80000")
    await rest.survey(returned)
    await rest.decide("supervisor", await rest.inbox_task("supervisor", returned, "initial_review"))
    task = await rest.inbox_task("president", returned, "president_approval")
    await rest.decide("president", task, "return", comment="补充担保人资料")
    revise = await rest.inbox_task("officer", returned, "revise")
    await rest.until_status(returned, "returned")
    await rest.decide("officer", revise, "submit", comment="已补充")
    await rest.decide("supervisor", await rest.inbox_task("supervisor", returned, "initial_review"))
    await rest.decide("president", await rest.inbox_task("president", returned, "president_approval"))
    await rest.sign(returned)
    await rest.post_loan_check(returned)
    await rest.until_status(returned, "disbursed")
