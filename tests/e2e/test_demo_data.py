"""The demo data of `granary up`, seeded as `granary up` seeds it, every service a process.

PostgreSQL and an external NATS (a stream and prefix of this test's own). After seeding, the
demo logins find work waiting through REST: the officer a pre-loan survey to make, the
supervisor an initial review, the president and the risk director their approvals — reached by
the credit SOP itself. A second seeding adds nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from stdnum.cn import ric

from services.common.settings import Settings
from services.demo import (
    APPLICATIONS,
    HOUSEHOLDS,
    PEOPLE,
    PRODUCTS,
    SOP_APPLICATIONS,
    STAFF,
    household_person,
    seed_demo_data,
)
from tests.e2e.support import Stack, running_stack
from tests.e2e.test_credit_sop_rest import Rest

pytestmark = pytest.mark.e2e

TABLES = {
    "customer": ["branches", "staff", "parties", "households", "household_members"],
    "credit": ["products", "applications", "approval_opinions", "contract_templates", "contracts", "loans"],
    "fieldtask": ["field_tasks", "field_task_check_ins", "field_task_evidence", "field_task_signatures"],
    "process": ["process_versions", "process_files", "process_instances", "inbox_tasks", "process_history"],
}


async def counts(stack: Stack) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, tables in TABLES.items():
        engine = create_async_engine(stack.env[f"GRANARY_{name.upper()}_DATABASE_URL"])
        try:
            async with engine.connect() as conn:
                for table in tables:
                    found[table] = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
        finally:
            await engine.dispose()
    return found


async def credit_rows(stack: Stack, sql: str) -> list[Any]:
    engine = create_async_engine(stack.env["GRANARY_CREDIT_DATABASE_URL"])
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def claimable(rest: Rest, who: str) -> list[dict[str, Any]]:
    page = await rest.do("GET", "/api/v1/tasks", who, params={"view": "claimable", "limit": 200})
    return list(page["items"])


async def the_one_task(rest: Rest, who: str, node: str) -> dict[str, Any]:
    """The single task ``who`` may claim, at ``node`` of the credit SOP."""
    tasks = await claimable(rest, who)
    assert [(t["process_key"], t["node_id"]) for t in tasks] == [("credit_sop", node)], f"{who} can claim {tasks}"
    return tasks[0]


async def application(rest: Rest, who: str, app_id: str) -> dict[str, Any]:
    return dict(await rest.do("GET", f"/api/v1/applications/{app_id}", who))


async def test_demo_logins_find_work_waiting_in_the_sop_and_a_second_seeding_adds_nothing(
    tmp_path: Path,
    new_database,
    platform_env,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    async with running_stack(tmp_path, new_database, monkeypatch) as stack:
        first = await counts(stack)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            rest = Rest(client)
            await rest.login("officer", "supervisor", "president", "risk", "supervisor.hx", "president.hx")
            await the_inboxes_hold_the_demo_work(rest)

        began = time.perf_counter()
        logins = await seed_demo_data(Settings())
        second_run = time.perf_counter() - began
        assert [username for username, _ in logins] == [s[0] for s in STAFF]
        assert await counts(stack) == first, "a second seeding adds nothing"
        print(f"demo seeding: second run {second_run:.1f} s")

        # The rest of the demo: people, products, applications in every status, overdue loans.
        assert first["branches"] == 4 and first["staff"] == len(STAFF)
        assert first["parties"] == HOUSEHOLDS + len(PEOPLE) and first["households"] == HOUSEHOLDS
        assert first["products"] == len(PRODUCTS)
        assert first["applications"] == len(APPLICATIONS) + len(SOP_APPLICATIONS)
        assert first["loans"] == sum(1 for status, *_ in APPLICATIONS if status == "disbursed")
        assert first["process_versions"] == 5  # the SOP (with its DMN) and the four other models
        assert first["process_instances"] == len(SOP_APPLICATIONS), "the SOP started only the SOP's applications"
        statuses = {row[0] for row in await credit_rows(stack, "SELECT status FROM applications")}
        assert statuses == {status for status, *_ in APPLICATIONS} | {"submitted"}
        assert len({row[0] for row in await credit_rows(stack, "SELECT repayment_method FROM products")}) == 4
        assert len(await credit_rows(stack, "SELECT id FROM loans WHERE dpd > 0")) >= 2
        # One borrower paid the arrears: the collection figures show an episode cured.
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            rest = Rest(client)
            await rest.login("president")
            figures = await rest.do("GET", "/api/v1/dashboards/collections", "president")
        assert figures["cured"] == 1 and figures["started"] == figures["still_open"] + 1 >= 3, figures
        # Deterministic people with valid check digits: the same IDs on every run.
        ids = [household_person(n)[1] for n in range(HOUSEHOLDS)]
        assert len(set(ids)) == HOUSEHOLDS and all(ric.is_valid(i) for i in ids)


async def the_inboxes_hold_the_demo_work(rest: Rest) -> None:
    # The officer: one pre-loan survey still to make, for an application still submitted.
    open_surveys = (
        await rest.do("GET", "/api/v1/field-tasks", "officer", params={"view": "mine", "status": "assigned"})
    )["items"]
    assert [t["task_type"] for t in open_surveys] == ["pre_loan_survey"], open_surveys
    survey_app = open_surveys[0]["business_key"]
    assert (await application(rest, "officer", survey_app))["status"] == "submitted"

    # The supervisor of 城关: one initial review to claim; another branch's supervisor: none.
    review = await the_one_task(rest, "supervisor", "initial_review")
    assert await claimable(rest, "supervisor.hx") == []

    # The president of 城关: one approval, after the supervisor's initial review.
    approval = await the_one_task(rest, "president", "president_approval")
    assert await claimable(rest, "president.hx") == []
    opinions = (await application(rest, "president", approval["business_key"]))["opinions"]
    assert [(o["node"], o["decision"], o["role"]) for o in opinions] == [("initial_review", "approve", "supervisor")]

    # The head office's risk director: one approval, after the supervisor's and the president's.
    risk = await the_one_task(rest, "risk", "risk_approval")
    risky = await application(rest, "risk", risk["business_key"])
    assert [(o["node"], o["decision"], o["role"]) for o in risky["opinions"]] == [
        ("initial_review", "approve", "supervisor"),
        ("president_approval", "approve", "president"),
    ]

    # Four different applications, each reviewed on the way by the field survey of the officer.
    keys = {survey_app, review["business_key"], approval["business_key"], risk["business_key"]}
    assert len(keys) == len(SOP_APPLICATIONS)
    for app_id in keys - {survey_app}:
        assert (await application(rest, "officer", app_id))["status"] == "in_review"
        [survey] = (await rest.do("GET", "/api/v1/field-tasks", "officer", params={"business_key": app_id}))["items"]
        assert (survey["task_type"], survey["status"]) == ("pre_loan_survey", "done")
