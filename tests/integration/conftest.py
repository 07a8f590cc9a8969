"""Services started in-process on real PostgreSQL and NATS, and the gateway in front of them."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from granary.v1 import customer_pb2, customer_pb2_grpc

from gateway.app import create_app
from services.common.grpc_client import ServiceChannels, call
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.migrations import upgrade_async
from services.common.runtime import ServiceHost
from services.common.settings import Settings

StartService = Callable[[str], Awaitable[ServiceHost]]
PASSWORD = "correct-horse-battery"


@pytest.fixture
async def start_service(
    new_database,
    platform_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> AsyncIterator[StartService]:
    hosts: list[ServiceHost] = []

    async def start(name: str) -> ServiceHost:
        url = await new_database()
        monkeypatch.setenv(f"GRANARY_{name.upper()}_DATABASE_URL", url)
        await upgrade_async(name, url)
        host = ServiceHost(name, Settings(), grpc_port=0)
        app = importlib.import_module(f"services.{name}.main").build(host)
        port = await host.start(app)
        monkeypatch.setenv(f"GRANARY_{name.upper()}_ADDRESS", f"127.0.0.1:{port}")
        hosts.append(host)
        return host

    yield start
    for host in reversed(hosts):
        await host.stop()


@pytest.fixture
def gateway(platform_env: dict[str, str]) -> Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Opens an HTTP client on the real gateway app, lifespan included; start services first."""

    @asynccontextmanager
    async def open_gateway() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(Settings())
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
        ):
            yield client

    return open_gateway


class Org:
    """A branch with staff, created through the customer service like any admin would."""

    def __init__(self, branch_ids: dict[str, str], staff: dict[str, str]) -> None:
        self.branch_ids = branch_ids
        self.staff = staff


async def seed_org(customer: ServiceHost) -> Org:
    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    system = ServiceIdentity(signer, "test-seed")
    channels = ServiceChannels(default_timeout=5, fallback_caller=system)
    stub = channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
    try:
        branches: dict[str, str] = {}
        for code in ("B1", "B2"):
            reply = await call(stub.CreateBranch, customer_pb2.CreateBranchRequest(code=code, name=f"支行{code}"))
            branches[code] = reply.branch.id
        staff: dict[str, str] = {}
        for username, roles, branch in [
            ("officer1", ["officer"], "B1"),
            ("officer2", ["officer"], "B2"),
            ("auditor1", ["auditor"], "B1"),
        ]:
            reply = await call(
                stub.CreateStaff,
                customer_pb2.CreateStaffRequest(
                    username=username,
                    display_name=username,
                    password=PASSWORD,
                    roles=roles,
                    branch_id=branches[branch],
                ),
            )
            staff[username] = reply.staff.id
        return Org(branches, staff)
    finally:
        await channels.close()


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def caller_for(signer: TokenSigner, user_id: str, roles: list[str], branch_id: str) -> Caller:
    return signer.verify(signer.issue(user_id=user_id, username=user_id, roles=roles, branch_id=branch_id))
