"""Party locations, birthday lists, lifecycle stages from credit events, and the tier job,
on real PostgreSQL and NATS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message
from granary.v1 import credit_pb2, customer_pb2, customer_pb2_grpc
from sqlalchemy import func, select

from services.common import messaging_schema
from services.common.envelope import OutgoingEvent, build_event, parse_event
from services.common.grpc_errors import RemoteError
from services.common.leader import LeaderLock
from services.common.runtime import ServiceHost
from services.customer.domain.segmentation import TierRules
from services.customer.jobs import TierRecomputeJob
from services.customer.models import PartyRow, StageHistoryRow
from services.customer.service import CustomerUnitOfWork
from tests.integration.conftest import login, seed_org
from tests.integration.customer.support import remote_call, resident_id, staff_caller, system_call
from tests.support import eventually

pytestmark = pytest.mark.integration


async def _create(client, headers, name: str, id_number: str, **extra) -> str:  # type: ignore[no-untyped-def]
    reply = await client.post("/api/v1/parties", json={"name": name, "id_number": id_number, **extra}, headers=headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def test_party_location_is_the_centroid_of_its_address_region(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        in_village = await _create(
            client, officer, "王建国", resident_id("330726", "19720315", "101"), region_code="330726101201"
        )
        # a village the seed does not know: its township's centroid
        unknown_village = await _create(
            client, officer, "李秀英", resident_id("330726", "19800822", "202"), region_code="330726102299"
        )
        # no address region, but a household in a village
        by_household = await _create(client, officer, "张卫东", resident_id("330726", "19650109", "313"))
        household = await client.post(
            "/api/v1/households",
            json={"head_party_id": by_household, "village_code": "330726103201", "land_mu": "3", "labour_count": 1},
            headers=officer,
        )
        assert household.status_code == 201, household.text
        nowhere = await _create(client, officer, "赵四", resident_id("330726", "19700101", "414"))
        # outside the demo county: only a province would be located, which is too coarse
        far_away = await _create(
            client, officer, "钱五", resident_id("330726", "19700202", "515"), region_code="330100000000"
        )

    async def location(party_id: str) -> customer_pb2.GetPartyLocationResponse:
        return await system_call(customer, "GetPartyLocation", customer_pb2.GetPartyLocationRequest(party_id=party_id))

    found = await location(in_village)
    assert (found.party_id, found.latitude, found.longitude) == (in_village, 29.4455, 119.9612)
    assert (found.region_code, found.source) == ("330726101201", "address_region")
    township = await location(unknown_village)
    assert (township.region_code, township.latitude, township.longitude) == ("330726102000", 29.3960, 119.8660)
    village = await location(by_household)
    assert (village.region_code, village.source) == ("330726103201", "household_village")
    for party_id in (nowhere, far_away, "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(RemoteError) as missing:
            await location(party_id)
        assert missing.value.status == "NOT_FOUND"

    # a staff member asks within his scope: another branch's customer does not exist for him
    own = staff_caller(customer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    other = staff_caller(customer, org.staff["officer2"], ["officer"], org.branch_ids["B2"])
    stub = customer_pb2_grpc.CustomerServiceStub
    request = customer_pb2.GetPartyLocationRequest(party_id=in_village)
    assert (await remote_call(customer, stub, "GetPartyLocation", request, own)).region_code == "330726101201"
    with pytest.raises(RemoteError) as hidden:
        await remote_call(customer, stub, "GetPartyLocation", request, other)
    assert hidden.value.status == "NOT_FOUND"


async def test_birthday_parties_are_those_who_consented_to_greetings(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    org = await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        ids = {}
        for name, birth, seq in [
            ("甲", "19720315", "101"),
            ("乙", "19800315", "202"),
            ("丙", "19650315", "313"),
            ("丁", "19900316", "424"),
            ("戊", "19881231", "535"),
        ]:
            ids[name] = await _create(client, officer, name, resident_id("330726", birth, seq))
        consents = {}
        for name, purpose in [("甲", "birthday_greeting"), ("乙", "birthday_greeting"), ("丙", "marketing")]:
            reply = await client.post(
                f"/api/v1/parties/{ids[name]}/consents", json={"purpose": purpose}, headers=officer
            )
            assert reply.status_code == 201, reply.text
            consents[name] = reply.json()["id"]
        reply = await client.post(
            f"/api/v1/parties/{ids['丁']}/consents", json={"purpose": "birthday_greeting"}, headers=officer
        )
        assert reply.status_code == 201
        # 乙 withdraws the consent: no more greetings
        await remote_call(
            customer,
            customer_pb2_grpc.CustomerServiceStub,
            "RevokeConsent",
            customer_pb2.RevokeConsentRequest(consent_id=consents["乙"]),
            staff_caller(customer, org.staff["officer1"], ["officer"], org.branch_ids["B1"]),
        )
        reply = await client.post(
            f"/api/v1/parties/{ids['乙']}/consents", json={"purpose": "sms_notice"}, headers=officer
        )
        assert reply.status_code == 201

    async def birthdays(
        month: int, day: int, size: int = 0, token: str = ""
    ) -> customer_pb2.ListBirthdayPartiesResponse:
        request = customer_pb2.ListBirthdayPartiesRequest(month=month, day=day, page_size=size, page_token=token)
        return await system_call(customer, "ListBirthdayParties", request)

    march15 = await birthdays(3, 15)
    assert [(p.party_id, p.name) for p in march15.parties] == [(ids["甲"], "甲")]
    assert march15.parties[0].managing_officer_id == org.staff["officer1"]
    assert march15.parties[0].branch_id == org.branch_ids["B1"]
    assert march15.next_page_token == ""
    assert [p.name for p in (await birthdays(3, 16)).parties] == ["丁"]
    assert (await birthdays(12, 31)).parties == []

    # pages: a second consenting party on 3-16
    async with gateway() as client:
        officer = await login(client, "officer1")
        extra = await _create(client, officer, "己", resident_id("330726", "19770316", "646"))
        await client.post(f"/api/v1/parties/{extra}/consents", json={"purpose": "birthday_greeting"}, headers=officer)
    first = await birthdays(3, 16, size=1)
    assert len(first.parties) == 1 and first.next_page_token
    second = await birthdays(3, 16, size=1, token=first.next_page_token)
    assert {first.parties[0].name, second.parties[0].name} == {"丁", "己"} and second.next_page_token == ""

    for month, day, field in [(2, 30, "day"), (13, 1, "month"), (4, 31, "day"), (0, 1, "month")]:
        with pytest.raises(RemoteError) as bad:
            await birthdays(month, day)
        assert bad.value.status == "INVALID_ARGUMENT" and bad.value.violations[0].field == field
    assert len((await birthdays(2, 29)).parties) == 0
    # staff may not list them: the list is for the greeting job
    with pytest.raises(RemoteError) as refused:
        await remote_call(
            customer,
            customer_pb2_grpc.CustomerServiceStub,
            "ListBirthdayParties",
            customer_pb2.ListBirthdayPartiesRequest(month=3, day=15),
            staff_caller(customer, "admin-x", ["admin"], org.branch_ids["B1"]),
        )
    assert refused.value.status == "PERMISSION_DENIED"


def _credit_event(event_type: str, subject: str, data: Message) -> OutgoingEvent:
    return build_event(event_type=event_type, source="credit", subject=subject, data=data)


async def _publish(host: ServiceHost, event: OutgoingEvent, msg_id: str | None = None) -> None:
    """As the credit service's relay would: the envelope on the event's subject."""
    await host.bus.publish(host.bus.subject_for(event.type), event.to_bytes(), {"Nats-Msg-Id": msg_id or event.id})


def submitted(party_id: str, application_id: str) -> OutgoingEvent:
    return _credit_event(
        "credit.application.submitted",
        application_id,
        credit_pb2.ApplicationChanged(
            application_id=application_id, party_id=party_id, product_id="p1", amount="30000.00", status="submitted"
        ),
    )


def disbursed(party_id: str, loan_id: str) -> OutgoingEvent:
    return _credit_event(
        "credit.loan.disbursed",
        loan_id,
        credit_pb2.LoanDisbursed(
            loan_id=loan_id,
            application_id=f"app-{loan_id}",
            party_id=party_id,
            amount="30000.00",
            disbursed_on="2026-01-15",
            maturity_date="2027-01-15",
        ),
    )


async def test_credit_events_move_the_lifecycle_stage_forward_only(start_service, gateway) -> None:  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        first_time = await _create(client, officer, "王建国", resident_id("330726", "19720315", "101"))
        regular = await _create(client, officer, "李秀英", resident_id("330726", "19800822", "202"))

    async def stage(party_id: str) -> str:
        async with customer.sessions() as session:
            return str(await session.scalar(select(PartyRow.stage).where(PartyRow.id == party_id)))

    async def history(party_id: str) -> list[tuple[str, str]]:
        async with customer.sessions() as session:
            rows = await session.scalars(
                select(StageHistoryRow).where(StageHistoryRow.party_id == party_id).order_by(StageHistoryRow.changed_at)
            )
            return [(r.from_stage, r.to_stage) for r in rows]

    async def inbox(durable: str) -> set[str]:
        async with customer.engine.connect() as conn:
            rows = await conn.execute(
                select(messaging_schema.inbox.c.event_id).where(messaging_schema.inbox.c.consumer == durable)
            )
            return {r[0] for r in rows}

    async def settled(durable: str, deliveries: int) -> bool:
        info = await customer.bus.js.consumer_info(customer.bus.stream, durable)
        return info.delivered.consumer_seq >= deliveries and info.num_pending == 0 and info.num_ack_pending == 0

    applications, loans = "customer-stage-on-application-submitted", "customer-stage-on-loan-disbursed"

    # the usual order: application submitted, then the loan disbursed
    await _publish(customer, submitted(first_time, "A1"))

    async def first_is_applicant() -> bool:
        return await stage(first_time) == "applicant"

    await eventually(first_is_applicant)
    await _publish(customer, disbursed(first_time, "L1"))

    async def first_is_borrower() -> bool:
        return await stage(first_time) == "borrower"

    await eventually(first_is_borrower)
    assert await history(first_time) == [("", "prospect"), ("prospect", "applicant"), ("applicant", "borrower")]

    # out of order: the loan arrives before its application's submission
    await _publish(customer, disbursed(regular, "L2"))

    async def regular_is_borrower() -> bool:
        return await stage(regular) == "borrower"

    await eventually(regular_is_borrower)
    late = submitted(regular, "A2")
    await _publish(customer, late)

    async def late_applied() -> bool:
        return late.id in await inbox(applications)

    await eventually(late_applied)
    assert await stage(regular) == "borrower"  # never backwards

    # the same event delivered again (inbox) and the same loan reported again under a new id
    again = disbursed(regular, "L2")
    await _publish(customer, again, msg_id="redelivered-1")
    first_copy = disbursed(regular, "L3")
    await _publish(customer, first_copy)
    await _publish(customer, first_copy, msg_id="redelivered-2")

    async def loans_settled() -> bool:
        return await settled(loans, 5)

    await eventually(loans_settled)
    # L2 counted once; L3 is a second loan: repeat borrower, once
    assert await stage(regular) == "repeat_borrower"
    assert await history(regular) == [("", "prospect"), ("prospect", "borrower"), ("borrower", "repeat_borrower")]
    assert {again.id, first_copy.id} <= await inbox(loans)

    # a party this service does not know (e.g. registered elsewhere) is ignored, not parked
    await _publish(customer, submitted("no-such-party", "A9"))

    async def applications_settled() -> bool:
        return await settled(applications, 3)

    await eventually(applications_settled)
    async with customer.engine.connect() as conn:
        parked = await conn.scalar(select(func.count()).select_from(messaging_schema.parked_events))
        stage_events = [
            parse_event(r[0])
            for r in await conn.execute(
                select(messaging_schema.outbox.c.payload).where(
                    messaging_schema.outbox.c.event_type == "customer.party.updated"
                )
            )
        ]
    assert parked == 0
    updates = []
    for envelope in stage_events:
        payload = customer_pb2.PartyUpdated()
        envelope.data.Unpack(payload)
        updates.append((payload.party_id, list(payload.fields)))
    assert sorted(updates) == sorted([(first_time, ["stage"])] * 2 + [(regular, ["stage"])] * 2)


async def test_tier_recompute_call_and_the_daily_job(start_service, gateway, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # the service's own schedule is off: this test drives a job's passes itself
    monkeypatch.setenv("GRANARY_CUSTOMER_TIER_RECOMPUTE_AT", "off")
    customer = await start_service("customer")
    await seed_org(customer)
    async with gateway() as client:
        officer = await login(client, "officer1")
        rich = await _create(client, officer, "王建国", resident_id("330726", "19720315", "101"))
        modest = await _create(client, officer, "李秀英", resident_id("330726", "19800822", "202"))
        quiet = await _create(client, officer, "张卫东", resident_id("330726", "19650109", "313"))
        reply = await client.post(
            f"/api/v1/parties/{rich}/financial-items",
            json={"category": "asset", "item_type": "house", "value": "800000"},
            headers=officer,
        )
        assert reply.status_code == 201, reply.text
        await client.post(
            f"/api/v1/parties/{modest}/interactions", json={"kind": "visit", "summary": "走访"}, headers=officer
        )

        # the call: value tier from net worth, activity from the last interaction
        recomputed = await client.post(f"/api/v1/parties/{rich}/tiers/recompute", headers=officer)
        assert recomputed.status_code == 200, recomputed.text
        assert recomputed.json()["tiers"] == {"value": "vip", "activity": "", "risk": ""}
        # the same call again changes nothing
        same = await client.post(f"/api/v1/parties/{rich}/tiers/recompute", headers=officer)
        assert same.json()["tiers"]["value"] == "vip"
        other = await login(client, "officer2")
        assert (await client.post(f"/api/v1/parties/{rich}/tiers/recompute", headers=other)).status_code == 404

    async def tier_events() -> list[tuple[str, str, str, str]]:
        async with customer.engine.connect() as conn:
            rows = await conn.execute(
                select(messaging_schema.outbox.c.payload)
                .where(messaging_schema.outbox.c.event_type == "customer.tier.changed")
                .order_by(messaging_schema.outbox.c.seq)
            )
            found = []
            for row in rows:
                payload = customer_pb2.TierChanged()
                parse_event(row[0]).data.Unpack(payload)
                found.append((payload.party_id, payload.dimension, payload.before, payload.after))
            return found

    assert await tier_events() == [(rich, "value", "", "vip")]

    def job(lock_name: str = "test-tier-recompute") -> TierRecomputeJob:
        return TierRecomputeJob(
            uow_factory=lambda: CustomerUnitOfWork(customer.sessions, source="customer"),
            leader=LeaderLock(customer.engine, lock_name),
            caller=customer.service_caller,
            rules=TierRules(),
            run_at=datetime(2026, 1, 1, 18, 0).time(),
        )

    # the job's single pass: every customer, events only for what changed
    leader, follower = job(), job()
    try:
        before_due = await leader.tick(datetime(2026, 3, 1, 17, 59, tzinfo=UTC))
        assert before_due is None
        outcome = await leader.tick(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))
        assert outcome is not None and (outcome.parties, outcome.changed) == (3, 2)
        events = await tier_events()
        assert events[0] == (rich, "value", "", "vip")
        assert sorted(events[1:]) == sorted(
            [(modest, "value", "", "mass"), (modest, "activity", "", "active"), (quiet, "value", "", "mass")]
        )
        # once a day; the other replica does not lead, so it does not run
        assert await leader.tick(datetime(2026, 3, 1, 23, 0, tzinfo=UTC)) is None
        assert await follower.tick(datetime(2026, 3, 1, 23, 0, tzinfo=UTC)) is None
        # the next day, nothing changed: a full pass, no event
        again = await leader.tick(datetime(2026, 3, 2, 18, 30, tzinfo=UTC))
        assert again is not None and (again.parties, again.changed) == (3, 0)
        assert len(await tier_events()) == 4
        async with customer.engine.connect() as conn:
            audited = await conn.scalar(
                select(func.count())
                .select_from(messaging_schema.audit_log)
                .where(messaging_schema.audit_log.c.action == "party.tiers_recomputed")
            )
        assert audited == 3
    finally:
        await leader.release()
        await follower.release()
