"""`granary up` as a user runs it: the whole system as processes, then Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from services.common.settings import SERVICE_NAMES
from services.demo import DEMO_PASSWORD
from tests.support import BusNamespace, free_port

pytestmark = pytest.mark.e2e

GRANARY = str(Path(sys.executable).parent / "granary")
PARTY = {"kind": "person", "name": "赵大山", "id_number": "440524188001010014", "mobile": "13905710009"}


class Running:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, marker: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(marker in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"`granary up` never printed {marker!r}; output:\n" + "\n".join(self.lines[-40:]))

    def children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
                if int(ppid) == self.process.pid:
                    found.append(int(entry.name))
        return found


@contextmanager
def granary_up(env: dict[str, str]) -> Iterator[Running]:
    process = subprocess.Popen(
        [GRANARY, "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    running = Running(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANARY_")}
    env.update(
        {
            "GRANARY_VAR_DIR": str(tmp_path / "var"),
            "GRANARY_GATEWAY_PORT": str(free_port()),
            "GRANARY_SHUTDOWN_GRACE_SECONDS": "3",
            "GRANARY_RELAY_INTERVAL_SECONDS": "0.1",
            # A shared CI machine can be slow right after start-up (demo seeding, event backlog).
            "GRANARY_GRPC_DEADLINE_SECONDS": "20",
        }
    )
    for name in SERVICE_NAMES:
        env[f"GRANARY_{name.upper()}_GRPC_PORT"] = str(free_port())
    return env


def _exercise(base_url: str) -> None:
    """What a user does first: readiness, log in, register a customer, see the notice."""
    ready = httpx.get(f"{base_url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {*SERVICE_NAMES, "nats"}
    token = httpx.post(
        f"{base_url}/api/v1/auth/token", data={"username": "officer", "password": DEMO_PASSWORD}, timeout=10
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    created = httpx.post(f"{base_url}/api/v1/parties", json=PARTY, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 20
    titles: list[str] = []
    while time.monotonic() < deadline:
        inbox = httpx.get(f"{base_url}/api/v1/notifications", headers=headers, timeout=5).json()
        titles = [n["body"] for n in inbox["items"] if PARTY["name"] in n["body"]]
        if titles:
            break
        time.sleep(0.2)
    assert len(titles) == 1, "the consumer recorded the new customer exactly once"


def _stop_and_check_no_orphans(running: Running) -> None:
    children = running.children()
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=60) == 0, "\n".join(running.lines[-30:])
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in children if _alive(pid)] == [], "child processes outlived `granary up`"


async def test_up_on_postgresql_and_external_nats(
    tmp_path: Path, new_database, bus_namespace: BusNamespace  # type: ignore[no-untyped-def]
) -> None:
    env = _base_env(tmp_path)
    env.update(
        {
            "GRANARY_NATS_URL": bus_namespace.url,
            "GRANARY_NATS_STREAM": bus_namespace.stream,
            "GRANARY_NATS_SUBJECT_PREFIX": bus_namespace.subject_prefix,
        }
    )
    for name in SERVICE_NAMES:
        env[f"GRANARY_{name.upper()}_DATABASE_URL"] = await new_database()
    base_url = f"http://127.0.0.1:{env['GRANARY_GATEWAY_PORT']}"

    def scenario() -> None:
        with granary_up(env) as running:
            running.wait_for("Granary is up", timeout=120)
            assert any("demo logins" in line for line in running.lines)
            assert len(running.children()) == len(SERVICE_NAMES) + 1, "five services and the gateway"
            _exercise(base_url)
            _stop_and_check_no_orphans(running)

    await asyncio.to_thread(scenario)


async def test_up_on_a_bare_machine_with_sqlite_and_embedded_nats(tmp_path: Path, nats_url: str) -> None:
    # nats_url only proves the machine can run the NATS tests; `granary up` starts its own server.
    env = _base_env(tmp_path)
    env["GRANARY_UP_NATS_PORT"] = str(free_port())
    base_url = f"http://127.0.0.1:{env['GRANARY_GATEWAY_PORT']}"

    def scenario() -> None:
        with granary_up(env) as running:
            running.wait_for("Granary is up", timeout=120)
            assert len(running.children()) == len(SERVICE_NAMES) + 2, "NATS, five services and the gateway"
            _exercise(base_url)
            _stop_and_check_no_orphans(running)
        var = tmp_path / "var"
        assert {f"{name}.db" for name in SERVICE_NAMES} <= {p.name for p in var.iterdir()}
        assert (var / "secrets.env").stat().st_mode & 0o077 == 0, "local secrets are private to the user"

        # a second start reuses the data: demo seeding is idempotent, the customer is still there
        with granary_up(env) as running:
            running.wait_for("Granary is up", timeout=120)
            _stop_and_check_no_orphans(running)

    await asyncio.to_thread(scenario)
