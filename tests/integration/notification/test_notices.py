"""Notices a process model sends to one member of staff (e.g. why an application was rejected).

The notification service on real PostgreSQL; staff read the notice in their in-app inbox
through the gateway. A retried send (same reference) gives one notice.
"""

from __future__ import annotations

import grpc
import pytest
from granary.v1 import notification_pb2, notification_pb2_grpc

from services.common.grpc_client import call
from services.common.grpc_errors import RemoteError
from services.common.identity import TokenSigner
from tests.integration.conftest import caller_for, login, seed_org
from tests.integration.notification.helpers import add_staff

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(start_service, gateway):  # type: ignore[no-untyped-def]
    customer = await start_service("customer")
    notification = await start_service("notification")
    org = await seed_org(customer)
    officer_id = await add_staff(customer, "officer.notice", ["officer"], org.branch_ids["B1"])
    signer = TokenSigner(notification.settings.platform.require_jwt_secret())
    stub = notification.channels.stub(f"127.0.0.1:{notification.port}", notification_pb2_grpc.NotificationServiceStub)
    async with gateway() as client:
        yield {"client": client, "stub": stub, "signer": signer, "officer_id": officer_id, "org": org}


def notice(world: dict, **fields: str) -> notification_pb2.SendNoticeRequest:  # type: ignore[type-arg]
    values = {
        "recipient_id": world["officer_id"],
        "title": "贷款申请未通过 · APP-7",
        "body": "经营流水不足",
        "reference": "job:APP-7:tell_officer",
        "source": "process.notice",
    }
    values.update(fields)
    return notification_pb2.SendNoticeRequest(**values)


async def test_the_officer_reads_the_notice_once_however_often_it_is_sent(world) -> None:  # type: ignore[no-untyped-def]
    process = world["signer"].service_caller("process")
    first = await call(world["stub"].SendNotice, notice(world), caller=process)
    again = await call(world["stub"].SendNotice, notice(world), caller=process)
    assert first.created and not again.created
    assert again.notification.id == first.notification.id

    client = world["client"]
    reply = await client.get("/api/v1/notifications", headers=await login(client, "officer.notice"))
    assert reply.status_code == 200, reply.text
    assert [(n["title"], n["body"], n["source_event_type"]) for n in reply.json()["items"]] == [
        ("贷款申请未通过 · APP-7", "经营流水不足", "process.notice")
    ]


async def test_bad_notices_are_refused_naming_the_field(world) -> None:  # type: ignore[no-untyped-def]
    process = world["signer"].service_caller("process")
    with pytest.raises(RemoteError) as refused:
        await call(
            world["stub"].SendNotice, notice(world, recipient_id="", title="x" * 201, reference=""), caller=process
        )
    assert refused.value.status == grpc.StatusCode.INVALID_ARGUMENT.name
    assert sorted(v.field for v in refused.value.violations) == ["recipient_id", "reference", "title"]


async def test_staff_cannot_send_notices_in_someone_elses_name(world) -> None:  # type: ignore[no-untyped-def]
    org = world["org"]
    admin = caller_for(world["signer"], org.staff["officer2"], ["officer", "admin"], org.branch_ids["B2"])
    with pytest.raises(RemoteError) as refused:
        await call(world["stub"].SendNotice, notice(world), caller=admin)
    assert refused.value.status == grpc.StatusCode.PERMISSION_DENIED.name
