"""The RPCs other services rely on (org directory, contact, consent, credit reports) and lead assignment."""

from __future__ import annotations

import pytest
from granary.v1 import customer_pb2

from services.common.grpc_errors import RemoteError
from tests.integration.conftest import login, seed_org
from tests.integration.customer.support import add_staff, resident_id, system_call

pytestmark = pytest.mark.integration

GOOD_1 = resident_id("330726", "19720315", "101")


async def test_org_directory_for_process_and_notification(start_service) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    boss = await add_staff(customer, org, "president1", ["president"], "B1")
    officer = await add_staff(
        customer,
        org,
        "officer3",
        ["officer"],
        "B1",
        superior_id=boss,
        phone="13805710009",
        regions_served=["330726101000"],
    )
    got = await system_call(customer, "GetStaff", customer_pb2.GetStaffRequest(staff_id=officer))
    assert (got.staff.superior_id, got.staff.phone, list(got.staff.regions_served)) == (
        boss,
        "+8613805710009",
        ["330726101000"],
    )
    listed = await system_call(
        customer, "ListStaff", customer_pb2.ListStaffRequest(branch_id=org.branch_ids["B1"], role="officer")
    )
    assert {s.username for s in listed.staff} == {"officer1", "officer3"}
    with pytest.raises(RemoteError) as missing:
        await system_call(customer, "GetStaff", customer_pb2.GetStaffRequest(staff_id="nobody"))
    assert missing.value.status == "NOT_FOUND"
    with pytest.raises(RemoteError) as bad_region:
        await system_call(
            customer, "SetStaffRegions", customer_pb2.SetStaffRegionsRequest(staff_id=officer, regions_served=["99"])
        )
    assert bad_region.value.violations[0].field == "regions_served"
    branches = await system_call(customer, "ListBranches", customer_pb2.ListBranchesRequest())
    assert {b.code for b in branches.branches} == {"B1", "B2"}


async def test_contact_consent_and_idempotent_credit_report(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        party_id = (
            await client.post(
                "/api/v1/parties",
                json={"name": "王建国", "id_number": GOOD_1, "mobile": "13805710001"},
                headers=officer,
            )
        ).json()["id"]
        contact = await system_call(customer, "GetPartyContact", customer_pb2.GetPartyContactRequest(party_id=party_id))
        assert contact.mobile_e164 == "+8613805710001" and contact.name == "王建国"

        none = await system_call(
            customer, "CheckConsent", customer_pb2.CheckConsentRequest(party_id=party_id, purpose="credit_report")
        )
        assert none.granted is False
        consent = await client.post(
            f"/api/v1/parties/{party_id}/consents", json={"purpose": "credit_report"}, headers=officer
        )
        consent_id = consent.json()["id"]
        checked = await system_call(
            customer, "CheckConsent", customer_pb2.CheckConsentRequest(party_id=party_id, purpose="credit_report")
        )
        assert checked.granted is True and checked.consent_id == consent_id

        request = customer_pb2.RecordCreditReportRequest(
            party_id=party_id,
            bureau="PBOC",
            consent_id=consent_id,
            purpose="credit_report",
            summary={"overdue_count": "0"},
            external_ref="PBOC-2026-0001",
        )
        first = await system_call(customer, "RecordCreditReport", request)
        second = await system_call(customer, "RecordCreditReport", request)
        assert first.report_id == second.report_id
        view = (await client.get(f"/api/v1/parties/{party_id}/view", headers=officer)).json()
        assert view["latest_credit_report"]["external_ref"] == "PBOC-2026-0001"

        # once revoked, no consent
        await system_call(customer, "RevokeConsent", customer_pb2.RevokeConsentRequest(consent_id=consent_id))
        after = await system_call(
            customer, "CheckConsent", customer_pb2.CheckConsentRequest(party_id=party_id, purpose="credit_report")
        )
        assert after.granted is False


async def test_leads_round_robin_in_region_and_fallback_queue(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    a = await add_staff(customer, org, "officer.a", ["officer"], "B1", regions_served=["330726101000"])
    b = await add_staff(customer, org, "officer.b", ["officer"], "B1", regions_served=["330726101000"])
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    async with gateway() as client:
        officer = await login(client, "officer1")
        assigned = []
        for n in range(4):
            reply = await client.post(
                "/api/v1/leads",
                json={"name": f"客户{n}", "region_code": "330726101201", "channel": "online_form"},
                headers=officer,
            )
            assert reply.status_code == 201, reply.text
            assigned.append(reply.json()["assigned_officer_id"])
        assert sorted(assigned[:2]) == sorted([a, b]) and assigned[2:] == assigned[:2]
        # nobody serves this township: the fallback queue
        queued = await client.post(
            "/api/v1/leads", json={"name": "客户X", "region_code": "330726104201", "channel": "field"}, headers=officer
        )
        assert queued.json()["in_fallback_queue"] is True and queued.json()["assigned_officer_id"] is None
        supervisor = await login(client, "supervisor1")
        queue = await client.get("/api/v1/leads", params={"view": "queue"}, headers=supervisor)
        assert [x["name"] for x in queue.json()["items"]] == ["客户X"]
        assert (await client.get("/api/v1/leads", params={"view": "queue"}, headers=officer)).status_code == 403
        bad = await client.post("/api/v1/leads", json={"name": "Y", "channel": "tv"}, headers=officer)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "channel"
        mine = await client.get("/api/v1/leads", headers=await login(client, "officer.a"))
        assert len(mine.json()["items"]) == 2
