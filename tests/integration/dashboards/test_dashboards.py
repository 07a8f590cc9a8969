"""Management dashboards through the real gateway, composed from the customer, credit and
process services on real PostgreSQL and NATS: known data in, hand-computed figures out.

Customers (registered over REST) and their loans (3 months, equal principal, 7.2 %), after
close of business on 2026-02-20:

=====  ========  ======  ==================  ===================  =====  =========  ===  ======
party  officer   branch  region              township             loan   disbursed  DPD  bucket
=====  ========  ======  ==================  ===================  =====  =========  ===  ======
P1     officer1  B1      330726001201 塔山村  330726001000 浦阳街道  12000  2025-11-15  67  M3
P2     officer1  B1      330726001001 和平社区 330726001000 浦阳街道  24000  2026-01-15   0  current
P3     officer1  B1      330726101201 黄宅村  330726101000 黄宅镇    6000  2025-12-15  36  M2
P4     officer2  B2      330726101201 黄宅村  330726101000 黄宅镇   30000  2026-01-15   5  M1
P5     officer2  B2      (none)              (none)                  -
=====  ========  ======  ==================  ===================  =====  =========  ===  ======

P2 repaid its first installment (8000 principal), so the book is 12000 + 16000 + 6000 + 30000
= 64000; overdue (DPD ≥ 1) 48000 → M1+ rate 0.7500; DPD > 30: 18000 → PAR30 0.2812.
Products: PA for P1, P3, P4 (48000), PB for P2 (16000). officer1 also had one application
rejected: 4 applications, 3 approved, pass rate 0.7500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Org, caller_for, login, seed_org
from tests.integration.credit.support import TEMPLATE, Credit
from tests.integration.customer.support import add_staff, resident_id
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

PU_YANG, HUANG_ZHAI = "330726001000", "330726101000"


async def _customers(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    officer1, officer2 = await login(client, "officer1"), await login(client, "officer2")
    parties = {}
    for name, who, region, seq in [
        ("P1", officer1, "330726001201", "011"),
        ("P2", officer1, "330726001001", "021"),
        ("P3", officer1, "330726101201", "031"),
        ("P4", officer2, "330726101201", "041"),
        ("P5", officer2, "", "051"),
    ]:
        reply = await client.post(
            "/api/v1/parties",
            json={"name": f"客户{name}", "id_number": resident_id("330726", "19800101", seq), "region_code": region},
            headers=who,
        )
        assert reply.status_code == 201, reply.text
        parties[name] = reply.json()["id"]
    return parties


async def _loans(credit: Credit, org: Org, parties: dict[str, str]) -> dict[str, Any]:
    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-01-15")
    await credit.rpc("CreateContractTemplate", credit.admin, code="LOAN", body=TEMPLATE)
    o1 = caller_for(credit.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    o2 = caller_for(credit.signer, org.staff["officer2"], ["officer"], org.branch_ids["B2"])
    pa = await credit.product(code="PA", name="种植贷")
    pb = await credit.product(code="PB", name="养殖贷")
    loans = {
        "P1": await credit.loan(pa, amount="12000", start="2025-11-15", party_id=parties["P1"], officer=o1),
        "P3": await credit.loan(pa, amount="6000", start="2025-12-15", party_id=parties["P3"], officer=o1),
        "P2": await credit.loan(pb, amount="24000", start="2026-01-15", party_id=parties["P2"], officer=o1),
        "P4": await credit.loan(pa, amount="30000", start="2026-01-15", party_id=parties["P4"], officer=o2),
    }
    supervisor = caller_for(credit.signer, "sup-b1", ["supervisor"], org.branch_ids["B1"])
    rejected = await credit.application(pa, amount="5000", party_id=parties["P1"], officer=o1)
    await credit.rpc("TransitionApplication", supervisor, application_id=rejected.id, action="start_review")
    await credit.rpc(
        "TransitionApplication", supervisor, application_id=rejected.id, action="reject", comment="收入不足"
    )
    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-20")
    await credit.rpc(
        "PostRepayment", o1, loan_id=loans["P2"].id, amount="8148.80", value_date="2026-02-15", external_ref="R-P2-1"
    )
    cob = await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-20")
    assert cob.completed and cob.loans_processed == 4
    return loans


@pytest.fixture
async def world(start_service, gateway):  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    credit_host = await start_service("credit")
    process = await start_service("process")
    org = await seed_org(customer)
    await add_staff(customer, org, "admin1", ["admin"], "B1")
    await add_staff(customer, org, "risk1", ["risk_director"], "B1")
    await add_staff(customer, org, "president2", ["president"], "B2")
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    await add_staff(customer, org, "owner1", ["process_owner"], "B1")
    await add_staff(customer, org, "committee1", ["committee_member"], "B1")
    credit = Credit(credit_host)
    async with gateway() as client:
        parties = await _customers(client, org)
        loans = await _loans(credit, org, parties)
        yield {
            "client": client,
            "org": org,
            "parties": parties,
            "loans": loans,
            "process": process,
            "credit": credit,
        }
    await credit.channels.close()


async def _get(client: httpx.AsyncClient, path: str, user: str, **params: Any) -> Any:
    reply = await client.get(f"/api/v1/dashboards/{path}", params=params, headers=await login(client, user))
    assert reply.status_code == 200, reply.text
    return reply.json()


def _regions(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (i["region_code"], i["region_name"], i["customers"], i["loans"], i["outstanding"], i["overdue_outstanding"])
        for i in body["items"]
    ]


async def test_region_distribution_of_customers_and_loans_with_branch_scope(world) -> None:  # type: ignore[no-untyped-def]
    client = world["client"]
    everything = await _get(client, "regions", "admin1")
    assert everything["level"] == "township" and everything["truncated"] is False
    assert _regions(everything) == [
        (HUANG_ZHAI, "黄宅镇", 2, 2, "36000.00", "36000.00"),
        (PU_YANG, "浦阳街道", 2, 2, "28000.00", "12000.00"),
        ("", "", 1, 0, "0.00", "0.00"),
    ]
    assert [i["overdue_rate"] for i in everything["items"]] == ["1.0000", "0.4286", "0.0000"]

    county = await _get(client, "regions", "risk1", level="county")
    assert _regions(county) == [
        ("330726000000", "浦江县", 4, 4, "64000.00", "48000.00"),
        ("", "", 1, 0, "0.00", "0.00"),
    ]
    villages = await _get(client, "regions", "auditor1", level="village", branch_id=world["org"].branch_ids["B2"])
    assert _regions(villages) == [
        ("330726101201", "黄宅村", 1, 1, "30000.00", "30000.00"),
        ("", "", 1, 0, "0.00", "0.00"),
    ]

    # an officer sees their branch only, whatever branch they name
    mine = await _get(client, "regions", "officer1")
    assert _regions(mine) == [
        (PU_YANG, "浦阳街道", 2, 2, "28000.00", "12000.00"),
        (HUANG_ZHAI, "黄宅镇", 1, 1, "6000.00", "6000.00"),
    ]
    other = await _get(client, "regions", "officer1", branch_id=world["org"].branch_ids["B2"])
    assert other["items"] == []

    bad = await client.get(
        "/api/v1/dashboards/regions", params={"level": "street"}, headers=await login(client, "admin1")
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "level"


async def test_officer_leaderboard_products_and_overdue_warnings(world) -> None:  # type: ignore[no-untyped-def]
    client, org, loans = world["client"], world["org"], world["loans"]
    board = await _get(client, "officers", "admin1")
    assert [
        (
            i["rank"],
            i["display_name"],
            i["applications"],
            i["approved"],
            i["rejected"],
            i["pass_rate"],
            i["disbursed_loans"],
            i["disbursed_amount"],
        )
        for i in board["items"]
    ] == [
        (1, "officer1", 4, 3, 1, "0.7500", 3, "42000.00"),
        (2, "officer2", 1, 1, 0, "1.0000", 1, "30000.00"),
    ]
    assert board["items"][0]["officer_id"] == org.staff["officer1"]
    b2 = await _get(client, "officers", "president2")
    assert [i["display_name"] for i in b2["items"]] == ["officer2"]

    products = await _get(client, "products", "risk1")
    assert products["total_outstanding"] == "64000.00"
    assert [
        (i["product_code"], i["product_name"], i["loans"], i["outstanding"], i["share"], i["overdue_rate"])
        for i in products["items"]
    ] == [("PA", "种植贷", 3, "48000.00", "0.7500", "1.0000"), ("PB", "养殖贷", 1, "16000.00", "0.2500", "0.0000")]

    late = await _get(client, "overdue", "admin1")
    assert (late["active_loans"], late["outstanding"], late["overdue_loans"], late["overdue_outstanding"]) == (
        4,
        "64000.00",
        3,
        "48000.00",
    )
    assert (late["m1_plus_rate"], late["par30"], late["business_date"]) == ("0.7500", "0.2812", "2026-02-20")
    assert [(b["bucket"], b["loans"]) for b in late["buckets"]] == [
        ("current", 1),
        ("M1", 1),
        ("M2", 1),
        ("M3", 1),
        ("M4+", 0),
    ]
    assert [(w["loan_id"], w["dpd"], w["bucket"]) for w in late["warnings"]] == [
        (loans["P1"].id, 67, "M3"),
        (loans["P3"].id, 36, "M2"),
        (loans["P4"].id, 5, "M1"),
    ]
    assert len((await _get(client, "overdue", "admin1", warnings=1))["warnings"]) == 1
    b2_late = await _get(client, "overdue", "officer2")
    assert (b2_late["overdue_loans"], b2_late["m1_plus_rate"], b2_late["par30"]) == (1, "1.0000", "0.0000")
    assert [w["loan_id"] for w in b2_late["warnings"]] == [loans["P4"].id]

    # roles outside management get no dashboards
    refused = await client.get("/api/v1/dashboards/overdue", headers=await login(client, "committee1"))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"


async def test_monthly_growth_trends(world) -> None:  # type: ignore[no-untyped-def]
    client = world["client"]
    today = datetime.now(UTC).date()
    trend = await _get(client, "trends", "admin1", **{"from": "2025-11-01", "to": today.isoformat()})
    this_month = f"{today.year:04d}-{today.month:02d}"
    months = {i["month"]: i for i in trend["items"]}
    assert trend["items"][0]["month"] == "2025-11" and trend["items"][-1]["month"] == this_month
    assert len(trend["items"]) == (today.year - 2025) * 12 + today.month - 10
    assert [
        (months[m]["disbursed_loans"], months[m]["disbursed_amount"]) for m in ("2025-11", "2025-12", "2026-01")
    ] == [
        (1, "12000.00"),
        (1, "6000.00"),
        (2, "54000.00"),
    ]
    assert months["2026-02"]["disbursed_amount"] == "0.00"
    # the five customers were registered this month
    assert (months[this_month]["new_customers"], months[this_month]["customers"]) == (5, 5)
    assert sum(i["new_customers"] for i in trend["items"]) == 5
    b1 = await _get(client, "trends", "supervisor1", **{"from": "2025-11-01", "to": today.isoformat()})
    assert [i["disbursed_amount"] for i in b1["items"][:3]] == ["12000.00", "6000.00", "24000.00"]
    assert b1["items"][-1]["customers"] == 3

    backwards = await client.get(
        "/api/v1/dashboards/trends",
        params={"from": "2026-02-01", "to": "2026-01-01"},
        headers=await login(client, "admin1"),
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    garbled = await client.get(
        "/api/v1/dashboards/trends", params={"from": "2026-13-01"}, headers=await login(client, "admin1")
    )
    assert garbled.status_code == 422 and garbled.json()["errors"][0]["field"] == "from"


async def test_lead_funnel_conversion(world) -> None:  # type: ignore[no-untyped-def]
    client = world["client"]
    admin = await login(client, "admin1")
    leads = []
    for n in range(4):
        reply = await client.post(
            "/api/v1/leads", json={"name": f"线索{n}", "region_code": "330726101201", "channel": "field"}, headers=admin
        )
        assert reply.status_code == 201, reply.text
        leads.append(reply.json()["id"])
    for lead_id, stages in zip(
        leads, [[], ["contacted"], ["contacted", "qualified"], ["contacted", "qualified", "converted"]], strict=True
    ):
        for stage in stages:
            body = {"stage": stage} | ({"party_id": world["parties"]["P5"]} if stage == "converted" else {})
            reply = await client.patch(f"/api/v1/leads/{lead_id}", json=body, headers=admin)
            assert reply.status_code == 200, reply.text

    funnel = await _get(client, "funnel", "admin1")
    assert [(s["stage"], s["count"], s["from_previous"], s["from_first"]) for s in funnel["leads"]] == [
        ("new", 4, "1.0000", "1.0000"),
        ("contacted", 3, "0.7500", "0.7500"),
        ("qualified", 2, "0.6667", "0.5000"),
        ("converted", 1, "0.5000", "0.2500"),
    ]
    customers = {s["stage"]: s["count"] for s in funnel["customers"]}
    assert customers["prospect"] == 5

    # officers get no funnel (the customer service's rule), a period excludes today's leads
    assert (await client.get("/api/v1/dashboards/funnel", headers=await login(client, "officer1"))).status_code == 403
    old = await _get(client, "funnel", "admin1", **{"from": "2025-01-01", "to": "2025-12-31"})
    assert [s["count"] for s in old["leads"]] == [0, 0, 0, 0]


async def test_average_time_per_approval_node(world) -> None:  # type: ignore[no-untyped-def]
    client = world["client"]
    owner, officer = await login(client, "owner1"), await login(client, "officer1")
    supervisor = await login(client, "supervisor1")
    deployed = await client.post("/api/v1/process-models", headers=owner, files=[("files", ("seq.bpmn", d.SEQUENTIAL))])
    assert deployed.status_code == 201, deployed.text
    for n, decision in enumerate(["approve", "reject"]):
        started = await client.post(
            "/api/v1/process-instances",
            headers=officer,
            json={"process_key": "seq_approval", "business_key": f"APP-D{n}", "variables": {"amount": "30000"}},
        )
        assert started.status_code == 201, started.text

        async def review_open(key: str = f"APP-D{n}") -> bool:
            inbox = (await client.get("/api/v1/tasks?view=claimable", headers=supervisor)).json()["items"]
            return any(t["business_key"] == key for t in inbox)

        await eventually(review_open)
        inbox = (await client.get("/api/v1/tasks?view=claimable", headers=supervisor)).json()["items"]
        task = next(t for t in inbox if t["business_key"] == f"APP-D{n}")
        await client.post(f"/api/v1/tasks/{task['id']}/claim", headers=supervisor)
        done = await client.post(
            f"/api/v1/tasks/{task['id']}/complete", headers=supervisor, json={"decision": decision}
        )
        assert done.status_code == 200, done.text
    nodes = await _get(client, "approval-nodes", "admin1", process_key="seq_approval")
    assert nodes["process_key"] == "seq_approval"
    by_node = {i["node_id"]: i for i in nodes["items"]}
    assert {k: (v["title"], v["completed_tasks"]) for k, v in by_node.items()} == {"review": ("初审", 2)}
    review = by_node["review"]
    assert 0 <= review["p50_seconds"] <= review["p90_seconds"] and review["mean_seconds"] >= 0
    assert review["mean_hours"] == round(review["mean_seconds"] / 3600, 2)
    assert (await _get(client, "approval-nodes", "admin1", process_key="nothing_here"))["items"] == []


def _collection(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["started"],
        row["cured"],
        row["cured_within_30_days"],
        row["still_open"],
        row["success_rate"],
        row["overdue_at_start"],
        row["recovered"],
    )


async def test_collection_success_rate_from_overdue_episodes(world) -> None:  # type: ignore[no-untyped-def]
    """The first close of business (2026-02-20) opened an episode for each overdue loan, dated
    from its first day past due: P1 12-16 (overdue 12278.03), P3 01-16 (4087.04), P4 02-16
    (10000 + 186.00 interest + 15.28 penalty = 10201.28). P4 then pays its arrears."""
    client, org, loans, credit = world["client"], world["org"], world["loans"], world["credit"]
    b1, b2 = org.branch_ids["B1"], org.branch_ids["B2"]
    before = await _get(client, "collections", "admin1")
    assert before["business_date"] == "2026-02-20"
    assert _collection(before) == (3, 0, 0, 3, "0.0000", "26566.35", "0.00")
    late = {w["loan_id"]: w["overdue_amount"] for w in (await _get(client, "overdue", "admin1"))["warnings"]}
    assert [late[loans[p].id] for p in ("P1", "P3", "P4")] == ["12278.03", "4087.04", "10201.28"]

    officer2 = await login(client, "officer2")
    paid = await client.post(
        f"/api/v1/loans/{loans['P4'].id}/repayments",
        json={"amount": "10201.28", "external_ref": "BANK-P4-1"},
        headers=officer2 | {"Idempotency-Key": "collect-p4-1"},
    )
    assert paid.status_code == 201, paid.text
    # close of business again, for the same date and the next: nothing opens twice, P4 stays cured
    await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-20")
    await credit.rpc("SetBusinessDate", credit.admin, business_date="2026-02-21")
    assert (await credit.rpc("RunCloseOfBusiness", credit.system, business_date="2026-02-21")).completed

    after = await _get(client, "collections", "risk1")
    assert after["business_date"] == "2026-02-21"
    assert _collection(after) == (3, 1, 1, 2, "0.3333", "26566.35", "10201.28")
    assert after["success_rate_30_days"] == "0.3333"
    assert [(b["branch_id"], *_collection(b)) for b in after["by_branch"]] == [
        (b1, 2, 0, 0, 2, "0.0000", "16365.07", "0.00"),
        (b2, 1, 1, 1, 0, "1.0000", "10201.28", "10201.28"),
    ]
    assert [
        (o["display_name"], o["officer_id"], o["branch_id"], o["started"], o["cured"]) for o in after["by_officer"]
    ] == [
        ("officer1", org.staff["officer1"], b1, 2, 0),
        ("officer2", org.staff["officer2"], b2, 1, 1),
    ]
    # a period counts the episodes whose first day past due falls in it
    february = await _get(client, "collections", "admin1", **{"from": "2026-02-01", "to": "2026-02-28"})
    assert (february["from"], february["to"], _collection(february)[:2]) == ("2026-02-01", "2026-02-28", (1, 1))

    # branch scope: each branch sees its own; another branch looks like one without arrears
    assert _collection(await _get(client, "collections", "officer2"))[:2] == (1, 1)
    mine = await _get(client, "collections", "officer1")
    assert (mine["branch_id"], mine["started"], [b["branch_id"] for b in mine["by_branch"]]) == (b1, 2, [b1])
    other = await _get(client, "collections", "officer1", branch_id=b2)
    assert _collection(other) == (0, 0, 0, 0, "0.0000", "0.00", "0.00")
    assert other["by_branch"] == [] and other["by_officer"] == []
    assert (await _get(client, "collections", "auditor1", branch_id=b2))["started"] == 1

    # roles outside management get nothing; bad periods name the parameter
    admin = await login(client, "admin1")
    refused = await client.get("/api/v1/dashboards/collections", headers=await login(client, "committee1"))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    backwards = await client.get(
        "/api/v1/dashboards/collections", params={"from": "2026-03-01", "to": "2026-02-01"}, headers=admin
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    garbled = await client.get("/api/v1/dashboards/collections", params={"from": "2026-02-30"}, headers=admin)
    assert garbled.status_code == 422 and garbled.json()["errors"][0]["field"] == "from"
