"""The customer service through the gateway's REST API, on real PostgreSQL and NATS."""

from __future__ import annotations

import pytest
from granary.v1 import customer_pb2
from sqlalchemy import select

from services.common import messaging_schema
from services.customer.models import PartyRow
from tests.integration.conftest import login, seed_org
from tests.integration.customer.support import add_staff, resident_id, system_call, workbook

pytestmark = pytest.mark.integration

VALID_ID = "11010519491231002X"
GOOD_1 = resident_id("330726", "19720315", "101")
GOOD_2 = resident_id("330726", "19800822", "202")
GOOD_3 = resident_id("330726", "19650109", "313")
BAD_CHECK = GOOD_3[:-1] + ("0" if GOOD_3[-1] != "0" else "1")


async def _party_count(customer) -> int:  # type: ignore[no-untyped-def]
    async with customer.sessions() as session:
        return len((await session.scalars(select(PartyRow.id))).all())


async def _audit(customer, action: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    async with customer.engine.connect() as conn:
        rows = await conn.execute(
            select(messaging_schema.audit_log).where(messaging_schema.audit_log.c.action == action)
        )
        return [dict(r) for r in rows.mappings().all()]


async def _events(customer, event_type: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    async with customer.engine.connect() as conn:
        rows = await conn.execute(
            select(messaging_schema.outbox.c.payload).where(messaging_schema.outbox.c.event_type == event_type)
        )
        return [r[0] for r in rows.all()]


def _csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


MIXED = _csv(
    [
        "姓名,身份证号,手机号,地址,区划代码",
        f"王建国,{GOOD_1},13805710001,黄宅村1号,330726101201",
        f"李秀英,{BAD_CHECK},13805710002,岩头村2号,330726102201",
        f"张卫东,{GOOD_2},12345,郑宅镇,330726103000",
        f"赵四,{GOOD_3},13805710004,,",
    ]
)


async def test_import_dry_run_all_or_nothing_valid_only_and_the_same_file_twice(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        files = {"file": ("客户名单.csv", MIXED, "text/csv")}

        # dry run: every row's errors (row, column, reason), nothing written
        dry = await client.post("/api/v1/imports?dry_run=true", files=files, headers=officer)
        assert dry.status_code == 200, dry.text
        report = dry.json()
        assert report["status"] == "dry_run" and report["batch_id"] is None
        assert report["total_rows"] == 4 and report["valid_rows"] == 2
        errors = {(e["row"], e["column"]) for e in report["errors"]}
        assert errors == {(3, "身份证号"), (4, "手机号")}
        assert any("check digit" in e["reason"] for e in report["errors"] if e["row"] == 3)
        assert await _party_count(customer) == 0

        # all or nothing: errors refuse the whole file, with the same per-row errors
        refused = await client.post("/api/v1/imports", files=files, headers=officer)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        fields = {e["field"] for e in refused.json()["errors"]}
        assert fields == {"row 3: 身份证号", "row 4: 手机号"}
        assert await _party_count(customer) == 0

        # valid rows only, chosen explicitly
        partial = await client.post("/api/v1/imports?valid_rows_only=true", files=files, headers=officer)
        assert partial.status_code == 200, partial.text
        body = partial.json()
        assert body["status"] == "partial" and body["created"] == 2 and len(body["errors"]) == 2
        assert await _party_count(customer) == 2
        # every record remembers its batch, file and row
        first = await client.get(f"/api/v1/parties/{body['party_ids'][0]}", headers=officer)
        assert first.json()["import_source"] == {"batch_id": body["batch_id"], "file": "客户名单.csv", "row": 2}
        assert first.json()["name"] == "王建国" and first.json()["region_code"] == "330726101201"

        # the same file again: nothing new
        again = await client.post("/api/v1/imports?valid_rows_only=true", files=files, headers=officer)
        assert again.status_code == 200
        assert again.json()["status"] == "already_imported" and again.json()["created"] == 0
        assert again.json()["batch_id"] == body["batch_id"]
        assert await _party_count(customer) == 2

        # a corrected file (another hash): the already imported ID numbers are not created twice
        fixed = _csv(
            [
                "姓名,身份证号,手机号",
                f"王建国,{GOOD_1},13805710001",
                f"张卫东,{GOOD_2},13805710003",
                f"赵四,{GOOD_3},13805710004",
            ]
        )
        second = await client.post("/api/v1/imports", files={"file": ("更正.csv", fixed, "text/csv")}, headers=officer)
        assert second.status_code == 200, second.text
        assert second.json()["created"] == 1 and second.json()["duplicates"] == 2
        assert await _party_count(customer) == 3
        assert len(await _events(customer, "customer.party.created")) == 3


async def test_import_xlsx_with_chinese_headers_merged_cells_and_blank_rows(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    content = workbook(
        [
            ["黄宅镇黄宅村农户信息表", None, None, None, None],  # title merged across the sheet
            ["户主姓名", "身份证号码", "联系电话", "家庭住址", "职业"],
            ["王建国", GOOD_1, 13805710001, "黄宅村", "种植户"],
            [None, None, None, None, None],  # blank row
            ["李秀英", GOOD_2, "13805710002", None, "养殖户"],  # address merged down from the row above
            ["张卫东", GOOD_3, "13805710003", "岩头村", None],
        ],
        merges=["A1:E1", "D3:D5"],
    )
    async with gateway() as client:
        officer = await login(client, "officer1")
        files = {"file": ("农户.xlsx", content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
        reply = await client.post("/api/v1/imports", files=files, headers=officer)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["status"] == "committed" and body["created"] == 3 and body["errors"] == []
        parties = [(await client.get(f"/api/v1/parties/{pid}", headers=officer)).json() for pid in body["party_ids"]]
        assert [(p["name"], p["address"], p["import_source"]["row"]) for p in parties] == [
            ("王建国", "黄宅村", 3),
            ("李秀英", "黄宅村", 5),
            ("张卫东", "岩头村", 6),
        ]
        assert parties[0]["occupation"] == "种植户"
        assert parties[0]["mobile_masked"] == "138****0001"


async def test_duplicates_by_id_number_and_merge(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    async with gateway() as client:
        officer = await login(client, "officer1")
        supervisor = await login(client, "supervisor1")
        first = await client.post("/api/v1/parties", json={"name": "王建国", "id_number": GOOD_1}, headers=officer)
        assert first.status_code == 201
        # the same person again, typed differently (lower-case, spaces): refused, pointing at the record
        again = await client.post(
            "/api/v1/parties", json={"name": "王建国", "id_number": " " + GOOD_1.lower() + " "}, headers=officer
        )
        assert again.status_code == 409
        # the same person registered with a passport as well: a duplicate to merge
        second = await client.post(
            "/api/v1/parties",
            json={"name": "王建国", "id_number": "E12345678", "id_type": "PASSPORT", "mobile": "13805710001"},
            headers=officer,
        )
        assert second.status_code == 201, second.text
        survivor, duplicate = first.json()["id"], second.json()["id"]
        consent = await client.post(
            f"/api/v1/parties/{duplicate}/consents", json={"purpose": "credit_report"}, headers=officer
        )
        assert consent.status_code == 201
        visit = await client.post(
            f"/api/v1/parties/{duplicate}/interactions", json={"kind": "visit", "summary": "上门走访"}, headers=officer
        )
        assert visit.status_code == 201

        # an officer may not merge
        assert (
            await client.post(
                f"/api/v1/parties/{survivor}/merge",
                json={"duplicate_id": duplicate, "reason": "同一人"},
                headers=officer,
            )
        ).status_code == 403
        merged = await client.post(
            f"/api/v1/parties/{survivor}/merge",
            json={"duplicate_id": duplicate, "reason": "同一人"},
            headers=supervisor,
        )
        assert merged.status_code == 200, merged.text
        assert merged.json()["moved"]["consents"] == 1 and merged.json()["moved"]["interactions"] == 1
        assert merged.json()["duplicate"]["merged_into_id"] == survivor
        # the duplicate is kept, marked; its records now show on the survivor
        kept = await client.get(f"/api/v1/parties/{duplicate}", headers=officer)
        assert kept.status_code == 200 and kept.json()["merged_into_id"] == survivor
        view = (await client.get(f"/api/v1/parties/{survivor}/view", headers=officer)).json()
        assert [c["purpose"] for c in view["consents"]] == ["credit_report"]
        assert [i["summary"] for i in view["interactions"]] == ["上门走访"]
        # searches hide merged records
        found = (await client.get("/api/v1/parties", params={"name": "王"}, headers=officer)).json()["items"]
        assert [p["id"] for p in found] == [survivor]
        # who merged them is recorded
        [entry] = await _audit(customer, "party.merged")
        assert entry["actor_id"] == org.staff["supervisor1"] and entry["details"]["duplicate_id"] == duplicate
        assert len(await _events(customer, "customer.party.merged")) == 1
        # merging twice is refused
        twice = await client.post(
            f"/api/v1/parties/{survivor}/merge", json={"duplicate_id": duplicate, "reason": "again"}, headers=supervisor
        )
        assert twice.status_code == 409


async def test_scope_masking_and_audited_unmasked_reads(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    await add_staff(customer, org, "admin1", ["admin"], "B1")
    async with gateway() as client:
        officer1 = await login(client, "officer1")
        officer2 = await login(client, "officer2")
        auditor = await login(client, "auditor1")
        admin = await login(client, "admin1")
        created = await client.post(
            "/api/v1/parties", json={"name": "李秀英", "id_number": VALID_ID, "mobile": "13800138000"}, headers=officer1
        )
        party_id = created.json()["id"]

        other = await client.get(f"/api/v1/parties/{party_id}", headers=officer2)
        missing = await client.get("/api/v1/parties/00000000-0000-0000-0000-000000000000", headers=officer2)
        assert other.status_code == missing.status_code == 404
        assert (await client.get(f"/api/v1/parties/{party_id}/view", headers=officer2)).status_code == 404
        # not in another branch's search either
        assert (await client.get("/api/v1/parties", params={"id_number": VALID_ID}, headers=officer2)).json()[
            "items"
        ] == []

        audited = await client.get(f"/api/v1/parties/{party_id}", headers=auditor)
        assert audited.status_code == 200
        assert audited.json()["id_number_masked"] == "110***********002X"
        assert audited.json()["mobile_masked"] == "138****8000"
        assert (
            audited.json()["id_number"] is None and VALID_ID not in audited.text and "13800138000" not in audited.text
        )
        # the auditor may not unmask; nor may the officer
        assert (await client.get(f"/api/v1/parties/{party_id}?unmasked=true", headers=auditor)).status_code == 403
        assert (await client.get(f"/api/v1/parties/{party_id}?unmasked=true", headers=officer1)).status_code == 403
        assert await _audit(customer, "party.unmasked_read") == []

        clear = await client.get(f"/api/v1/parties/{party_id}?unmasked=true", headers=admin)
        assert clear.status_code == 200
        assert clear.json()["id_number"] == VALID_ID and clear.json()["mobile"] == "+8613800138000"
        [entry] = await _audit(customer, "party.unmasked_read")
        assert entry["actor_id"] == org.staff["admin1"] and entry["entity_id"] == party_id
        assert VALID_ID not in str(entry["details"])

        # exact search by ID number and phone through the keyed hash
        by_id = await client.get("/api/v1/parties", params={"id_number": VALID_ID.lower()}, headers=officer1)
        by_phone = await client.get("/api/v1/parties", params={"mobile": "+86 138 0013 8000"}, headers=officer1)
        assert [p["id"] for p in by_id.json()["items"]] == [p["id"] for p in by_phone.json()["items"]] == [party_id]


async def test_view_with_the_credit_service_stopped_is_partial_and_flagged(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")  # credit and fieldtask are not started
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        party_id = (
            await client.post("/api/v1/parties", json={"name": "王建国", "id_number": GOOD_1}, headers=officer)
        ).json()["id"]
        spouse_id = (
            await client.post("/api/v1/parties", json={"name": "李秀英", "id_number": GOOD_2}, headers=officer)
        ).json()["id"]
        household = await client.post(
            "/api/v1/households",
            json={"head_party_id": party_id, "village_code": "330726101201", "land_mu": "12.5", "labour_count": 2},
            headers=officer,
        )
        assert household.status_code == 201, household.text
        member = await client.post(
            f"/api/v1/households/{household.json()['id']}/members",
            json={"party_id": spouse_id, "relation": "spouse", "co_borrower": True},
            headers=officer,
        )
        assert member.status_code == 201
        asset = await client.post(
            f"/api/v1/parties/{party_id}/financial-items",
            json={"category": "asset", "item_type": "house", "value": "300000", "verified_by_visit": True},
            headers=officer,
        )
        assert asset.status_code == 201

        reply = await client.get(f"/api/v1/parties/{party_id}/view", headers=officer)
        assert reply.status_code == 200, reply.text
        view = reply.json()
        assert view["partial"] is True
        assert {m["part"] for m in view["missing"]} == {"credit", "fieldtask"}
        reasons = {m["part"]: m["reason"] for m in view["missing"]}
        assert reasons["credit"].startswith("credit service: UNAVAILABLE")
        assert reasons["fieldtask"].startswith("fieldtask service: UNAVAILABLE")
        assert view["credit"] == [] and view["open_field_tasks"] == []
        # what this service owns is all there
        assert view["party"]["name"] == "王建国"
        assert {m["name"] for m in view["household"]["members"]} == {"王建国", "李秀英"}
        assert [i["value"] for i in view["financial_items"]] == ["300000.00"]


async def test_key_data_change_is_requested_then_applied_with_masked_history(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    await add_staff(customer, org, "supervisor1", ["supervisor"], "B1")
    async with gateway() as client:
        officer = await login(client, "officer1")
        supervisor = await login(client, "supervisor1")
        party_id = (
            await client.post(
                "/api/v1/parties",
                json={"name": "王建国", "id_number": GOOD_1, "mobile": "13805710001"},
                headers=officer,
            )
        ).json()["id"]
        # key data cannot be changed directly
        direct = await client.patch(f"/api/v1/parties/{party_id}", json={"occupation": "养殖户"}, headers=officer)
        assert direct.status_code == 200 and direct.json()["occupation"] == "养殖户"
        bad = await client.post(
            f"/api/v1/parties/{party_id}/changes",
            json={"field": "mobile", "new_value": "12345", "reason": "换号"},
            headers=officer,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "new_value"
        requested = await client.post(
            f"/api/v1/parties/{party_id}/changes",
            json={"field": "mobile", "new_value": "13905710009", "reason": "换号"},
            headers=officer,
        )
        assert requested.status_code == 201, requested.text
        change = requested.json()
        assert change["status"] == "requested"
        assert (change["before_masked"], change["after_masked"]) == ("138****0001", "139****0009")
        assert len(await _events(customer, "customer.change.requested")) == 1
        # not applied yet
        assert (await client.get(f"/api/v1/parties/{party_id}", headers=officer)).json()[
            "mobile_masked"
        ] == "138****0001"
        # the requester may not approve; an officer may not decide at all
        assert (
            await client.post(
                f"/api/v1/parties/changes/{change['id']}/decision", json={"approved": True}, headers=officer
            )
        ).status_code == 403
        # the process service applies it on approval
        applied = await system_call(
            customer, "ApplyPartyChange", customer_pb2.ApplyPartyChangeRequest(change_id=change["id"], approved=True)
        )
        assert applied.change.status == "applied" and applied.party.mobile_masked == "139****0009"
        assert len(await _events(customer, "customer.change.applied")) == 1
        decided_again = await client.post(
            f"/api/v1/parties/changes/{change['id']}/decision", json={"approved": False}, headers=supervisor
        )
        assert decided_again.status_code == 409
        history = (await client.get(f"/api/v1/parties/{party_id}/changes", headers=officer)).json()
        assert history["next_cursor"] is None
        assert [(h["field"], h["status"], h["after_masked"]) for h in history["items"]] == [
            ("mobile", "applied", "139****0009")
        ]
        assert "13905710009" not in str(history)
