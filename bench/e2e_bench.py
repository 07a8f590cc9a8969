"""End to end through the gateway: every process on one machine, driven only over REST.

Starts ``granary up`` as a subprocess on fresh PostgreSQL databases (one per service) and a
NATS namespace of its own, like tests/e2e/test_up.py: five services and the gateway, each its
own OS process, the demo organisation seeded and the process models deployed. Then:

1. **Intake**: N applications (a new customer each, ``POST /parties`` then
   ``POST /applications``) from C concurrent clients; each is timed from its submission until
   its first inbox task exists: the pre-loan survey field task the credit SOP creates in the
   field-task service (``GET /field-tasks?business_key=<application id>``). The path is
   gateway → credit → outbox → NATS → process (starts the SOP) → fieldtask.
2. **Life cycles**: M applications taken through the whole SOP over REST: submit → survey
   (accept, check-in, photo, form, signature, submit; the supervisor completes it) → risk
   assessment and DMN routing → the supervisor claims and approves the approval task → the
   officer signs the contract (completes the signing task with the evidence reference) →
   disbursement → the loan exists (``GET /loans?party_id=``). Timed per loan, C concurrent.

Prints applications/s, life cycles/s, p50/p99 of each, and the machine. Needs PostgreSQL and
NATS (GRANARY_TEST_PG_URL / NATS_URL; defaults: local services). Amounts stay below 50,000 so
each application needs the supervisor tier only.

    .venv/bin/python bench/e2e_bench.py [--applications 40] [--lifecycles 10] [--concurrency 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import nats
from stdnum.cn import ric

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.settings import SERVICE_NAMES  # noqa: E402
from services.demo import DEMO_PASSWORD  # noqa: E402

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
GRANARY = str(Path(sys.executable).parent / "granary")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + os.urandom(2000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500)
SURVEY_FORM: dict[str, Any] = {
    "family": {"members": 4, "labourers": 2, "dependants": 2},
    "operations": {"business": "大棚蔬菜", "years": 6},
    "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
    "assets_verified": {"verified": True, "items": [{"kind": "greenhouse", "value": "120000"}]},
}
WAIT_SECONDS = 120


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def new_database() -> str:
    name = f"granary_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlparse(PG_URL)._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()


async def drop_databases(urls: list[str]) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        for url in urls:
            await conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path[1:]}" WITH (FORCE)')
    finally:
        await conn.close()


_SEQUENCE = itertools.count(random.randint(0, 5000))


def resident_id() -> str:
    """A valid, unique resident ID (born 1960 onwards, one per day)."""
    n = next(_SEQUENCE)
    body = "330726" + (date(1960, 1, 1) + timedelta(days=n)).strftime("%Y%m%d") + f"{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what}: nothing after {WAIT_SECONDS} s")


class Driver:
    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], product_id: str) -> None:
        self.client = client
        self.h = tokens
        self.product_id = product_id

    async def ok(self, method: str, path: str, who: str, *, extra: dict[str, str] | None = None, **kw: Any) -> Any:
        reply = await self.client.request(method, path, headers={**self.h[who], **(extra or {})}, **kw)
        if reply.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path} as {who}: {reply.status_code} {reply.text[:300]}")
        return reply.json() if reply.content else None

    async def submit(self, amount: str = "20000") -> tuple[str, str]:
        party = await self.ok(
            "POST",
            "/api/v1/parties",
            "officer",
            json={"name": f"压测农户{uuid.uuid4().hex[:4]}", "id_number": resident_id(), "region_code": "330726101201"},
        )
        app = await self.ok(
            "POST",
            "/api/v1/applications",
            "officer",
            json={
                "party_id": party["id"],
                "product_id": self.product_id,
                "amount": amount,
                "term_months": 12,
                "guarantee_method": "信用",
                "purpose": "大棚扩建",
                "idempotency_key": uuid.uuid4().hex,
            },
            extra={"Idempotency-Key": uuid.uuid4().hex},
        )
        return party["id"], app["id"]

    async def survey_task(self, application_id: str) -> dict[str, Any]:
        async def found() -> Any:
            page = await self.ok("GET", "/api/v1/field-tasks", "officer", params={"business_key": application_id})
            return page["items"][0] if page["items"] else None

        return await until(found, f"survey task of {application_id}")  # type: ignore[no-any-return]

    async def do_survey(self, task: dict[str, Any]) -> None:
        tid = task["id"]
        await self.ok("POST", f"/api/v1/field-tasks/{tid}/accept", "officer")
        await self.ok(
            "POST",
            f"/api/v1/field-tasks/{tid}/check-in",
            "officer",
            json={"latitude": 29.4455, "longitude": 119.9612, "accuracy_m": 8, "device_id": "bench"},
        )
        await self.ok(
            "POST",
            f"/api/v1/field-tasks/{tid}/evidence",
            "officer",
            params={"kind": "photo", "latitude": 29.4455, "longitude": 119.9612, "device_id": "bench"},
            files={"file": ("house.jpg", JPEG, "application/octet-stream")},
        )
        saved = await self.ok("PUT", f"/api/v1/field-tasks/{tid}/form", "officer", json={"form": SURVEY_FORM})
        await self.ok(
            "POST",
            f"/api/v1/field-tasks/{tid}/signature",
            "officer",
            json={
                "signer_name": "压测农户",
                "signer_party_id": task["party_id"],
                "image_base64": base64.b64encode(PNG).decode(),
                "position": {"latitude": 29.4455, "longitude": 119.9612},
                "content_hash": saved["content_hash"],
            },
        )
        await self.ok("POST", f"/api/v1/field-tasks/{tid}/submit", "officer")
        await self.ok("POST", f"/api/v1/field-tasks/{tid}/complete", "supervisor", json={"comment": "核实无误"})

    async def inbox_task(self, who: str, view: str, application_id: str) -> dict[str, Any]:
        async def found() -> Any:
            page = await self.ok("GET", "/api/v1/tasks", who, params={"view": view, "limit": 200})
            return next((t for t in page["items"] if t["business_key"] == application_id), None)

        return await until(found, f"{who}'s {view} task of {application_id}")  # type: ignore[no-any-return]

    async def loan_of(self, party_id: str) -> dict[str, Any]:
        async def found() -> Any:
            page = await self.ok("GET", "/api/v1/loans", "officer", params={"party_id": party_id})
            return page["items"][0] if page["items"] else None

        return await until(found, f"loan of {party_id}")  # type: ignore[no-any-return]

    async def lifecycle(self) -> None:
        party_id, app_id = await self.submit()
        await self.do_survey(await self.survey_task(app_id))
        approval = await self.inbox_task("supervisor", "claimable", app_id)
        await self.ok("POST", f"/api/v1/tasks/{approval['id']}/claim", "supervisor")
        await self.ok(
            "POST",
            f"/api/v1/tasks/{approval['id']}/complete",
            "supervisor",
            json={"decision": "approve", "comment": "同意"},
        )
        sign = await self.inbox_task("officer", "claimable", app_id)
        await self.ok("POST", f"/api/v1/tasks/{sign['id']}/claim", "officer")
        await self.ok(
            "POST",
            f"/api/v1/tasks/{sign['id']}/complete",
            "officer",
            json={"decision": "submit", "data": {"evidence_ref": f"scan-{app_id}"}},
        )
        await self.loan_of(party_id)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def timed_runs(n: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def run() -> None:
        async with gate:
            began = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(n)))
    return time.perf_counter() - began, latencies


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end"
    )


async def main(args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"B_{tag}", f"b{tag}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRANARY_")}
    gateway_port = free_port()
    var_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"granary-bench-{tag}"
    env.update(
        {
            "GRANARY_VAR_DIR": str(var_dir),
            "GRANARY_GATEWAY_PORT": str(gateway_port),
            "GRANARY_NATS_URL": NATS_URL,
            "GRANARY_NATS_STREAM": stream,
            "GRANARY_NATS_SUBJECT_PREFIX": prefix,
            "GRANARY_SHUTDOWN_GRACE_SECONDS": "3",
            "GRANARY_RELAY_INTERVAL_SECONDS": "0.05",
        }
    )
    urls = []
    for name in SERVICE_NAMES:
        env[f"GRANARY_{name.upper()}_GRPC_PORT"] = str(free_port())
        url = await new_database()
        urls.append(url)
        env[f"GRANARY_{name.upper()}_DATABASE_URL"] = url
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any I/O is in flight
        [GRANARY, "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    lines: list[str] = []

    async def read_output() -> None:
        assert process.stdout is not None
        while True:
            line = await asyncio.to_thread(process.stdout.readline)
            if not line:
                return
            lines.append(line.rstrip())

    reader = asyncio.create_task(read_output())
    base = f"http://127.0.0.1:{gateway_port}"
    try:
        await until(
            lambda: asyncio.sleep(0, any("Granary is up" in x for x in lines) or process.poll() is not None), "up"
        )
        if process.poll() is not None:
            raise RuntimeError("granary up stopped:\n" + "\n".join(lines[-40:]))
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            tokens = {}
            for who in ("officer", "supervisor", "admin"):
                reply = await client.post("/api/v1/auth/token", data={"username": who, "password": DEMO_PASSWORD})
                reply.raise_for_status()
                tokens[who] = {"Authorization": f"Bearer {reply.json()['access_token']}"}
            products = (await client.get("/api/v1/products", headers=tokens["officer"])).json()["items"]
            product = next(
                p
                for p in products
                if float(p["min_amount"]) <= 20000 <= float(p["max_amount"])
                and p["min_term_months"] <= 12 <= p["max_term_months"]
            )
            driver = Driver(client, tokens, product["id"])

            # warm-up: one life cycle (connections, caches, the SOP's first load)
            try:
                await driver.lifecycle()
            except TimeoutError:
                instances = await client.get("/api/v1/process-instances", headers=tokens["admin"])
                incidents = await client.get("/api/v1/process-incidents", headers=tokens["admin"])
                print("warm-up failed; instances:", instances.text[:1500], "incidents:", incidents.text[:1500])
                print("\n".join(lines[-30:]))
                raise

            async def intake() -> None:
                _, app_id = await driver.submit()
                await driver.survey_task(app_id)

            wall_a, lat_a = await timed_runs(args.applications, args.concurrency, intake)
            wall_b, lat_b = await timed_runs(args.lifecycles, args.concurrency, driver.lifecycle)
        print(f"machine: {machine()}; PostgreSQL and NATS on the same host")
        print(f"product {product['code']} ({product['name']}), amount 20000, 12 months, {args.concurrency} clients")
        print(
            f"intake: {args.applications} applications in {wall_a:.1f} s = "
            f"{args.applications / wall_a:.2f} applications/s; "
            f"submit → survey task p50 {pct(lat_a, 0.5):.2f} s, p99 {pct(lat_a, 0.99):.2f} s"
        )
        print(
            f"life cycles: {args.lifecycles} loans in {wall_b:.1f} s = {args.lifecycles / wall_b:.3f} life cycles/s; "
            f"submit → loan p50 {pct(lat_b, 0.5):.2f} s, p99 {pct(lat_b, 0.99):.2f} s "
            f"(mean {statistics.fmean(lat_b):.2f} s)"
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                await asyncio.to_thread(process.wait, 60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        reader.cancel()
        await drop_databases(urls)
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:
            pass
        finally:
            await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=40)
    parser.add_argument("--lifecycles", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
