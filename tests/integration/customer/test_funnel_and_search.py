"""The lead funnel and party search through the REST API, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import login, seed_org
from tests.integration.customer.support import add_staff, resident_id

pytestmark = pytest.mark.integration


async def test_funnel_counts_stage_conversions_of_leads_and_customers(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    await add_staff(customer, org, "officer.a", ["officer"], "B1", regions_served=["330726101000"])
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    await add_staff(customer, org, "supervisor2", ["supervisor"], "B2")
    async with gateway() as client:
        officer = await login(client, "officer.a")
        leads = []
        for n in range(5):
            reply = await client.post(
                "/api/v1/leads",
                json={"name": f"线索{n}", "region_code": "330726101201", "channel": "online_form"},
                headers=officer,
            )
            assert reply.status_code == 201, reply.text
            leads.append(reply.json()["id"])
        party = await client.post(
            "/api/v1/parties",
            json={"name": "线索2", "id_number": resident_id("330726", "19720315", "101")},
            headers=officer,
        )
        party_id = party.json()["id"]

        async def move(lead_id: str, *stages: str) -> None:
            for stage in stages:
                body = {"stage": stage} | ({"party_id": party_id} if stage == "converted" else {})
                reply = await client.patch(f"/api/v1/leads/{lead_id}", json=body, headers=officer)
                assert reply.status_code == 200, reply.text

        await move(leads[0], "contacted")
        await move(leads[1], "contacted", "qualified")
        await move(leads[2], "contacted", "qualified", "converted")
        await move(leads[3], "contacted", "lost")  # lost after contact: counted up to contacted
        # leads[4] stays new
        closed = await client.patch(f"/api/v1/leads/{leads[2]}", json={"stage": "new"}, headers=officer)
        assert closed.status_code == 409
        bad = await client.patch(f"/api/v1/leads/{leads[4]}", json={"stage": "won"}, headers=officer)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "stage"
        unnamed = await client.patch(f"/api/v1/leads/{leads[4]}", json={"stage": "converted"}, headers=officer)
        assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "party_id"

        # customers: one applicant who became a borrower, one applicant, one prospect
        second = await client.post(
            "/api/v1/parties",
            json={"name": "客户乙", "id_number": resident_id("330726", "19800822", "202")},
            headers=officer,
        )
        await client.post(
            "/api/v1/parties",
            json={"name": "客户丙", "id_number": resident_id("330726", "19650109", "313")},
            headers=officer,
        )
        for pid, stages in ((party_id, ("applicant", "borrower")), (second.json()["id"], ("applicant",))):
            for stage in stages:
                reply = await client.post(f"/api/v1/parties/{pid}/stage", json={"stage": stage}, headers=officer)
                assert reply.status_code == 200, reply.text

        supervisor = await login(client, "supervisor1")
        funnel = await client.get("/api/v1/leads/funnel", headers=supervisor)
        assert funnel.status_code == 200, funnel.text
        assert funnel.json()["leads"] == {"new": 5, "contacted": 4, "qualified": 2, "converted": 1}
        assert funnel.json()["parties"] == {
            "lead": 0,
            "prospect": 3,
            "applicant": 2,
            "borrower": 1,
            "repeat_borrower": 0,
        }
        # a period with no leads created
        later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        empty = await client.get("/api/v1/leads/funnel", params={"created_from": later}, headers=supervisor)
        assert empty.json()["leads"] == {"new": 0, "contacted": 0, "qualified": 0, "converted": 0}
        earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        window = await client.get(
            "/api/v1/leads/funnel", params={"created_from": earlier, "created_to": later}, headers=supervisor
        )
        assert window.json()["leads"]["new"] == 5
        # another branch's manager sees his own branch only, even when naming ours
        other = await client.get(
            "/api/v1/leads/funnel",
            params={"branch_id": org.branch_ids["B1"]},
            headers=await login(client, "supervisor2"),
        )
        assert other.json()["leads"]["new"] == 0 and other.json()["parties"]["prospect"] == 0
        # the funnel is for managers
        assert (await client.get("/api/v1/leads/funnel", headers=officer)).status_code == 403


async def test_search_by_every_criterion_with_cursor_pagination(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    colleague = await add_staff(customer, org, "officer.b", ["officer"], "B1")
    async with gateway() as client:
        officer = await login(client, "officer1")

        async def create(name: str, seq: str, **extra) -> str:  # type: ignore[no-untyped-def]
            reply = await client.post(
                "/api/v1/parties",
                json={"name": name, "id_number": resident_id("330726", "19700101", seq), **extra},
                headers=officer,
            )
            assert reply.status_code == 201, reply.text
            return str(reply.json()["id"])

        wang1 = await create("王一", "101", region_code="330726101201", mobile="13805710001", tags=["种植大户"])
        wang2 = await create("王二", "202", region_code="330726101202", tags=["种植大户", "党员"])
        wang3 = await create("王三", "303", region_code="330726102201", stage="applicant")
        wang4 = await create("王四", "404", managing_officer_id=colleague)
        wang5 = await create("王五", "505", region_code="330726101201")
        li = await create("李一", "606", region_code="330726101201", mobile="13905710002")
        rich = await client.post(
            f"/api/v1/parties/{li}/financial-items",
            json={"category": "asset", "item_type": "house", "value": "600000"},
            headers=officer,
        )
        assert rich.status_code == 201
        assert (await client.post(f"/api/v1/parties/{li}/tiers/recompute", headers=officer)).status_code == 200

        async def ids(**params) -> list[str]:  # type: ignore[no-untyped-def]
            reply = await client.get("/api/v1/parties", params=params, headers=officer)
            assert reply.status_code == 200, reply.text
            return [p["id"] for p in reply.json()["items"]]

        # name prefix, ordered by name then id
        by_name = await ids(name="王")
        assert set(by_name) == {wang1, wang2, wang3, wang4, wang5} and li not in by_name
        assert await ids(name="王一") == [wang1]
        assert await ids(name="%") == []  # a LIKE wildcard is a literal here
        # exact ID number (any case, the 15-digit legacy form is not needed here) and phone
        assert await ids(id_number=resident_id("330726", "19700101", "303")) == [wang3]
        assert await ids(mobile="13905710002") == [li]
        assert await ids(mobile="+86 138 0571 0001") == [wang1]
        # region subtree: township, village, county
        assert set(await ids(region_code="330726101000")) == {wang1, wang2, wang5, li}
        assert set(await ids(region_code="330726101201")) == {wang1, wang5, li}
        assert set(await ids(region_code="330726000000")) == {wang1, wang2, wang3, wang5, li}
        # tag, tier, stage, manager
        assert set(await ids(tag="种植大户")) == {wang1, wang2}
        assert await ids(tag="党员") == [wang2]
        assert await ids(tier="vip") == [li]
        assert await ids(stage="applicant") == [wang3]
        assert await ids(managing_officer_id=colleague) == [wang4]
        # criteria combine
        assert await ids(name="王", region_code="330726101201", tag="种植大户") == [wang1]

        # cursor pagination: pages of two, no repeats, no gaps, in order
        seen: list[str] = []
        cursor = ""
        pages = 0
        while True:
            params = {"name": "王", "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await client.get("/api/v1/parties", params=params, headers=officer)).json()
            seen.extend(p["id"] for p in page["items"])
            pages += 1
            cursor = page["next_cursor"] or ""
            if not cursor:
                break
        assert pages == 3 and seen == by_name

        # bad input names the field
        for params, field in [
            ({"stage": "customer"}, "stage"),
            ({"region_code": "9907"}, "region_code"),
            ({"mobile": "12345"}, "mobile"),
            ({"cursor": "not-a-cursor"}, "page_token"),
        ]:
            reply = await client.get("/api/v1/parties", params=params, headers=officer)
            assert reply.status_code == 422, (params, reply.text)
            assert reply.json()["errors"][0]["field"] == field, reply.json()
