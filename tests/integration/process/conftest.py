"""The process service on real PostgreSQL and NATS, with operators the test controls."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from granary.v1 import process_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc_client import ServiceChannels, call
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.migrations import upgrade_async
from services.common.runtime import ServiceHost
from services.common.settings import Settings
from services.process.main import build
from services.process.operators import OperatorRegistry
from services.process.worker import WorkerSettings
from tests.support import eventually, free_port


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


class ServedProcess:
    """`granary serve process` as a child process on a database of its own; kill -9 and restart."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port
        self.child: subprocess.Popen[str] | None = None
        self.signer = TokenSigner(env["GRANARY_JWT_SECRET"])
        self._channels: ServiceChannels | None = None
        self.stub: process_pb2_grpc.ProcessServiceStub | None = None

    @staticmethod
    def granary() -> str:
        return str(Path(sys.executable).parent / "granary")

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [self.granary(), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    async def start(self) -> None:
        self.child = subprocess.Popen(  # noqa: ASYNC220 - starting a child does not block
            [self.granary(), "serve", "process"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._channels = ServiceChannels(default_timeout=10, fallback_caller=ServiceIdentity(self.signer, "test"))
        self.stub = self._channels.stub(f"127.0.0.1:{self.port}", process_pb2_grpc.ProcessServiceStub)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                assert self.child is not None and self.child.poll() is None, "the served process exited"
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return reply.status == health_pb2.HealthCheckResponse.SERVING

            await eventually(serving, timeout=60)

    async def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, exactly like a crashed machine."""
        assert self.child is not None
        self.child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.child.wait, 30)
        self.child = None
        if self._channels is not None:
            await self._channels.close()
            self._channels = None

    def user(self, user_id: str, roles: list[str], branch_id: str = "B1") -> Caller:
        return self.signer.verify(
            self.signer.issue(user_id=user_id, username=user_id, roles=roles, branch_id=branch_id)
        )

    async def rpc(self, method: str, request: Any, caller: Caller) -> Any:
        assert self.stub is not None, "the service is not running"
        return await call(getattr(self.stub, method), request, caller=caller)

    async def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            await asyncio.to_thread(self.child.wait, 30)
        self.child = None
        if self._channels is not None:
            await self._channels.close()
            self._channels = None


@pytest.fixture
async def served_process(
    new_database, platform_env: dict[str, str]
) -> AsyncIterator[Callable[..., Awaitable[ServedProcess]]]:
    """Factory: a migrated database and a `granary serve process` child on it (not yet started)."""
    served: list[ServedProcess] = []

    async def make(url: str = "") -> ServedProcess:
        database = url or await new_database()
        port = free_port()
        env = {
            **os.environ,
            **platform_env,
            "GRANARY_PROCESS_DATABASE_URL": database,
            "GRANARY_PROCESS_GRPC_PORT": str(port),
            "GRANARY_PROCESS_ADDRESS": f"127.0.0.1:{port}",
        }
        process = ServedProcess(env, port)
        if not url:
            migrated = await process.cli("migrate", "--service", "process")
            assert migrated.returncode == 0, migrated.stderr
        served.append(process)
        return process

    yield make
    for process in served:
        await process.stop()
