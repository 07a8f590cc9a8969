"""A process owner changes the credit SOP over REST without a release, every service a process.

PostgreSQL and an external NATS (a stream and prefix of this test's own), demo data seeded
as `granary up` seeds it (the SOP's first version deployed). Over REST only:

- a version whose reminder and escalation fire after seconds: the reminder reaches the
  candidate role's in-app inbox, then the task moves to the superior role, who decides;
- a decision table with a lower supervisor limit: a new application follows it, while an
  application submitted before the deploy keeps its version and its route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import running_stack
from tests.e2e.test_credit_sop_rest import BPMN, Rest
from tests.support import eventually

pytestmark = pytest.mark.e2e

PRODUCT = {
    "code": "E2E_SOP_MODELS",
    "name": "流程变更经营贷",
    "min_amount": "1000",
    "max_amount": "3000000",
    "min_term_months": 3,
    "max_term_months": 36,
    "annual_rate": "0.0720",
    "repayment_method": "equal_installment",
    "guarantee_types": ["信用", "保证"],
}


def timers_in_seconds() -> bytes:
    """credit_sop.bpmn with its reminders after 2 s and its escalations after 6 s (24 h and 48 h as shipped)."""
    content = (BPMN / "credit_sop.bpmn").read_text(encoding="utf-8")
    assert content.count('"PT24H"') == 4 and content.count('"PT48H"') == 4
    return content.replace('"PT24H"', '"PT2S"').replace('"PT48H"', '"PT6S"').encode("utf-8")


def lower_supervisor_limit() -> bytes:
    """approval_tiers.dmn with the supervisor's limit cut from 50,000 to 20,000 yuan."""
    content = (BPMN / "approval_tiers.dmn").read_text(encoding="utf-8")
    changes = [("? &lt; 50000", "? &lt; 20000", 1), ("50000 &lt;= ? &lt;= 500000", "20000 &lt;= ? &lt;= 500000", 2)]
    for old, new, count in changes:
        assert content.count(old) == count, old
        content = content.replace(old, new)
    return content.encode("utf-8")


async def deploy(rest: Rest, sop: bytes, tiers: bytes, expect: int = 201) -> dict[str, Any]:
    deployed = await rest.do(
        "POST",
        "/api/v1/process-models",
        "owner",
        expect,
        files=[
            ("files", ("credit_sop.bpmn", sop, "application/xml")),
            ("files", ("approval_tiers.dmn", tiers, "application/xml")),
        ],
    )
    assert deployed["version"]["process_key"] == "credit_sop"
    return dict(deployed["version"])


async def instance_of(rest: Rest, app_id: str) -> dict[str, Any]:
    """The application's credit SOP instance, once the process service has started it."""
    found: list[dict[str, Any]] = []

    async def started() -> bool:
        nonlocal found
        page = await rest.do(
            "GET", "/api/v1/process-instances", "owner", params={"process_key": "credit_sop", "business_key": app_id}
        )
        found = list(page["items"])
        return bool(found)

    await eventually(started, timeout=60)
    [instance] = found
    return dict(await rest.do("GET", f"/api/v1/process-instances/{instance['id']}", "owner"))


async def reminders(rest: Rest, who: str) -> list[dict[str, Any]]:
    page = await rest.do("GET", "/api/v1/notifications", who, params={"limit": 200})
    return [n for n in page["items"] if n["source_event_type"] == "process.task.reminded"]


async def test_seconds_long_timers_remind_the_candidates_in_app_then_escalate_to_the_superior_role(
    tmp_path: Path,
    new_database,
    platform_env,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    async with running_stack(tmp_path, new_database, monkeypatch) as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            rest = Rest(client)
            await rest.login("admin", "owner", "officer", "supervisor", "president")
            fast = await deploy(rest, timers_in_seconds(), (BPMN / "approval_tiers.dmn").read_bytes())
            product = await rest.do("POST", "/api/v1/products", "admin", 201, json=PRODUCT)
            assert await reminders(rest, "supervisor") == []

            app_id = await rest.apply(product["id"], "30000")
            assert (await instance_of(rest, app_id))["version"] == fast["version"]
            await rest.survey(app_id)
            review = await rest.inbox_task("supervisor", app_id, "initial_review")
            assert review["candidate_role"] == "supervisor"

            # The reminder: a message in the supervisor's own in-app inbox, naming the task.
            found: list[dict[str, Any]] = []

            async def reminded() -> bool:
                nonlocal found
                found = await reminders(rest, "supervisor")
                return bool(found)

            await eventually(reminded, timeout=60)
            [note] = found
            assert note["title"] == "待办任务即将超时"
            assert review["title"] in note["body"]
            assert note["read"] is False

            # The escalation: the task leaves the supervisor's inbox for the president's.
            escalated = await rest.inbox_task("president", app_id, "initial_review_up")
            assert escalated["candidate_role"] == "president"
            page = await rest.do("GET", "/api/v1/tasks", "supervisor", params={"view": "claimable", "limit": 200})
            assert [t for t in page["items"] if t["business_key"] == app_id] == []
            refused = await rest.status(
                "POST", f"/api/v1/tasks/{review['id']}/complete", "supervisor", json={"decision": "approve"}
            )
            assert refused == 409
            await rest.decide("president", escalated, comment="超时代为审批")
            await rest.inbox_task("officer", app_id, "sign")
            await rest.until_status(app_id, "approved")
            history = (await instance_of(rest, app_id))["history"]
            actions = [(h["node_id"], h["action"]) for h in history]
            assert ("initial_review", "task.reminded") in actions
            assert ("initial_review", "task.escalated") in actions


async def test_a_new_threshold_routes_new_applications_while_one_submitted_before_keeps_its_version(
    tmp_path: Path,
    new_database,
    platform_env,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    async with running_stack(tmp_path, new_database, monkeypatch) as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            rest = Rest(client)
            await rest.login("admin", "owner", "officer", "supervisor", "president")
            product = await rest.do("POST", "/api/v1/products", "admin", 201, json=PRODUCT)

            # Submitted under the version deployed now (the shipped table: 30,000 is the supervisor's).
            before_id = await rest.apply(product["id"], "30000")
            before = await instance_of(rest, before_id)

            changed = await deploy(rest, (BPMN / "credit_sop.bpmn").read_bytes(), lower_supervisor_limit())
            assert changed["version"] == before["version"] + 1
            after_id = await rest.apply(product["id"], "30000")
            after = await instance_of(rest, after_id)
            assert after["version"] == changed["version"]

            # Both surveys come back only now, after the deploy.
            await rest.survey(before_id)
            await rest.survey(after_id)

            # The running one routes with the table it started with: the supervisor alone, then signing.
            task = await rest.inbox_task("supervisor", before_id, "initial_review")
            await rest.decide("supervisor", task, comment="初审同意")
            await rest.inbox_task("officer", before_id, "sign")
            await rest.until_status(before_id, "approved")
            before = await instance_of(rest, before_id)
            assert before["version"] == changed["version"] - 1
            assert before["variables"]["tier"] == "supervisor"

            # The new one follows the new table: above 20,000 it needs the branch president.
            task = await rest.inbox_task("supervisor", after_id, "initial_review")
            await rest.decide("supervisor", task, comment="初审同意")
            president = await rest.inbox_task("president", after_id, "president_approval")
            assert president["candidate_role"] == "president"
            after = await instance_of(rest, after_id)
            assert (after["version"], after["variables"]["tier"]) == (changed["version"], "president")
            assert await rest.app_status(after_id) != "approved"
