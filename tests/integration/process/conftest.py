"""The process service on real PostgreSQL and NATS, with operators the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from granary.v1 import process_pb2_grpc

from services.common.grpc_client import ServiceChannels, call
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.migrations import upgrade_async
from services.common.runtime import ServiceHost
from services.common.settings import Settings
from services.process.main import build
from services.process.operators import OperatorRegistry
from services.process.worker import WorkerSettings


@dataclass
class ProcessEnv:
    host: ServiceHost
    stub: process_pb2_grpc.ProcessServiceStub
    signer: TokenSigner
    operators: OperatorRegistry
    url: str

    def user(self, user_id: str, roles: list[str], branch_id: str = "B1") -> Caller:
        return self.signer.verify(
            self.signer.issue(user_id=user_id, username=user_id, roles=roles, branch_id=branch_id)
        )

    async def rpc(self, method: str, request: Any, caller: Caller) -> Any:
        return await call(getattr(self.stub, method), request, caller=caller)


def echo_operators() -> OperatorRegistry:
    async def echo(params: dict[str, Any], key: str) -> Any:
        return {"params": params, "key": key}

    from services.process.domain.operators import CATALOGUE

    return OperatorRegistry(dict.fromkeys(CATALOGUE, echo))


@pytest.fixture
async def process_env(
    new_database, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[ProcessEnv]]]:
    hosts: list[ServiceHost] = []
    channels: list[ServiceChannels] = []
    url_holder: dict[str, str] = {}

    async def start(*, same_database: bool = False, operators: OperatorRegistry | None = None) -> ProcessEnv:
        if not same_database or "url" not in url_holder:
            url_holder["url"] = await new_database()
            await upgrade_async("process", url_holder["url"])
        monkeypatch.setenv("GRANARY_PROCESS_DATABASE_URL", url_holder["url"])
        host = ServiceHost("process", Settings(), grpc_port=0)
        registry = operators or echo_operators()
        app = build(host, operators=registry, worker_settings=WorkerSettings(interval_seconds=0.1, backoff_seconds=0.1))
        port = await host.start(app)
        hosts.append(host)
        signer = TokenSigner(host.settings.platform.require_jwt_secret())
        chan = ServiceChannels(default_timeout=10, fallback_caller=ServiceIdentity(signer, "test"))
        channels.append(chan)
        stub = chan.stub(f"127.0.0.1:{port}", process_pb2_grpc.ProcessServiceStub)
        return ProcessEnv(host=host, stub=stub, signer=signer, operators=registry, url=url_holder["url"])

    yield start
    for chan in channels:
        await chan.close()
    for host in reversed(hosts):
        await host.stop()
