"""Every process of the system started as a user starts it: `granary serve <name>`, one each.

Unlike `granary up`, each service is its own subprocess here, so a test can kill one
(SIGKILL, no goodbye) and start it again while the others keep running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from services.common.migrations import upgrade_async
from services.common.settings import SERVICE_NAMES, Settings
from services.demo import seed_demo_data
from tests.support import eventually, free_port

GRANARY = str(Path(sys.executable).parent / "granary")


@dataclass
class Stack:
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GRANARY_GATEWAY_PORT']}"

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen([GRANARY, "serve", name], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.processes[name] = process
        return process

    def kill(self, name: str) -> int:
        """SIGKILL: the process gets no chance to finish anything."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def ready(self) -> bool:
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
                reply = await client.get("/readyz")
        except httpx.HTTPError:
            return False
        return reply.status_code == 200


def stack_env(tmp_path: Path, databases: dict[str, str]) -> dict[str, str]:
    """The test's environment (secrets, NATS namespace) plus a port and a database per service."""
    env = dict(os.environ)
    env.update(
        {
            "GRANARY_VAR_DIR": str(tmp_path / "var"),
            "GRANARY_GATEWAY_PORT": str(free_port()),
            "GRANARY_SHUTDOWN_GRACE_SECONDS": "3",
            "GRANARY_RELAY_INTERVAL_SECONDS": "0.1",
        }
    )
    for name in SERVICE_NAMES:
        env[f"GRANARY_{name.upper()}_GRPC_PORT"] = str(free_port())
        env[f"GRANARY_{name.upper()}_DATABASE_URL"] = databases[name]
        env.pop(f"GRANARY_{name.upper()}_ADDRESS", None)
    return env


@asynccontextmanager
async def running_stack(
    tmp_path: Path,
    new_database: Callable[[], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
    """Every service and the gateway as its own `granary serve` process on fresh PostgreSQL databases.

    The demo data is seeded as `granary up` seeds it. On failure the processes' logs are printed;
    the processes are always stopped.
    """
    databases = {name: await new_database() for name in SERVICE_NAMES}
    for name, url in databases.items():
        await upgrade_async(name, url)
    env = stack_env(tmp_path, databases)
    for key, value in env.items():
        if key.startswith("GRANARY_"):
            monkeypatch.setenv(key, value)
    (tmp_path / "logs").mkdir()
    stack = Stack(env, tmp_path / "logs")
    for name in [*SERVICE_NAMES, "gateway"]:
        stack.start(name)
    try:
        await eventually(stack.ready, timeout=120)
        await seed_demo_data(Settings())
        yield stack
    except BaseException:
        print("\n".join(f"--- {n}\n{stack.log(n)}" for n in [*SERVICE_NAMES, "gateway"]))
        raise
    finally:
        stack.stop_all()
