"""The demo data of `granary up`, seeded twice against the running services: the second run adds nothing."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from services.common.runtime import ServiceHost
from services.common.settings import Settings
from services.demo import APPLICATIONS, HOUSEHOLDS, PEOPLE, PRODUCTS, STAFF, household_person, seed_demo_data
from tests.integration.conftest import start_service  # noqa: F401 - the fixture, used by name

pytestmark = pytest.mark.integration

TABLES = {
    "customer": ["branches", "staff", "parties", "households", "household_members"],
    "credit": ["products", "applications", "approval_opinions", "contract_templates", "contracts", "loans"],
    "process": ["process_versions", "process_files"],
}


async def counts(hosts: dict[str, ServiceHost]) -> dict[str, int]:
    found: dict[str, int] = {}
    for name, tables in TABLES.items():
        async with hosts[name].engine.connect() as conn:
            for table in tables:
                found[table] = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    return found


async def test_demo_data_is_complete_and_a_second_run_adds_nothing(start_service) -> None:  # noqa: F811
    hosts = {name: await start_service(name) for name in ("customer", "credit", "fieldtask", "process")}
    began = time.perf_counter()
    logins = await seed_demo_data(Settings())
    first_run = time.perf_counter() - began
    first = await counts(hosts)

    assert [username for username, _ in logins] == [s[0] for s in STAFF]
    roles = {role for _, _, staff_roles, _ in STAFF for role in staff_roles}
    assert roles >= {
        "officer",
        "supervisor",
        "president",
        "risk_director",
        "committee_member",
        "process_owner",
        "admin",
        "auditor",
    }
    assert first["branches"] == 4 and first["staff"] == len(STAFF)
    assert first["parties"] == HOUSEHOLDS + len(PEOPLE) and first["households"] == HOUSEHOLDS
    assert first["products"] == len(PRODUCTS) and first["applications"] == len(APPLICATIONS)
    assert first["loans"] == sum(1 for status, *_ in APPLICATIONS if status == "disbursed")
    assert first["process_versions"] == 5  # the SOP (with its DMN) and the four other models

    async with hosts["credit"].engine.connect() as conn:
        statuses = {row[0] for row in await conn.execute(text("SELECT status FROM applications"))}
        methods = {row[0] for row in await conn.execute(text("SELECT repayment_method FROM products"))}
        overdue = int((await conn.execute(text("SELECT count(*) FROM loans WHERE dpd > 0"))).scalar_one())
    assert statuses == {status for status, *_ in APPLICATIONS}
    assert len(methods) == 4
    assert overdue >= 2

    # Deterministic people with valid check digits: the same IDs on every run.
    from stdnum.cn import ric

    ids = [household_person(n)[1] for n in range(HOUSEHOLDS)]
    assert len(set(ids)) == HOUSEHOLDS and all(ric.is_valid(i) for i in ids)

    began = time.perf_counter()
    again = await seed_demo_data(Settings())
    second_run = time.perf_counter() - began
    assert again == logins
    assert await counts(hosts) == first
    print(f"demo seeding: first run {first_run:.1f} s, second run {second_run:.1f} s")
