"""Operator paths: `granary events parked|replay`, and a served process draining on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from services import cli
from services.common.grpc_client import call
from services.common.runtime import ServiceHost
from services.notification.models import NotificationRow
from tests.integration.conftest import seed_org
from tests.support import eventually, free_port

pytestmark = pytest.mark.integration


def _run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue()


async def test_parked_events_are_listed_and_replayed_by_the_cli(start_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRANARY_CONSUMER_MAX_DELIVERIES", "2")
    customer = await start_service("customer")
    notification: ServiceHost = await start_service("notification")
    org = await seed_org(customer)

    # the notification database refuses notices for a while: a real failure of the effect
    async with notification.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE notifications RENAME TO notifications_away")
    from granary.v1 import customer_pb2, customer_pb2_grpc

    from tests.integration.conftest import caller_for

    officer = caller_for(customer.signer, org.staff["officer1"], ["officer"], org.branch_ids["B1"])
    stub = customer.channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
    await call(
        stub.CreateParty,
        customer_pb2.CreatePartyRequest(
            kind=customer_pb2.PARTY_KIND_PERSON, name="钱多多", id_number="11010519491231002X"
        ),
        caller=officer,
    )

    async def parked_listed() -> bool:
        code, out = await asyncio.to_thread(_run_cli, "events", "parked", "--service", "notification")
        return code == 0 and "notification-party-created" in out

    await eventually(parked_listed)
    _, listing = await asyncio.to_thread(_run_cli, "events", "parked", "--service", "notification")
    [line] = [row for row in listing.splitlines() if row]
    fields = line.split("\t")
    parked_id = fields[1]
    assert fields[3] == "customer.party.created"
    assert "attempts=2" in line

    async with notification.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE notifications_away RENAME TO notifications")
    code, out = await asyncio.to_thread(_run_cli, "events", "replay", parked_id, "--service", "notification")
    assert code == 0, out
    assert f"replayed parked event {parked_id}" in out

    async def notified_once() -> bool:
        async with notification.sessions() as session:
            return (await session.scalar(select(func.count()).select_from(NotificationRow))) == 1

    await eventually(notified_once)
    _, after = await asyncio.to_thread(_run_cli, "events", "parked", "--service", "notification")
    assert after.strip() == ""
    code, _ = await asyncio.to_thread(_run_cli, "events", "replay", parked_id, "--service", "notification")
    assert code == 1, "a replayed event is not replayed twice"


async def test_a_served_process_drains_and_exits_on_sigterm(
    new_database, platform_env: dict[str, str], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = await new_database()
    port = free_port()
    env = {
        **os.environ,
        "GRANARY_NOTIFICATION_DATABASE_URL": url,
        "GRANARY_NOTIFICATION_GRPC_PORT": str(port),
    }
    granary = str(Path(sys.executable).parent / "granary")
    migrated = await asyncio.to_thread(
        subprocess.run, [granary, "migrate", "--service", "notification"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(  # noqa: ASYNC220 - starting a child does not block
        [granary, "serve", "notification"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return reply.status == health_pb2.HealthCheckResponse.SERVING

            await eventually(serving, timeout=30)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
        output = process.stdout.read() if process.stdout else ""
        assert code == 0, output
        assert "received a stop signal; draining" in output
        assert "notification stopped" in output
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
